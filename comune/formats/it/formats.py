# Dates as Italians write them, "giovedì 3 dicembre 2026": the day without a leading zero and
# the weekday in full; Django's own Italian formats give "03 Dicembre 2026". The names are
# lower case through the project's catalogue (locale/it), which Django reads before its own.
DATE_FORMAT = "l j F Y"
DATETIME_FORMAT = "l j F Y, H:i"
MONTH_DAY_FORMAT = "j F"
