package org.pelvicoutcomes.hapi;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import org.springframework.boot.context.properties.ConfigurationProperties;

/** Settings of the test server, bound from the {@code fixture.*} keys of application.yaml. */
@ConfigurationProperties(prefix = "fixture")
public class FixtureProperties {

	/** Page size used when a search has no {@code _count}. */
	private int defaultPageSize = 20;

	/** Largest {@code _count} honoured; bigger values are clamped to this. */
	private int maxPageSize = 1000;

	/** How long an identical search may reuse cached results; 0 turns reuse off. */
	private long reuseCachedSearchResultsMillis = 0;

	/**
	 * Period of HAPI's Batch2 maintenance pass. Each step of a Bulk export job waits for one pass, so
	 * an export takes about 4 passes: a 4,700-resource Group export took 5.6 s with 1000 ms and 3.4 s
	 * with 200 ms (median of 3). HAPI's default: 60000.
	 */
	private long batch2MaintenanceMillis = 200;

	/** Retry-After sent with a pending $export-poll-status (HAPI sends 120); 0 keeps HAPI's value. */
	private int bulkExportRetryAfterSeconds = 1;

	/** How long Bulk export output Binaries are kept before the cleanup job deletes them. */
	private int bulkExportRetentionHours = 2;

	/** Whether a second identical $export returns the previous job instead of starting a new one. */
	private boolean bulkExportJobReuse = false;

	/** Client-assigned id policy for PUT: ALPHANUMERIC (ids must contain a letter) or ANY. */
	private JpaStorageSettings.ClientIdStrategyEnum clientIdStrategy =
			JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC;

	private boolean deleteEnabled = true;

	/** Conditional DELETE (DELETE Type?params) may remove more than one resource. */
	private boolean allowMultipleDelete = true;

	private boolean expungeEnabled = false;

	/** Log one line per request (HAPI LoggingInterceptor). */
	private boolean requestLogging = true;

	/**
	 * Rewrite HAPI's id-lookup disjunctions into row-value IN lists that H2 answers from an index
	 * (see {@link H2IdLookupRewriter}); false runs HAPI's SQL unchanged.
	 */
	private boolean h2IdLookupRewrite = true;

	/** Resources per Bulk export work chunk and output file (HAPI's default: 1000). */
	private int bulkExportFileMaximumCapacity = 1000;

	public int getDefaultPageSize() {
		return defaultPageSize;
	}

	public void setDefaultPageSize(int defaultPageSize) {
		this.defaultPageSize = defaultPageSize;
	}

	public int getMaxPageSize() {
		return maxPageSize;
	}

	public void setMaxPageSize(int maxPageSize) {
		this.maxPageSize = maxPageSize;
	}

	public long getReuseCachedSearchResultsMillis() {
		return reuseCachedSearchResultsMillis;
	}

	public void setReuseCachedSearchResultsMillis(long reuseCachedSearchResultsMillis) {
		this.reuseCachedSearchResultsMillis = reuseCachedSearchResultsMillis;
	}

	public long getBatch2MaintenanceMillis() {
		return batch2MaintenanceMillis;
	}

	public void setBatch2MaintenanceMillis(long batch2MaintenanceMillis) {
		this.batch2MaintenanceMillis = batch2MaintenanceMillis;
	}

	public int getBulkExportRetryAfterSeconds() {
		return bulkExportRetryAfterSeconds;
	}

	public void setBulkExportRetryAfterSeconds(int bulkExportRetryAfterSeconds) {
		this.bulkExportRetryAfterSeconds = bulkExportRetryAfterSeconds;
	}

	public int getBulkExportRetentionHours() {
		return bulkExportRetentionHours;
	}

	public void setBulkExportRetentionHours(int bulkExportRetentionHours) {
		this.bulkExportRetentionHours = bulkExportRetentionHours;
	}

	public boolean isBulkExportJobReuse() {
		return bulkExportJobReuse;
	}

	public void setBulkExportJobReuse(boolean bulkExportJobReuse) {
		this.bulkExportJobReuse = bulkExportJobReuse;
	}

	public JpaStorageSettings.ClientIdStrategyEnum getClientIdStrategy() {
		return clientIdStrategy;
	}

	public void setClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum clientIdStrategy) {
		this.clientIdStrategy = clientIdStrategy;
	}

	public boolean isDeleteEnabled() {
		return deleteEnabled;
	}

	public void setDeleteEnabled(boolean deleteEnabled) {
		this.deleteEnabled = deleteEnabled;
	}

	public boolean isAllowMultipleDelete() {
		return allowMultipleDelete;
	}

	public void setAllowMultipleDelete(boolean allowMultipleDelete) {
		this.allowMultipleDelete = allowMultipleDelete;
	}

	public boolean isExpungeEnabled() {
		return expungeEnabled;
	}

	public void setExpungeEnabled(boolean expungeEnabled) {
		this.expungeEnabled = expungeEnabled;
	}

	public boolean isH2IdLookupRewrite() {
		return h2IdLookupRewrite;
	}

	public void setH2IdLookupRewrite(boolean h2IdLookupRewrite) {
		this.h2IdLookupRewrite = h2IdLookupRewrite;
	}

	public int getBulkExportFileMaximumCapacity() {
		return bulkExportFileMaximumCapacity;
	}

	public void setBulkExportFileMaximumCapacity(int bulkExportFileMaximumCapacity) {
		this.bulkExportFileMaximumCapacity = bulkExportFileMaximumCapacity;
	}

	public boolean isRequestLogging() {
		return requestLogging;
	}

	public void setRequestLogging(boolean requestLogging) {
		this.requestLogging = requestLogging;
	}
}
