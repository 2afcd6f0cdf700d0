# Reference values for the second bundled study (config/study-proximal-femur.toml), computed by R (stats +
# survival), independently of analysis/.
#
# Usage, from the repository root:
#   Rscript tests/reference/make_reference_femur.R tests/reference/femur tests/reference/reference_femur.json
# The cohort directory holds the pipeline's cohort.csv and measures.csv for the femur demo cohort
# (pelvic-outcomes run --study config/study-proximal-femur.toml --source extractor/demo_femur/data). Needs the
# Debian packages r-base-core, r-cran-survival and r-cran-jsonlite. tests/test_study_femur.py reads the JSON;
# CI needs no R.
#
# The conventions are those of tests/reference/make_reference.R (see docs/results.md):
# - paired differences are later minus earlier: wilcox.test(later, earlier, paired = TRUE), same for t.test;
# - Friedman and the pairwise Wilcoxon tests use the patients with every timepoint (complete cases), the
#   pairwise p-values Bonferroni-adjusted;
# - a subgroup comparison: the paired tests within each group, and the changes compared between the groups by
#   Welch's t-test and the rank-sum test (wilcox.test, conf.int = TRUE: the Hodges-Lehmann shift);
# - Kaplan-Meier confidence intervals use conf.type = "log-log"; medians by quantile(fit, 0.5);
#   landmarks by summary(fit, times = LANDMARKS) (extend = FALSE);
# - log-rank: survdiff; Cox models: dummy columns named as our terms, ties = "efron".
# The plan below is copied from config/study-proximal-femur.toml; tests/test_study_femur.py checks that the two
# agree.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: make_reference_femur.R COHORT_DIR OUT_JSON")
cohort <- read.csv(file.path(args[1], "cohort.csv"), stringsAsFactors = FALSE)
measures <- read.csv(file.path(args[1], "measures.csv"), stringsAsFactors = FALSE)

# cohort.csv prints months to 4 decimals; the run computes with whole days / DAYS_PER_MONTH. The days are
# whole (dates), so they come back exactly from the printed months: analyse those, as the run does.
DAYS_PER_MONTH <- 30.4375
for (column in grep("_months$", names(cohort), value = TRUE)) {
  cohort[[column]] <- round(cohort[[column]] * DAYS_PER_MONTH) / DAYS_PER_MONTH
}

# As config/study-proximal-femur.toml.
REPEATED <- list(tess = c("pre", "3m", "12m", "24m"), msts = c("3m", "12m", "24m"))
PAIRED <- list(harris_hip = list(instrument = "harris_hip", before = "pre", after = "12m"))
BY <- list(tess_by_fixation = list(instrument = "tess", before = "pre", after = "12m", by = "fixation",
                                   groups = c("cemented", "uncemented")))
FLAGS <- c("dislocation", "wound_dehiscence", "stem_loosening", "periprosthetic_fracture", "deep_infection",
           "local_recurrence", "death")
ENDPOINTS <- c("os", "revision_free")
LOGRANK <- c("sex", "tumour_group", "long_resection", "fixation")
COVARIATES <- list(
  tumour_group = c("tumour_group=metastatic"),
  long_resection = c("long_resection"),
  fixation = c("fixation=uncemented")
)
LANDMARKS <- c(12, 24, 36)
RISK_STEP <- 6
BASELINE <- "pre"
MCID <- list(tess = list(points = 11, better = "higher"), harris_hip = list(points = 18, better = "higher"))
HENDERSON <- list(`1` = c("dislocation", "wound_dehiscence"), `2` = c("stem_loosening"),
                  `3` = c("periprosthetic_fracture"), `4` = c("deep_infection"), `5` = c("local_recurrence"))
REOPERATIONS <- c("revision", "debridement")
IMPLANT_ENDPOINT <- "revision"

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
  q <- unname(quantile(x, c(0.25, 0.5, 0.75), type = 7))
  list(n = length(x), mean = mean(x), sd = finite_or_na(sd(x)), median = median(x), q1 = q[1], q3 = q[3],
       min = min(x), max = max(x))
}

hodges_lehmann <- function(w) {
  list(estimate = finite_or_na(unname(w$estimate)), ci_lower = finite_or_na(w$conf.int[1]),
       ci_upper = finite_or_na(w$conf.int[2]), conf_level = attr(w$conf.int, "conf.level"))
}

wilcox_paired <- function(later, earlier) {
  d <- later - earlier
  w <- suppressWarnings(wilcox.test(later, earlier, paired = TRUE, conf.int = TRUE))
  list(statistic = unname(w$statistic), p = w$p.value, n = sum(d != 0), n_zero = sum(d == 0), method = w$method,
       hodges_lehmann = hodges_lehmann(w))
}

mean_difference <- function(later, earlier) {
  t <- tryCatch(t.test(later, earlier, paired = TRUE), error = function(e) NULL)
  if (is.null(t)) return(list(estimate = NA, ci_lower = NA, ci_upper = NA))
  list(estimate = unname(t$estimate), ci_lower = t$conf.int[1], ci_upper = t$conf.int[2])
}

t_paired <- function(later, earlier) {
  t <- t.test(later, earlier, paired = TRUE)
  list(n = length(later), mean_pre = mean(earlier), sd_pre = sd(earlier), mean_post = mean(later),
       sd_post = sd(later), mean_difference = unname(t$estimate), ci_lower = t$conf.int[1],
       ci_upper = t$conf.int[2], t = unname(t$statistic), df = unname(t$parameter), p = t$p.value)
}

repeated <- function(instrument, timepoints) {
  w <- wide_scores(instrument, timepoints)
  cc <- w[complete.cases(w[, timepoints]), ]
  fr <- friedman.test(as.matrix(cc[, timepoints]))
  pairs <- combn(timepoints, 2, simplify = FALSE)
  pw <- lapply(pairs, function(ab) {
    c(list(a = ab[1], b = ab[2]), wilcox_paired(cc[[ab[2]]], cc[[ab[1]]]),
      list(mean_difference = mean_difference(cc[[ab[2]]], cc[[ab[1]]])))
  })
  adjusted <- p.adjust(sapply(pw, function(x) x$p), method = "bonferroni")
  for (i in seq_along(pw)) pw[[i]]$p_adjusted <- adjusted[i]
  list(timepoints = setNames(lapply(timepoints, function(tp) describe(w[[tp]])), timepoints),
       friedman = list(statistic = unname(fr$statistic), df = unname(fr$parameter), p = fr$p.value,
                       n = nrow(cc)),
       pairwise = pw)
}

paired <- function(instrument, before, after, rows = rep(TRUE, nrow(cohort))) {
  w <- wide_scores(instrument, c(before, after))[rows, ]
  w <- w[complete.cases(w[, c(before, after)]), ]
  out <- c(list(before = before, after = after), t_paired(w[[after]], w[[before]]))
  wx <- wilcox_paired(w[[after]], w[[before]])
  out$wilcoxon <- wx[c("statistic", "p", "n", "n_zero", "method")]
  out$hodges_lehmann <- wx$hodges_lehmann
  out
}

by_groups <- function(spec) {
  w <- wide_scores(spec$instrument, c(spec$before, spec$after))
  w$group <- cohort[[spec$by]]
  w <- w[complete.cases(w), ]
  change <- w[[spec$after]] - w[[spec$before]]
  g1 <- spec$groups[1]
  g2 <- spec$groups[2]
  c1 <- change[w$group == g1]
  c2 <- change[w$group == g2]
  welch <- t.test(c1, c2)
  rs <- suppressWarnings(wilcox.test(c1, c2, conf.int = TRUE))
  out <- setNames(lapply(spec$groups, function(g) paired(spec$instrument, spec$before, spec$after,
                                                        cohort[[spec$by]] == g)), spec$groups)
  out$overall <- paired(spec$instrument, spec$before, spec$after)
  out$between_groups <- list(
    groups = spec$groups, n = setNames(list(length(c1), length(c2)), spec$groups),
    mean_change = setNames(list(mean(c1), mean(c2)), spec$groups),
    sd_change = setNames(list(sd(c1), sd(c2)), spec$groups),
    t = unname(welch$statistic), df = unname(welch$parameter), p = welch$p.value,
    rank_sum = list(statistic = unname(rs$statistic), p = rs$p.value, method = rs$method),
    hodges_lehmann = hodges_lehmann(rs),
    mean_difference = list(estimate = unname(welch$estimate[1] - welch$estimate[2]),
                           ci_lower = welch$conf.int[1], ci_upper = welch$conf.int[2]))
  out
}

proportion <- function(x) {
  x <- x[!is.na(x)]
  b <- binom.test(sum(x), length(x))
  list(count = sum(x), n = length(x), ci_lower = b$conf.int[1], ci_upper = b$conf.int[2])
}

events <- function() lapply(FLAGS, function(flag) c(list(name = flag), proportion(cohort[[flag]])))

medians <- function(fit) {
  list(median = finite_or_na(unname(quantile(fit, 0.5, conf.int = FALSE))))
}

km <- function(time, event) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = "log-log")
  s <- summary(fit)
  q <- quantile(fit, 0.5)
  marks <- summary(fit, times = LANDMARKS)
  risk <- summary(fit, times = seq(0, max(cohort$followup_months), by = RISK_STEP), extend = TRUE)
  c(list(n = length(time), events = sum(event), time = s$time, n_risk = s$n.risk, n_event = s$n.event,
         surv = s$surv, lower = finite_or_na(s$lower), upper = finite_or_na(s$upper)),
    medians(fit),
    list(median_lower = finite_or_na(unname(q$lower)), median_upper = finite_or_na(unname(q$upper)),
         landmarks = list(months = marks$time, surv = marks$surv, lower = finite_or_na(marks$lower),
                          upper = finite_or_na(marks$upper), n_risk = marks$n.risk),
         risk_table = list(months = risk$time, n_risk = risk$n.risk)))
}

design <- function() {
  data.frame(`tumour_group=metastatic` = as.integer(cohort$tumour_group == "metastatic"),
             long_resection = cohort$long_resection,
             `fixation=uncemented` = as.integer(cohort$fixation == "uncemented"), check.names = FALSE)
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
  list(terms = terms, coef = unname(s[, "coef"]), se = unname(s[, "se(coef)"]), hr = unname(s[, "exp(coef)"]),
       ci_lower = unname(ci[, "lower .95"]), ci_upper = unname(ci[, "upper .95"]), p = unname(s[, "Pr(>|z|)"]),
       warnings = warned, n = fit$n, events = fit$nevent)
}

survival_analysis <- function(endpoint) {
  time <- cohort[[paste0(endpoint, "_months")]]
  event <- cohort[[paste0(endpoint, "_event")]]
  logrank <- lapply(setNames(LOGRANK, LOGRANK), function(factor) {
    sd <- survdiff(Surv(time, event) ~ cohort[[factor]])
    df <- length(sd$n) - 1
    list(statistic = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE), events = sum(event))
  })
  list(km = km(time, event), logrank = logrank,
       cox_univariable = lapply(COVARIATES, function(terms) cox(time, event, terms)),
       cox_multivariable = cox(time, event, unlist(COVARIATES, use.names = FALSE)))
}

followup <- function() {
  x <- cohort$followup_months
  rev <- survfit(Surv(cohort$os_months, 1 - cohort$os_event) ~ 1)
  list(mean = mean(x), median = median(x), min = min(x), max = max(x),
       reverse_km_median = finite_or_na(unname(quantile(rev, 0.5, conf.int = FALSE))))
}

responders <- function() {
  lapply(setNames(names(MCID), names(MCID)), function(instrument) {
    m <- MCID[[instrument]]
    timepoints <- unique(measures$timepoint[measures$instrument == instrument])
    w <- wide_scores(instrument, timepoints)
    later <- setdiff(c("3m", "12m", "24m")[c("3m", "12m", "24m") %in% timepoints], BASELINE)
    rows <- lapply(later, function(tp) {
      both <- complete.cases(w[, c(BASELINE, tp)])
      change <- w[[tp]][both] - w[[BASELINE]][both]
      improvement <- if (m$better == "higher") change else -change
      c(list(timepoint = tp), proportion(as.integer(improvement >= m$points - 1e-9)))
    })
    rows
  })
}

implant <- function() {
  failed <- function(flags) as.integer(rowSums(cohort[, flags, drop = FALSE] == 1) > 0)
  months <- paste0(IMPLANT_ENDPOINT, "_months")
  list(failure_types = lapply(names(HENDERSON), function(type) c(list(type = as.integer(type)),
                                                                  proportion(failed(HENDERSON[[type]])))),
       any_failure = proportion(failed(unique(unlist(HENDERSON)))),
       reoperations = lapply(REOPERATIONS, function(r) c(list(name = r), proportion(cohort[[r]]))),
       km = km(cohort[[months]], cohort[[IMPLANT_ENDPOINT]]))
}

table1 <- function() {
  counts <- function(column) {
    x <- cohort[[column]]
    missing <- sum(is.na(x) | x == "")
    tab <- table(x[!is.na(x) & x != ""])
    out <- lapply(names(tab), function(level) list(level = level, count = unname(as.integer(tab[level]))))
    if (missing > 0) out <- c(out, list(list(level = "missing", count = missing)))  # as analysis/: a level
    out
  }
  list(n = nrow(cohort), sex = counts("sex"), age = describe(cohort$age_at_surgery),
       tumour_group = counts("tumour_group"), tumour_detail = counts("tumour_detail"),
       resection_level = counts("resection_level"), long_resection = proportion(cohort$long_resection),
       surgical_margin = counts("surgical_margin"), fixation = counts("fixation"))
}

reference <- list(
  source = "tests/reference/make_reference_femur.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cohort = args[1],
  n_patients = nrow(cohort),
  settings = list(repeated = REPEATED, paired = PAIRED, by = BY, flags = FLAGS, endpoints = ENDPOINTS,
                  logrank = LOGRANK, cox = lapply(COVARIATES, as.list), landmark_months = LANDMARKS,
                  risk_table_every_months = RISK_STEP, baseline = BASELINE, mcid = MCID, henderson = HENDERSON,
                  reoperations = REOPERATIONS, implant_endpoint = IMPLANT_ENDPOINT),
  table1 = table1(),
  repeated_measures = lapply(REPEATED, function(tps) NULL),
  paired = c(lapply(PAIRED, function(p) paired(p$instrument, p$before, p$after)), lapply(BY, by_groups)),
  events = events(),
  followup = followup(),
  responders = responders(),
  implant = implant(),
  survival = lapply(setNames(ENDPOINTS, ENDPOINTS), survival_analysis)
)
reference$repeated_measures <- lapply(setNames(names(REPEATED), names(REPEATED)),
                                      function(i) repeated(i, REPEATED[[i]]))
write_json(reference, args[2], auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
cat("wrote", args[2], "\n")
