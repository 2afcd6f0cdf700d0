"""Plain-language statement of every method, for the report's Methods section (``results.json`` ``methods``)."""

from __future__ import annotations

from analysis.plan import AnalysisPlan, Subgroups


def methods(plan: AnalysisPlan) -> dict[str, str]:
    level = f"{100 * plan.confidence_level:g}%"
    splits = list(dict.fromkeys(_groups(spec.by) for spec in plan.paired if spec.by is not None))
    groups = _and(splits) if splits else "two groups"
    return {
        "quantiles": f"medians and quartiles by Hyndman–Fan type {plan.quantile_type} "
                     f"(R quantile(type = {plan.quantile_type}); numpy method '{plan.quantile_method}')",
        "sd": "standard deviations with n − 1 in the denominator",
        "friedman": "Friedman rank-sum test on complete cases, with tie correction (R friedman.test)",
        "pairwise": "Wilcoxon signed-rank test of later − earlier for every pair of timepoints on complete cases; "
                    "exact when n < 50 with no ties and no zero differences, otherwise the normal approximation "
                    "with tie and continuity correction (R wilcox.test's rule); Bonferroni adjustment (R p.adjust)",
        "paired_t": f"paired t-test of after − before, {level} CI of the mean difference (R t.test(paired = TRUE)); "
                    "Wilcoxon signed-rank test as sensitivity analysis",
        "between_groups": f"change after − before compared between {groups} by Welch's t-test "
                          "(R t.test) and the Wilcoxon rank-sum test (R wilcox.test)",
        "p_floor": "p_floor: the smallest p-value a rank test can give with these sample sizes (2/2^n for the exact "
                   "signed-rank test); flagged when at or above "
                   f"{plan.p_floor_threshold:g}",
        "proportions": f"exact Clopper–Pearson {level} CI (R binom.test)",
        "kaplan_meier": f"Kaplan–Meier (lifelines), {level} CI by the log-log transform with Greenwood variance "
                        "(R survfit(conf.type = 'log-log')); median by R's rule: first time with S(t) ≤ 0.5, or the "
                        "midpoint of a stretch where S(t) is exactly 0.5",
        "followup": "reverse Kaplan–Meier median follow-up: overall-survival times with death as censoring",
        "logrank": "log-rank test (lifelines; R survdiff)",
        "cox": f"Cox proportional hazards (lifelines CoxPHFitter), Efron ties, Wald {level} CI and p; "
               f"reported not estimable on separation (a level without events, |log HR| > {plan.cox_max_abs_coef:g} "
               f"or SE > {plan.cox_max_se:g}) or non-convergence"
               + (f"; every model stratified by {' and '.join(plan.cox_strata)} (a baseline hazard per stratum, "
                  f"R coxph(... + strata({', '.join(plan.cox_strata)})))" if plan.cox_strata else ""),
        "ph_test": "Schoenfeld-residual test per term (lifelines proportional_hazard_test; Grambsch–Therneau "
                   "approximate variance as R survival < 3.0 cox.zph), time transform 1 − KM(t−) (R 'km')",
        "effect_sizes": "Hodges–Lehmann estimate with its CI for every paired and pairwise comparison (R "
                        "wilcox.test(conf.int = TRUE) with its defaults: exact when n < 50 without ties or zero "
                        "differences, else the normal approximation; where the sample cannot reach the "
                        f"{level} level, the level R achieves is reported), and the mean difference with its t "
                        "interval (R t.test)",
        "landmarks": f"Kaplan–Meier estimates with {level} log-log CI at "
                     f"{', '.join(f'{m:g}' for m in plan.landmark_months)} months (R summary(survfit, times =); "
                     "no estimate past the last follow-up), the CI of the median from the confidence curves (R "
                     f"quantile(survfit)), numbers at risk every {plan.risk_table_every_months:g} months",
        "completeness": "completeness of follow-up by Clark's C: observed follow-up ÷ the follow-up possible to "
                        "the data cut-off (or to death)",
        "responders": f"share of patients whose change from {plan.baseline} reaches the instrument's minimal "
                      f"clinically important difference, with exact Clopper–Pearson {level} CI (R binom.test)",
        "implant": "complications grouped by Henderson failure type (1 soft tissue, 2 aseptic loosening, "
                   "3 structural, 4 infection, 5 tumour progression)"
                   + (f"; implant survival: Kaplan–Meier of the time to the first {plan.implant_endpoint}, death "
                      "and last contact censoring" if plan.implant_endpoint else ""),
        "claims": "each claim of the source paper is reproduced, contradicted, unattainable (the design cannot "
                  "reach the claimed p or estimate the model), inconclusive (no effect claimed from a "
                  "non-significant test: the effect and its CI are shown) or an arithmetic error (its own "
                  "figures disagree)",
        "honesty": f"warnings when a test has n < {plan.min_n_for_test}, a Cox model has fewer than "
                   f"{plan.min_events_per_covariate} events per term, or a figure cannot be computed",
    }


def _groups(by: Subgroups) -> str:
    if by.flag:
        return f"patients with and without {by.label}"
    first, second = by.names
    return f"{by.label} groups ({first} vs {second})"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
