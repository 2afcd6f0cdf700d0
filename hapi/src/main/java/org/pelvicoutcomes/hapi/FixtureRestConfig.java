package org.pelvicoutcomes.hapi;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The FHIR REST layer: HAPI's RestfulServer servlet mounted at {@code /fhir/*}. */
@Configuration
public class FixtureRestConfig {

	@Bean
	public RestfulServer fhirRestfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviders,
			IJpaSystemProvider systemProvider,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			FixtureProperties props) {
		// Use the FhirContext the DAOs were built with; never create a second one.
		FhirContext ctx = systemDao.getContext();
		ctx.setNarrativeGenerator(new NullNarrativeGenerator());

		RestfulServer server = new RestfulServer(ctx);
		server.registerProviders(resourceProviders.createProviders()); // one provider per resource type
		server.registerProvider(systemProvider); // transaction/batch bundles, system _history
		server.registerProvider(bulkDataExportProvider); // $export, $export-poll-status

		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("pelvic-outcomes HAPI FHIR R4 test server");
		server.setServerConformanceProvider(capabilities);

		pagingProvider.setDefaultPageSize(props.getDefaultPageSize());
		pagingProvider.setMaximumPageSize(props.getMaxPageSize());
		server.setPagingProvider(pagingProvider);

		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setDefaultPrettyPrint(false);
		// Links (next, Location, Content-Location) use the host:port the client called.
		server.setServerAddressStrategy(new IncomingRequestAddressStrategy());

		if (props.isRequestLogging()) {
			LoggingInterceptor logging = new LoggingInterceptor();
			logging.setLoggerName("fhir.request");
			logging.setMessageFormat(
					"${requestVerb} ${requestUrl}${requestParameters} -> ${operationType} ${processingTimeMillis}ms");
			logging.setErrorMessageFormat("ERROR ${requestVerb} ${requestUrl}${requestParameters} - ${exceptionMessage}");
			logging.setLogExceptions(true);
			server.registerInterceptor(logging);
		}
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer fhirRestfulServer) {
		ServletRegistrationBean<RestfulServer> registration =
				new ServletRegistrationBean<>(fhirRestfulServer, "/fhir/*");
		registration.setName("fhir");
		registration.setLoadOnStartup(1); // initialise HAPI before the port reports ready
		return registration;
	}

	@Bean
	public FilterRegistrationBean<BulkPollRetryAfterFilter> bulkPollRetryAfterFilter(FixtureProperties props) {
		FilterRegistrationBean<BulkPollRetryAfterFilter> registration =
				new FilterRegistrationBean<>(new BulkPollRetryAfterFilter(props.getBulkExportRetryAfterSeconds()));
		registration.addUrlPatterns("/fhir/*");
		registration.setEnabled(props.getBulkExportRetryAfterSeconds() > 0);
		return registration;
	}
}
