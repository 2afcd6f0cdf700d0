package org.pelvicoutcomes.hapi;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.IOException;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * HAPI answers a pending {@code $export-poll-status} with {@code Retry-After: 120}. A client that
 * honours it would wait two minutes for an export that finishes in seconds here, so this filter
 * replaces the value on poll responses with a configurable one.
 */
public class BulkPollRetryAfterFilter extends OncePerRequestFilter {

	private static final String RETRY_AFTER = "Retry-After";

	private final String retryAfterSeconds;

	public BulkPollRetryAfterFilter(int retryAfterSeconds) {
		this.retryAfterSeconds = Integer.toString(retryAfterSeconds);
	}

	@Override
	protected boolean shouldNotFilter(HttpServletRequest request) {
		String uri = request.getRequestURI();
		return !(uri.endsWith("$export-poll-status") || uri.endsWith("%24export-poll-status"));
	}

	@Override
	protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
			throws ServletException, IOException {
		chain.doFilter(request, new HttpServletResponseWrapper(response) {
			@Override
			public void setHeader(String name, String value) {
				super.setHeader(name, RETRY_AFTER.equalsIgnoreCase(name) ? retryAfterSeconds : value);
			}

			@Override
			public void addHeader(String name, String value) {
				super.addHeader(name, RETRY_AFTER.equalsIgnoreCase(name) ? retryAfterSeconds : value);
			}

			@Override
			public void setIntHeader(String name, int value) {
				if (RETRY_AFTER.equalsIgnoreCase(name)) {
					super.setHeader(name, retryAfterSeconds);
				} else {
					super.setIntHeader(name, value);
				}
			}

			@Override
			public void addIntHeader(String name, int value) {
				if (RETRY_AFTER.equalsIgnoreCase(name)) {
					super.addHeader(name, retryAfterSeconds);
				} else {
					super.addIntHeader(name, value);
				}
			}
		});
	}
}
