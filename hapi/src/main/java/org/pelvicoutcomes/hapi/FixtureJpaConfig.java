package org.pelvicoutcomes.hapi;

import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import jakarta.persistence.EntityManagerFactory;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.core.env.Environment;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * Storage side of the server: HAPI storage settings, the Hibernate entity manager factory on the
 * H2 DataSource that Spring Boot builds from {@code spring.datasource.*}, the transaction manager and
 * binary storage (Bulk export writes its NDJSON files as Binary resources).
 */
@Configuration
public class FixtureJpaConfig {

	private static final Logger LOG = LoggerFactory.getLogger(FixtureJpaConfig.class);

	@Bean
	public JpaStorageSettings jpaStorageSettings(FixtureProperties props) {
		JpaStorageSettings settings = new JpaStorageSettings();
		// HAPI treats null as "never reuse cached search results".
		long reuse = props.getReuseCachedSearchResultsMillis();
		settings.setReuseCachedSearchResultsForMillis(reuse > 0 ? reuse : null);
		settings.setResourceClientIdStrategy(props.getClientIdStrategy());
		settings.setDeleteEnabled(props.isDeleteEnabled());
		settings.setAllowMultipleDelete(props.isAllowMultipleDelete());
		settings.setExpungeEnabled(props.isExpungeEnabled());
		settings.setEnableBulkExportJobReuse(props.isBulkExportJobReuse());
		settings.setBulkExportFileRetentionPeriodHours(props.getBulkExportRetentionHours());
		settings.setBulkExportFileMaximumCapacity(props.getBulkExportFileMaximumCapacity());
		return settings;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings(); // partitioning off
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource,
			FixtureProperties props) {
		LocalContainerEntityManagerFactoryBean factory =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		factory.setPersistenceUnitName("HAPI_PU");
		factory.setDataSource(dataSource);

		Map<String, Object> jpa = new HashMap<>();
		// HAPI's HibernatePropertiesProvider reads the dialect back from this map.
		jpa.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		jpa.put("hibernate.hbm2ddl.auto", "update");
		jpa.put("hibernate.archive.scanner", "org.hibernate.boot.archive.scan.internal.DisabledScanner");
		jpa.put("hibernate.jdbc.batch_size", "20");
		jpa.put("hibernate.format_sql", "false");
		jpa.put("hibernate.show_sql", "false");
		jpa.put("hibernate.cache.use_second_level_cache", "false");
		jpa.put("hibernate.cache.use_query_cache", "false");
		jpa.put("hibernate.cache.use_structured_entries", "false");
		jpa.put("hibernate.cache.use_minimal_puts", "false");
		// No Lucene/Elasticsearch index: _text/_content searches are not supported.
		jpa.put("hibernate.search.enabled", "false");
		if (props.isH2IdLookupRewrite()) {
			jpa.put("hibernate.session_factory.statement_inspector", new H2IdLookupRewriter());
		}
		factory.setJpaPropertyMap(jpa);
		return factory;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}

	@Bean
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	/**
	 * HAPI runs its Batch2 maintenance pass (which moves Bulk export jobs from step to step and
	 * marks them complete) once a minute; a test fixture wants that sooner. Applied before HAPI
	 * schedules the pass.
	 */
	@Bean
	public static BeanPostProcessor batch2MaintenanceFrequency(Environment env) {
		long millis = env.getProperty("fixture.batch2-maintenance-millis", Long.class, 200L);
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) {
				if (bean instanceof JobMaintenanceServiceImpl maintenance && millis > 0) {
					maintenance.setScheduledJobFrequencyMillis(millis);
					LOG.info("Batch2 maintenance pass every {} ms", millis);
				}
				return bean;
			}
		};
	}
}
