"""Write ``sites/cohort.csv``: the generated cohort (``generated/cohort.csv``) pooled from two sites.

Every column of ``generated/cohort.csv`` is kept as it is; two columns are added, deterministically:

- ``site``: ``north`` for surgery before 2019, ``south`` from 2019 (62 and 58 patients; the earlier site has
  the longer follow-up, so the two baseline hazards differ);
- ``site_edge``: ``site``, except that one patient with an OS and a PFS event (the first by study id from
  2019) is alone at site ``east``, and the first three patients (by study id) with neither event are at site
  ``west``: a stratum of a single patient and a stratum without events, which add nothing to a stratified
  Cox model (R's ``coxph`` fits it without a word; the analysis says so in the model's reason).

The folder has no ``measures.csv``, so it is not one of the reference cohorts of ``tests/analysis/conftest.py``
(those are analysed with ``make_reference.R``); ``tests/analysis/test_cox_strata_against_r.py`` analyses it
with the measures of ``generated/``, and ``make_reference_strata.R`` computes R's stratified Cox models.

Run from the repository root: ``.venv/bin/python tests/reference/make_sites.py``; then
``Rscript tests/reference/make_reference_strata.R tests/reference/sites tests/reference/reference_cox_strata.json``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
SPLIT_YEAR = "2019"
WEST = 3


def sites(cohort: pd.DataFrame) -> pd.DataFrame:
    cohort = cohort.sort_values("study_id").reset_index(drop=True)
    site = cohort["surgery_date"].str[:4].lt(SPLIT_YEAR).map({True: "north", False: "south"})
    edge = site.copy()
    both = (cohort["os_event"] == 1) & (cohort["pfs_event"] == 1) & (site == "south")
    edge[both.idxmax()] = "east"
    neither = cohort.index[(cohort["os_event"] == 0) & (cohort["pfs_event"] == 0)][:WEST]
    edge[neither] = "west"
    return cohort.assign(site=site, site_edge=edge)


def main() -> None:
    cohort = pd.read_csv(HERE / "generated" / "cohort.csv", dtype={"surgery_date": str})
    out = HERE / "sites"
    out.mkdir(exist_ok=True)
    sites(cohort).to_csv(out / "cohort.csv", index=False, lineterminator="\n")
    print(f"wrote {out / 'cohort.csv'}")


if __name__ == "__main__":
    main()
