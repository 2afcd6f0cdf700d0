package org.pelvicoutcomes.hapi;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hibernate.resource.jdbc.spi.StatementInspector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes HAPI's id lookups use an index on H2.
 *
 * <p>HAPI resolves client-assigned ids (FHIR ids) to its internal keys with one query per batch of up
 * to 800 ids: {@code ... where (r.RES_TYPE=? and r.FHIR_ID=? or r.RES_TYPE=? and r.FHIR_ID=? or ...)}.
 * With bind parameters H2 cannot turn that disjunction into index lookups, so every such query scans
 * the whole resource table and compares each row with every term: 5 s for 800 ids over 60,000 rows on
 * this machine. Bulk export resolves every exported resource this way (its expand step searches by
 * {@code _id}), which made an export crawl at about 120 resources/s; searches by {@code patient=} or
 * {@code _id=} lists pay it too. PostgreSQL and the other production databases plan such disjunctions as
 * index lookups, so this is an H2 artefact, not HAPI's real cost.
 *
 * <p>This inspector rewrites each run of two or more such terms into the equivalent row-value list
 * {@code (r.RES_TYPE, r.FHIR_ID) in ((?,?),(?,?),...)}, which H2 answers from its (RES_TYPE, FHIR_ID)
 * index (0.26 s for the same 800 ids). The bind parameters keep their order (type, id, type, id, ...),
 * and the result is the same rows: a row matches one term iff its pair is in the list.
 */
public class H2IdLookupRewriter implements StatementInspector {

	private static final Logger LOG = LoggerFactory.getLogger(H2IdLookupRewriter.class);

	/** One term as Hibernate writes it: {@code alias.RES_TYPE=? and alias.FHIR_ID=?} (no parentheses). */
	private static final Pattern TERM = Pattern.compile(
			"(\\w+)\\.RES_TYPE\\s*=\\s*\\?\\s+and\\s+\\1\\.FHIR_ID\\s*=\\s*\\?", Pattern.CASE_INSENSITIVE);

	private static final Pattern OR = Pattern.compile("\\s+or\\s+", Pattern.CASE_INSENSITIVE);

	private final AtomicBoolean announced = new AtomicBoolean();

	@Override
	public String inspect(String sql) {
		if (sql == null || sql.indexOf("FHIR_ID") < 0) {
			return sql;
		}
		StringBuilder out = null;
		int copied = 0;
		int rewritten = 0;
		Matcher term = TERM.matcher(sql);
		int from = 0;
		while (term.find(from)) {
			Group group = group(sql, term);
			if (group == null) {
				from = term.end();
				continue;
			}
			if (out == null) {
				out = new StringBuilder(sql.length());
			}
			out.append(sql, copied, group.open).append(group.replacement());
			copied = group.close + 1;
			rewritten += group.terms;
			from = copied;
			if (from >= sql.length()) {
				break;
			}
		}
		if (out == null) {
			return sql;
		}
		out.append(sql, copied, sql.length());
		if (announced.compareAndSet(false, true)) {
			LOG.info("Rewriting HAPI's (RES_TYPE, FHIR_ID) disjunctions into indexed row-value IN lists "
					+ "(first one: {} ids)", rewritten);
		}
		return out.toString();
	}

	/**
	 * The parenthesised group that starts with {@code first} and holds nothing but two or more terms on
	 * the same alias joined by {@code or}; null otherwise. Only whole groups are rewritten: inside a
	 * longer expression, {@code and} binding tighter than {@code or} could make a partial replacement
	 * change the meaning.
	 */
	private static Group group(String sql, Matcher first) {
		int open = first.start() - 1;
		while (open >= 0 && Character.isWhitespace(sql.charAt(open))) {
			open--;
		}
		if (open < 0 || sql.charAt(open) != '(') {
			return null;
		}
		String alias = first.group(1);
		Matcher term = TERM.matcher(sql);
		Matcher or = OR.matcher(sql);
		int end = first.end();
		int terms = 1;
		while (or.region(end, sql.length()).lookingAt()
				&& term.region(or.end(), sql.length()).lookingAt()
				&& term.group(1).equals(alias)) {
			end = term.end();
			terms++;
		}
		int close = end;
		while (close < sql.length() && Character.isWhitespace(sql.charAt(close))) {
			close++;
		}
		if (terms < 2 || close >= sql.length() || sql.charAt(close) != ')') {
			return null;
		}
		return new Group(open, close, alias, terms);
	}

	private record Group(int open, int close, String alias, int terms) {
		String replacement() {
			StringBuilder list = new StringBuilder("((" + alias + ".RES_TYPE," + alias + ".FHIR_ID) in (");
			for (int i = 0; i < terms; i++) {
				list.append(i == 0 ? "(?,?)" : ",(?,?)");
			}
			return list.append("))").toString();
		}
	}
}
