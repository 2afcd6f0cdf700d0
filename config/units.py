"""Units shared by every stage: one month is 365.25 / 12 = 30.4375 days, everywhere a time is in months."""

DAYS_PER_MONTH = 30.4375
