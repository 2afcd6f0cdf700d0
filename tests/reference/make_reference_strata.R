# Reference values for stratified Cox models (issue 15: the site as a stratum), computed by R (survival).
#
# Usage, from the repository root:
#   .venv/bin/python tests/reference/make_sites.py
#   Rscript tests/reference/make_reference_strata.R tests/reference/sites tests/reference/reference_cox_strata.json
# The cohort directory holds cohort.csv with a `site` column (two sites) and a `site_edge` column (the same
# with a one-patient site and a site without events); see make_sites.py. Needs the Debian packages
# r-base-core, r-cran-survival and r-cran-jsonlite. tests/analysis/test_cox_strata_against_r.py reads the
# JSON; CI needs no R.
#
# Conventions are those of make_reference.R (see docs/results.md): dummy columns named as our terms,
# coxph(ties = "efron") with a tight convergence tolerance, Wald CI and p; here every model has
# + strata(STRATUM): a baseline hazard per stratum. The proportional-hazards check "ph_approx" is the
# Grambsch-Therneau test with the approximate variance (survival < 3.0, lifelines) and the "km" transform
# 1 - KM(t-) of the pooled cohort (as survival 3.x cox.zph does for a stratified model), at the event times of
# R's Schoenfeld residuals, which a stratified fit orders by stratum; cox.zph (exact score test) is recorded as
# "ph_zph" for information.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: make_reference_strata.R COHORT_DIR OUT_JSON")
cohort <- read.csv(file.path(args[1], "cohort.csv"), stringsAsFactors = FALSE)

STRATA <- c("site", "site_edge")
COVARIATES <- list(
  sex = c("sex=female"),
  tumor_category = c("tumor_category=secondary"),
  resection_margin = c("resection_margin=marginal", "resection_margin=intralesional"),
  zone_iv = c("zone_iv")
)

design <- data.frame(`sex=female` = as.integer(cohort$sex == "female"),
                     `tumor_category=secondary` = as.integer(cohort$tumor_category == "secondary"),
                     `resection_margin=marginal` = as.integer(cohort$resection_margin == "marginal"),
                     `resection_margin=intralesional` = as.integer(cohort$resection_margin == "intralesional"),
                     zone_iv = cohort$zone_iv, check.names = FALSE)

ph_approx <- function(fit, time, event) {
  sresid <- as.matrix(resid(fit, "schoenfeld"))
  times <- as.numeric(rownames(sresid))  # event times, in the fit's (stratum, time) order
  km_fit <- survfit(Surv(time, event) ~ 1)
  left <- c(1, km_fit$surv)[findInterval(times, km_fit$time, left.open = TRUE) + 1]
  xx <- (1 - left) - mean(1 - left)
  ndead <- nrow(sresid)
  test <- as.vector(xx %*% (sresid %*% fit$var * ndead))
  z <- test^2 / (diag(fit$var) * ndead * sum(xx^2))
  list(statistic = z, p = pchisq(z, 1, lower.tail = FALSE))
}

cox <- function(time, event, terms, stratum) {
  data <- cbind(time = time, event = event, design[, terms, drop = FALSE], stratum = cohort[[stratum]])
  formula <- as.formula(paste("Surv(time, event) ~", paste0("`", terms, "`", collapse = " + "),
                              "+ strata(stratum)"))
  warned <- character(0)
  fit <- withCallingHandlers(
    coxph(formula, data = data, ties = "efron",
          control = coxph.control(eps = 1e-13, toler.chol = 1e-14, iter.max = 200)),
    warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  s <- summary(fit)$coefficients
  ci <- summary(fit)$conf.int
  out <- list(terms = terms, strata = stratum, coef = unname(s[, "coef"]), se = unname(s[, "se(coef)"]),
              hr = unname(s[, "exp(coef)"]), ci_lower = unname(ci[, "lower .95"]),
              ci_upper = unname(ci[, "upper .95"]), p = unname(s[, "Pr(>|z|)"]),
              warnings = warned, n = fit$n, events = fit$nevent, singular = any(is.na(coef(fit))))
  if (length(warned) == 0 && !out$singular) {
    out$ph_approx <- ph_approx(fit, time, event)
    zph <- cox.zph(fit, transform = "km")$table
    k <- seq_along(terms)
    out$ph_zph <- list(statistic = unname(zph[k, "chisq"]), p = unname(zph[k, "p"]))
  }
  out
}

# Per stratum: patients and events (a stratum with one patient or no events adds nothing to the fit).
counts <- function(event, stratum) {
  levels <- sort(unique(cohort[[stratum]]))
  list(stratum = levels, n = as.vector(table(factor(cohort[[stratum]], levels))),
       events = as.vector(tapply(event, factor(cohort[[stratum]], levels), sum)))
}

stratified <- function(time, event) {
  present <- function(terms) terms[colSums(design[, terms, drop = FALSE]) > 0]
  setNames(lapply(STRATA, function(stratum) {
    list(strata = counts(event, stratum),
         cox_univariable = lapply(COVARIATES, function(terms) cox(time, event, present(terms), stratum)),
         cox_multivariable = cox(time, event, present(unlist(COVARIATES, use.names = FALSE)), stratum))
  }), STRATA)
}

# A term nested in the strata has no within-stratum contrast: the diagnosis fixes the tumour category, so R
# gives the coefficient NA (the analysis: not estimable).
nested <- cox(cohort$os_months, cohort$os_event, "tumor_category=secondary", "diagnosis")

# The two edge sites add nothing: the site_edge fit equals the site fit on the patients of north and south.
kept <- cohort$site_edge %in% c("north", "south")
without_edge <- coxph(Surv(os_months, os_event) ~ `sex=female` + `tumor_category=secondary` +
                        `resection_margin=marginal` + `resection_margin=intralesional` + zone_iv + strata(site),
                      data = cbind(cohort, design)[kept, ], ties = "efron",
                      control = coxph.control(eps = 1e-13, toler.chol = 1e-14, iter.max = 200))

reference <- list(
  source = "tests/reference/make_reference_strata.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cohort = args[1],
  n_patients = nrow(cohort),
  survival = list(os = stratified(cohort$os_months, cohort$os_event),
                  pfs = stratified(cohort$pfs_months, cohort$pfs_event)),
  nested = list(strata = "diagnosis", terms = nested$terms, coef = nested$coef, warnings = nested$warnings,
                singular = nested$singular),
  os_without_edge_sites = list(n = without_edge$n, events = without_edge$nevent,
                               coef = unname(coef(without_edge)), se = unname(sqrt(diag(without_edge$var))))
)
write_json(reference, args[2], auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
cat("wrote", args[2], "\n")
