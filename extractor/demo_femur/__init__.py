"""The second bundled demo cohort: proximal femur endoprostheses (config/study-proximal-femur.toml)."""
