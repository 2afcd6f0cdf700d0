# Reference values for the analysis package, computed by R (stats + survival).
#
# Usage, from the repository root:
#   Rscript tests/reference/make_reference.R tests/reference/generated tests/reference/reference_generated.json
#   Rscript tests/reference/make_reference.R tests/reference/small     tests/reference/reference_small.json
# A cohort directory holds cohort.csv and measures.csv (the pipeline's layout), and may hold events.csv (the
# mapping's events table). Needs the Debian packages r-base-core, r-cran-survival and r-cran-jsonlite. The
# tests (tests/analysis/) read the JSON; CI needs no R.
#
# Conventions shared with analysis/ (see docs/results.md):
# - paired differences are later minus earlier: wilcox.test(later, earlier, paired = TRUE), same for t.test;
# - Friedman and the pairwise Wilcoxon tests use the patients with every timepoint (complete cases);
# - Kaplan-Meier confidence intervals use conf.type = "log-log" (lifelines' default; R's default is "log");
# - Cox models use dummy columns named as our terms, ties = "efron", with a tight convergence tolerance;
# - the proportional-hazards check is the Grambsch-Therneau test with the approximate variance that
#   survival < 3.0 used and lifelines uses ("ph_approx"), time transform 1 - KM(t-) (R's "km"); the exact
#   score test of survival >= 3.0 (cox.zph) is recorded next to it as "ph_zph" for information;
# - effect sizes: wilcox.test(..., conf.int = TRUE) with its defaults (Hodges-Lehmann estimate and interval,
#   at the level R could achieve), t.test's mean difference and interval;
# - survival as read by clinicians: quantile(fit, 0.5) and summary(fit)$table for the median and its CI,
#   summary(fit, times = LANDMARKS) (extend = FALSE: nothing past the last follow-up time) and
#   summary(fit, times = seq(0, max follow-up, RISK_STEP), extend = TRUE) for the numbers at risk;
# - Clark's completeness of follow-up, responders (binom.test) and Henderson failure types with the
#   settings of config/study.toml copied below (the tests check that the two agree).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: make_reference.R COHORT_DIR OUT_JSON")
cohort <- read.csv(file.path(args[1], "cohort.csv"), stringsAsFactors = FALSE)
measures <- read.csv(file.path(args[1], "measures.csv"), stringsAsFactors = FALSE)

TIMEPOINTS <- c("pre", "1m", "3m", "6m")
FLAGS <- c("heterotopic_ossification", "screw_fracture", "dislocation", "delayed_wound_healing",
           "deep_infection", "periprosthetic_osteolysis", "implant_loosening", "local_recurrence",
           "distant_metastasis", "death")
COVARIATES <- list(
  sex = c("sex=female"),
  tumor_category = c("tumor_category=secondary"),
  resection_margin = c("resection_margin=marginal", "resection_margin=intralesional"),
  zone_iv = c("zone_iv")
)

# As config/study.toml: [analysis] landmark_months, risk_table_every_months, baseline_timepoint; the
# instruments' mcid/better; [implant] failure_types and survival_endpoint; [reoperations].
LANDMARKS <- c(6, 12, 24)
RISK_STEP <- 3
BASELINE <- "pre"
MCID <- list(vas = list(points = 2, better = "lower"), kps = list(points = 10, better = "higher"),
             msts93 = list(points = 3, better = "higher"))
HENDERSON <- list(`1` = c("dislocation", "delayed_wound_healing"),
                  `2` = c("implant_loosening", "periprosthetic_osteolysis"),
                  `3` = c("screw_fracture"), `4` = c("deep_infection"), `5` = c("local_recurrence"))
IMPLANT_ENDPOINT <- "revision"
DAYS_PER_MONTH <- 30.4375

events_table <- if (file.exists(file.path(args[1], "events.csv")))
  read.csv(file.path(args[1], "events.csv"), stringsAsFactors = FALSE) else NULL

finite_or_na <- function(x) ifelse(is.finite(x), x, NA)

wide_scores <- function(instrument, timepoints) {
  m <- measures[measures$instrument == instrument, ]
  out <- data.frame(study_id = cohort$study_id, stringsAsFactors = FALSE)
  for (tp in timepoints) {
    rows <- m[m$timepoint == tp, ]
    out[[tp]] <- rows$value[match(out$study_id, rows$study_id)]
  }
  out
}

describe <- function(x) {
  x <- x[!is.na(x)]
  q <- function(type) unname(quantile(x, c(0.25, 0.5, 0.75), type = type))
  list(n = length(x), mean = mean(x), sd = finite_or_na(sd(x)), median = median(x),
       type7 = q(7), type6 = q(6))
}

hodges_lehmann <- function(w) {
  list(estimate = finite_or_na(unname(w$estimate)), ci_lower = finite_or_na(w$conf.int[1]),
       ci_upper = finite_or_na(w$conf.int[2]), conf_level = attr(w$conf.int, "conf.level"))
}

wilcox_paired <- function(later, earlier) {
  d <- later - earlier
  nonzero <- d[d != 0]
  ties <- any(duplicated(abs(nonzero)))
  exact <- length(nonzero) < 50 && !ties && length(nonzero) == length(d)
  w <- suppressWarnings(wilcox.test(later, earlier, paired = TRUE, conf.int = TRUE))
  list(statistic = unname(w$statistic), p = w$p.value, exact = exact, n = length(nonzero),
       method = w$method, hodges_lehmann = hodges_lehmann(w))
}

# t.test stops on constant differences ("data are essentially constant"): NA, as analysis/ reports null.
mean_difference <- function(later, earlier) {
  t <- tryCatch(t.test(later, earlier, paired = TRUE), error = function(e) NULL)
  if (is.null(t)) return(list(estimate = NA, ci_lower = NA, ci_upper = NA))
  list(estimate = unname(t$estimate), ci_lower = t$conf.int[1], ci_upper = t$conf.int[2])
}

t_paired <- function(later, earlier) {
  t <- t.test(later, earlier, paired = TRUE)
  list(t = unname(t$statistic), df = unname(t$parameter), p = t$p.value, n = length(later),
       mean_pre = mean(earlier), sd_pre = sd(earlier), mean_post = mean(later), sd_post = sd(later),
       mean_difference = unname(t$estimate), ci_lower = t$conf.int[1], ci_upper = t$conf.int[2])
}

repeated <- function(instrument) {
  w <- wide_scores(instrument, TIMEPOINTS)
  cc <- w[complete.cases(w[, TIMEPOINTS]), ]
  fr <- friedman.test(as.matrix(cc[, TIMEPOINTS]))
  pairs <- combn(TIMEPOINTS, 2, simplify = FALSE)
  pw <- lapply(pairs, function(ab) {
    c(list(a = ab[1], b = ab[2]), wilcox_paired(cc[[ab[2]]], cc[[ab[1]]]),
      list(mean_difference = mean_difference(cc[[ab[2]]], cc[[ab[1]]])))
  })
  adjusted <- p.adjust(sapply(pw, function(x) x$p), method = "bonferroni")
  for (i in seq_along(pw)) pw[[i]]$p_adjusted <- adjusted[i]
  list(timepoints = setNames(lapply(TIMEPOINTS, function(tp) describe(w[[tp]])), TIMEPOINTS),
       friedman = list(statistic = unname(fr$statistic), df = unname(fr$parameter), p = fr$p.value,
                       n = nrow(cc)),
       pairwise = pw)
}

paired <- function(instrument, before, after, rows = rep(TRUE, nrow(cohort))) {
  w <- wide_scores(instrument, c(before, after))[rows, ]
  w <- w[complete.cases(w[, c(before, after)]), ]
  out <- t_paired(w[[after]], w[[before]])
  out$wilcoxon <- wilcox_paired(w[[after]], w[[before]])
  out
}

sij <- function() {
  w <- wide_scores("sij_contralateral_mm", c("pre", "6m"))
  w$zone_iv <- cohort$zone_iv
  w <- w[complete.cases(w), ]
  change_iv <- (w[["6m"]] - w$pre)[w$zone_iv == 1]
  change_no <- (w[["6m"]] - w$pre)[w$zone_iv == 0]
  welch <- t.test(change_iv, change_no)
  mw <- suppressWarnings(wilcox.test(change_iv, change_no, conf.int = TRUE))
  list(zone_iv = paired("sij_contralateral_mm", "pre", "6m", cohort$zone_iv == 1),
       no_zone_iv = paired("sij_contralateral_mm", "pre", "6m", cohort$zone_iv == 0),
       between_groups = list(t = unname(welch$statistic), df = unname(welch$parameter), p = welch$p.value,
                             mann_whitney_statistic = unname(mw$statistic), mann_whitney_p = mw$p.value,
                             mann_whitney_method = mw$method, hodges_lehmann = hodges_lehmann(mw),
                             mean_difference = list(estimate = unname(welch$estimate[1] - welch$estimate[2]),
                                                    ci_lower = welch$conf.int[1], ci_upper = welch$conf.int[2])))
}

timing <- function(flag) {
  if (is.null(events_table)) return(NULL)
  days <- events_table$days_from_surgery[events_table$event == flag]
  list(days_from_surgery = sort(days), median_days_from_surgery = if (length(days)) median(days) else NA)
}

events <- function() {
  lapply(FLAGS, function(flag) {
    x <- cohort[[flag]][!is.na(cohort[[flag]])]
    b <- binom.test(sum(x), length(x))
    c(list(name = flag, count = sum(x), n = length(x), ci_lower = b$conf.int[1], ci_upper = b$conf.int[2]),
      timing(flag))
  })
}

# Median two ways: R's print/quantile rule (midpoint of a flat stretch at exactly 0.5), which analysis/
# follows, and the plain "first time S(t) <= 0.5" rule, for information.
medians <- function(fit) {
  first <- fit$time[fit$surv <= 0.5 + 1e-12]
  list(median_r = finite_or_na(unname(quantile(fit, 0.5, conf.int = FALSE))),
       median_first = if (length(first)) min(first) else NA)
}

km <- function(time, event) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = "log-log")
  s <- summary(fit)  # event times only
  q <- quantile(fit, 0.5)
  table <- summary(fit)$table
  marks <- summary(fit, times = LANDMARKS)  # extend = FALSE: no estimate past the last follow-up time
  horizon <- max(cohort$followup_months)
  risk <- summary(fit, times = seq(0, horizon, by = RISK_STEP), extend = TRUE)
  c(list(n = length(time), events = sum(event), time = s$time, n_risk = s$n.risk, n_event = s$n.event,
         surv = s$surv, lower = finite_or_na(s$lower), upper = finite_or_na(s$upper)),
    medians(fit),
    list(median_lower = finite_or_na(unname(q$lower)), median_upper = finite_or_na(unname(q$upper)),
         table_median = finite_or_na(unname(table["median"])), table_lcl = finite_or_na(unname(table["0.95LCL"])),
         table_ucl = finite_or_na(unname(table["0.95UCL"])),
         landmarks = list(months = marks$time, surv = marks$surv, lower = finite_or_na(marks$lower),
                          upper = finite_or_na(marks$upper), n_risk = marks$n.risk),
         risk_table = list(months = risk$time, n_risk = risk$n.risk, cumulative_events = cumsum(risk$n.event))))
}

design <- function() {
  data.frame(`sex=female` = as.integer(cohort$sex == "female"),
             `tumor_category=secondary` = as.integer(cohort$tumor_category == "secondary"),
             `resection_margin=marginal` = as.integer(cohort$resection_margin == "marginal"),
             `resection_margin=intralesional` = as.integer(cohort$resection_margin == "intralesional"),
             zone_iv = cohort$zone_iv, check.names = FALSE)
}

ph_approx <- function(fit, time, event) {
  # survival 2.44 cox.zph (approximate variance), transform "km" = 1 - KM just before each death
  sresid <- as.matrix(resid(fit, "schoenfeld"))
  deaths <- sort(time[event == 1])
  km_fit <- survfit(Surv(time, event) ~ 1)
  left <- c(1, km_fit$surv)[findInterval(deaths, km_fit$time, left.open = TRUE) + 1]
  xx <- (1 - left) - mean(1 - left)
  ndead <- nrow(sresid)
  r2 <- sresid %*% fit$var * ndead
  test <- as.vector(xx %*% r2)
  z <- test^2 / (diag(fit$var) * ndead * sum(xx^2))
  list(statistic = z, p = pchisq(z, 1, lower.tail = FALSE))
}

cox <- function(time, event, terms) {
  x <- design()[, terms, drop = FALSE]
  warned <- character(0)
  fit <- withCallingHandlers(
    coxph(Surv(time, event) ~ ., data = cbind(time = time, event = event, x), ties = "efron",
          control = coxph.control(eps = 1e-13, toler.chol = 1e-14, iter.max = 200)),
    warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  s <- summary(fit)$coefficients
  ci <- summary(fit)$conf.int
  out <- list(terms = terms, coef = unname(s[, "coef"]), se = unname(s[, "se(coef)"]),
              hr = unname(s[, "exp(coef)"]), ci_lower = unname(ci[, "lower .95"]),
              ci_upper = unname(ci[, "upper .95"]), p = unname(s[, "Pr(>|z|)"]),
              warnings = warned, n = fit$n, events = fit$nevent)
  if (length(warned) == 0) {
    out$ph_approx <- ph_approx(fit, time, event)
    zph <- cox.zph(fit, transform = "km")$table  # rows: the terms in order, then GLOBAL
    k <- seq_along(terms)
    out$ph_zph <- list(statistic = unname(zph[k, "chisq"]), p = unname(zph[k, "p"]),
                       global_statistic = unname(zph["GLOBAL", "chisq"]), global_p = unname(zph["GLOBAL", "p"]))
  }
  out
}

survival_analysis <- function(time, event) {
  logrank <- lapply(names(COVARIATES), function(cov) {
    sd <- survdiff(Surv(time, event) ~ cohort[[cov]])
    df <- length(sd$n) - 1
    list(statistic = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE))
  })
  present <- function(terms) terms[colSums(design()[, terms, drop = FALSE]) > 0]
  list(km = km(time, event),
       logrank = setNames(lapply(logrank, function(l) c(l, list(events = sum(event)))), names(COVARIATES)),
       cox_univariable = lapply(COVARIATES, function(terms) cox(time, event, present(terms))),
       cox_multivariable = cox(time, event, present(unlist(COVARIATES, use.names = FALSE))))
}

# Clark's C: observed / potential follow-up; potential = to the cut-off, or to death. No cut-off is given
# here, so the cut-off is the latest contact: surgery date + follow-up in whole days.
clark <- function() {
  surgery <- as.Date(cohort$surgery_date)
  last <- surgery + round(cohort$followup_months * DAYS_PER_MONTH)
  cutoff <- max(last)
  potential <- ifelse(cohort$os_event == 1, cohort$followup_months,
                      as.numeric(cutoff - surgery) / DAYS_PER_MONTH)
  observed <- pmin(cohort$followup_months, potential)
  list(completeness = sum(observed) / sum(potential), cutoff = format(cutoff), observed = sum(observed),
       potential = sum(potential))
}

followup <- function() {
  x <- cohort$followup_months
  rev <- survfit(Surv(cohort$os_months, 1 - cohort$os_event) ~ 1)
  c(list(mean = mean(x), median = median(x), min = min(x), max = max(x)), medians(rev), list(clark = clark()))
}

# Responders: change from BASELINE to each later timepoint reaching the MCID in the better direction.
responders <- function() {
  lapply(setNames(names(MCID), names(MCID)), function(instrument) {
    m <- MCID[[instrument]]
    w <- wide_scores(instrument, TIMEPOINTS)
    rows <- lapply(setdiff(TIMEPOINTS, BASELINE), function(tp) {
      both <- complete.cases(w[, c(BASELINE, tp)])
      if (!any(both)) return(NULL)
      change <- w[[tp]][both] - w[[BASELINE]][both]
      improvement <- if (m$better == "higher") change else -change
      count <- sum(improvement >= m$points - 1e-9)
      b <- binom.test(count, sum(both))
      list(timepoint = tp, n = sum(both), count = count, ci_lower = b$conf.int[1], ci_upper = b$conf.int[2])
    })
    Filter(Negate(is.null), rows)
  })
}

proportion <- function(x) {
  b <- binom.test(sum(x), length(x))
  list(count = sum(x), n = length(x), ci_lower = b$conf.int[1], ci_upper = b$conf.int[2])
}

implant <- function() {
  months <- paste0(IMPLANT_ENDPOINT, "_months")
  if (!all(c(IMPLANT_ENDPOINT, months) %in% names(cohort))) return(NULL)
  failed <- function(flags) as.integer(rowSums(cohort[, flags, drop = FALSE] == 1) > 0)
  list(failure_types = lapply(names(HENDERSON), function(type) c(list(type = as.integer(type)),
                                                                  proportion(failed(HENDERSON[[type]])))),
       any_failure = proportion(failed(unique(unlist(HENDERSON)))),
       reoperation = c(list(name = IMPLANT_ENDPOINT), proportion(cohort[[IMPLANT_ENDPOINT]]),
                       timing(IMPLANT_ENDPOINT)),
       km = km(cohort[[months]], cohort[[IMPLANT_ENDPOINT]]))
}

# The two median rules differ when S(t) is exactly 0.5 on a stretch: six deaths at 1..6 months.
median_example <- local({
  t <- c(1, 2, 3, 4, 5, 6)
  c(list(time = t, event = rep(1, 6)), medians(survfit(Surv(t, rep(1, 6)) ~ 1)))
})

reference <- list(
  source = "tests/reference/make_reference.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cohort = args[1],
  n_patients = nrow(cohort),
  age = describe(cohort$age_at_surgery),
  repeated_measures = list(vas = repeated("vas"), kps = repeated("kps")),
  msts93 = paired("msts93", "pre", "3m"),
  sij_contralateral_mm = sij(),
  settings = list(landmark_months = LANDMARKS, risk_table_every_months = RISK_STEP, baseline = BASELINE,
                  mcid = MCID, henderson = HENDERSON, implant_endpoint = IMPLANT_ENDPOINT),
  events = events(),
  followup = followup(),
  responders = responders(),
  implant = implant(),
  survival = list(os = survival_analysis(cohort$os_months, cohort$os_event),
                  pfs = survival_analysis(cohort$pfs_months, cohort$pfs_event)),
  median_example = median_example
)
write_json(reference, args[2], auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
cat("wrote", args[2], "\n")
