"""Cox proportional hazards via lifelines ``CoxPHFitter`` (Efron ties, Wald CIs), with honesty checks.

A model is reported "not estimable", with the reason and without figures, when
- a covariate has a single level, or its reference level is absent;
- a covariate level has no events (monotone likelihood: the maximum-likelihood HR is 0 or infinite);
- lifelines raises ``ConvergenceError`` or warns ``ConvergenceWarning`` (non-convergence, separation);
- a coefficient or its standard error is non-finite or beyond the plan's limits (a sign of separation).
Fewer events per term than the plan's minimum is a warning, not a refusal.

With the plan's ``cox_strata`` (e.g. the site) every model is stratified: a baseline hazard per stratum (R
``coxph(... + strata(site))``), which is no term and uses no degree of freedom. A stratum informs the
estimates only through an event with another of its patients still at risk; one that cannot (a single patient,
no events) is fitted as R fits it, without a word from R, and the model's ``reason`` says which strata add
nothing (their events do not count towards events per term). Such a model is not estimable when no stratum
informs it, or when a term does not vary within any stratum among the patients at risk (R: coefficient NA).

The proportional-hazards check is lifelines' ``proportional_hazard_test`` (the Grambsch–Therneau test with
the approximate variance of R survival < 3.0) with R's "km" time transform, 1 − KM(t−); R ≥ 3.0's
``cox.zph`` computes an exact score test and gives somewhat different values (docs/results.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

from analysis.inference import finite
from analysis.plan import AnalysisPlan, Covariate
from analysis.results import Cox, CoxModel, CoxTerm, UnivariableTerm
from analysis.warnings import FewEventsWarning, NotEstimableWarning, WarningLog, library_warnings

FIT_OPTIONS = {"precision": 1e-14, "r_precision": 1e-15}
"""Newton–Raphson stopping rules tighter than lifelines' defaults (1e-7, 1e-9), so estimates agree with
R's ``coxph`` to about 1e-9 instead of about 1e-4 (the Newton decrement criterion stops early)."""


class NotEstimable(Exception):
    """Internal: a model cannot be estimated; the message is the reason shown to readers."""


def cox_analysis(data: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, scope: str) -> Cox:
    """``data`` has ``time``, ``event``, the covariate and the strata columns. Univariable models, then all
    covariates; each stratified by the plan's ``cox_strata``."""
    univariable = []
    for covariate in plan.survival_covariates:
        model = fit_cox(data, (covariate,), plan, log, f"{scope}.univariable.{covariate.name}")
        univariable += [UnivariableTerm(**vars(t), estimable=model.estimable, reason=model.reason, n=model.n,
                                        events=model.events, strata=model.strata) for t in model.terms]
    return Cox(univariable, fit_cox(data, plan.survival_covariates, plan, log, f"{scope}.multivariable"))


def term_names(data: pd.DataFrame, covariate: Covariate) -> list[str]:
    """Cox terms of a covariate for the levels present: ``name=level`` per non-reference level, or ``name``."""
    if covariate.reference is None:
        return [covariate.name]
    present = set(data[covariate.name].dropna().astype(str))
    extra = sorted(present - {covariate.reference, *covariate.levels})
    return [f"{covariate.name}={lvl}" for lvl in (*covariate.levels, *extra) if lvl in present]


def design(data: pd.DataFrame, covariates: tuple[Covariate, ...], strata: tuple[str, ...] = ()) -> pd.DataFrame:
    """``time``, ``event``, one 0/1 column per term and the strata columns (as text); raises
    :class:`NotEstimable` for unusable covariates."""
    columns: dict[str, pd.Series] = {"time": data["time"], "event": data["event"]}
    columns.update({name: data[name].astype(str) for name in strata})
    for c in covariates:
        values = data[c.name]
        if c.reference is None:
            numeric = pd.to_numeric(values, errors="coerce")
            if not numeric.isin([0, 1]).all():
                raise NotEstimable(f"{c.name} must be 0/1")
            columns[c.name] = numeric.astype(float)
        else:
            if c.reference not in set(values.astype(str)):
                raise NotEstimable(f"reference level {c.name} = {c.reference} is absent")
            for term in term_names(data, c):
                columns[term] = (values.astype(str) == term.split("=", 1)[1]).astype(float)
        _check_levels(data, c)
    return pd.DataFrame(columns)


def _check_levels(data: pd.DataFrame, c: Covariate) -> None:
    events = data.groupby(data[c.name].astype(str))["event"].sum()
    if len(events) < 2:
        raise NotEstimable(f"{c.name} has a single level ({events.index[0]})")
    empty = [str(level) for level, count in events.items() if count == 0]
    if empty:
        raise NotEstimable(f"separation: no events among patients with {c.name} = {', '.join(empty)} "
                           "(the hazard ratio would be 0 or infinite)")


def fit_cox(data: pd.DataFrame, covariates: tuple[Covariate, ...], plan: AnalysisPlan, log: WarningLog,
            scope: str) -> CoxModel:
    strata = plan.cox_strata
    rows = data.dropna(subset=[c.name for c in covariates] + list(strata))
    n, events = len(rows), int(rows["event"].sum())
    terms = [(t, c.name) for c in covariates for t in term_names(rows, c)] or [(c.name, c.name) for c in covariates]
    if not terms:
        return CoxModel(False, "no covariates", n, events, None, [], list(strata))
    silent = silent_strata(rows, strata)
    informative = events - sum(lost for _, lost in silent.values())
    epv = informative / len(terms)
    if epv < plan.min_events_per_covariate:
        counted = f"{informative} event(s) in the informative strata" if silent else f"{events} event(s)"
        log.add(FewEventsWarning, scope, f"{counted} for {len(terms)} term(s): {epv:.1f} per term "
                                         f"(fewer than {plan.min_events_per_covariate})")
    try:
        if events == 0:
            raise NotEstimable("no events")
        if strata and informative == 0:
            raise NotEstimable(f"no {_by(strata)} has an event with another of its patients still at risk: the "
                               "stratified model has no information")
        frame = design(rows, covariates, strata)
        _check_within_strata(frame, [t for t, _ in terms], strata)
        cph = _fit(frame, plan, log, scope, strata)
        fitted = _terms(cph, frame, dict(terms), log, scope)
    except NotEstimable as exc:
        log.add(NotEstimableWarning, scope, f"Cox model not estimable: {exc}")
        return CoxModel(False, str(exc), n, events, epv, [CoxTerm(t, c) for t, c in terms], list(strata))
    note = None
    if silent:
        note = (f"{_and([f'{label} ({why})' for label, (why, _) in silent.items()])} "
                f"add{'s' if len(silent) == 1 else ''} nothing to the estimates: a stratum counts only through "
                "an event with another of its patients still at risk")
        log.add(FewEventsWarning, scope, note)
    return CoxModel(True, note, n, events, epv, fitted, list(strata))


def silent_strata(rows: pd.DataFrame, strata: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """The strata that add nothing to a stratified model, ``{"site = east": (why, events)}``: a single
    patient, no events, or no event with another patient of the stratum still at risk (in the order of the
    strata's values). Empty without strata."""
    out: dict[str, tuple[str, int]] = {}
    for key, group in _groups(rows, strata):
        at_risk = _at_first_event(group)
        why = ("1 patient" if len(group) == 1 else "no events" if at_risk.empty
               else "no event with another patient still at risk" if len(at_risk) < 2 else None)
        if why:
            out[", ".join(f"{name} = {value}" for name, value in zip(strata, key, strict=True))] = (
                why, int(group["event"].sum()))
    return out


def _groups(rows: pd.DataFrame, strata: tuple[str, ...]) -> list[tuple[tuple[str, ...], pd.DataFrame]]:
    if not strata:
        return []
    grouped = rows.groupby([rows[name].astype(str) for name in strata], sort=True)
    return [(tuple(map(str, key)) if isinstance(key, tuple) else (str(key),), group) for key, group in grouped]


def _at_first_event(group: pd.DataFrame) -> pd.DataFrame:
    """The patients at risk at the first event of ``group`` (the largest risk set; empty without events)."""
    died = group.loc[group["event"] == 1, "time"]
    return group[group["time"] >= died.min()] if len(died) else group.iloc[:0]


def _check_within_strata(frame: pd.DataFrame, terms: list[str], strata: tuple[str, ...]) -> None:
    """A term that is constant among the patients at risk in every stratum cannot be estimated (R gives NA)."""
    if not strata:
        return
    risk_sets = [at_risk for _, group in _groups(frame, strata) if len(at_risk := _at_first_event(group)) > 1]
    fixed = [t for t in terms if all(risk[t].nunique() < 2 for risk in risk_sets)]
    if fixed:
        raise NotEstimable(f"{_and(fixed)} {'does' if len(fixed) == 1 else 'do'} not vary within any "
                           f"{_by(strata)} among its patients at risk: a model stratified by {_by(strata)} "
                           f"cannot estimate {'it' if len(fixed) == 1 else 'them'}")


def _by(strata: tuple[str, ...]) -> str:
    return " × ".join(strata)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _fit(frame: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, scope: str,
         strata: tuple[str, ...] = ()) -> CoxPHFitter:
    with library_warnings() as caught:
        try:
            cph = CoxPHFitter(alpha=plan.alpha).fit(frame, duration_col="time", event_col="event",
                                                    strata=list(strata) or None, fit_options=FIT_OPTIONS)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            raise NotEstimable(f"lifelines did not converge ({_first_line(exc)})") from exc
    for item in caught:
        if issubclass(item.category, ConvergenceWarning):
            raise NotEstimable(f"lifelines warns: {_first_line(item.message)}")
    log.relay(scope, caught)
    coef, se = cph.params_, cph.standard_errors_
    for term in coef.index:
        b, s = finite(coef[term]), finite(se[term])
        if b is None or s is None or abs(b) > plan.cox_max_abs_coef or s > plan.cox_max_se:
            raise NotEstimable(f"implausible estimate for {term} (log HR {coef[term]:.3g}, SE {se[term]:.3g}): "
                               "likely separation")
    return cph


def _first_line(message: object) -> str:
    """The gist of a lifelines message, without its code examples and links."""
    line = str(message).strip().splitlines()[0]
    for tail in (" For example", " Please see", " See "):
        line = line.split(tail, 1)[0]
    return line.strip()


def _terms(cph: CoxPHFitter, frame: pd.DataFrame, covariate_of: dict[str, str], log: WarningLog,
           scope: str) -> list[CoxTerm]:
    ci = np.exp(cph.confidence_intervals_)
    ph = ph_test(cph, frame, log, f"{scope}.ph_test")
    return [
        CoxTerm(term=t, covariate=covariate_of[t], coef=finite(cph.params_[t]), se=finite(cph.standard_errors_[t]),
                hr=finite(np.exp(cph.params_[t])), ci_lower=finite(ci.loc[t].iloc[0]),
                ci_upper=finite(ci.loc[t].iloc[1]), p=finite(cph.summary.loc[t, "p"]),
                ph_statistic=ph.get(t, (None, None))[0], ph_p=ph.get(t, (None, None))[1])
        for t in cph.params_.index
    ]


def km_before(durations: pd.Series, events: pd.Series, weights: pd.Series) -> pd.Series:
    """1 − KM(t−), the Kaplan–Meier estimate just before each time: R's ``cox.zph`` "km" transform."""
    survival = KaplanMeierFitter().fit(durations, events, weights=weights).survival_function_.iloc[:, 0]
    position = np.searchsorted(survival.index.to_numpy(), durations.to_numpy(), side="left") - 1
    before = np.where(position >= 0, survival.to_numpy()[np.maximum(position, 0)], 1.0)
    return pd.Series(1.0 - before, index=durations.index)


def ph_test(cph: CoxPHFitter, frame: pd.DataFrame, log: WarningLog, scope: str) -> dict[str, tuple[float | None,
                                                                                                    float | None]]:
    """Schoenfeld-residual test per term: {term: (chi-square on 1 df, p)}."""
    with library_warnings() as caught:
        result = proportional_hazard_test(cph, frame, time_transform=km_before)
    log.relay(scope, caught)
    summary = result.summary
    return {str(t): (finite(summary.loc[t, "test_statistic"]), finite(summary.loc[t, "p"])) for t in summary.index}
