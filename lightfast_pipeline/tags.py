"""Run tags: Dagster's run history is the jobs record, and these tags carry its fields."""

TRIGGER = "lightfast/trigger"  # manual | scheduled | webhook | automatic
USER = "lightfast/user"
WORKSPACE = "lightfast/workspace"  # workspace slug
REPOSITORY = "lightfast/repository"  # repository uid (= partition key)
REPOSITORY_NAME = "lightfast/repository_name"
DELIVERY = "lightfast/delivery"
FULL_REINDEX = "lightfast/full"
CANCELLED_BY = "lightfast/cancelled_by"
WAREHOUSE = "lightfast/warehouse"  # the metrics jobs (one DuckDB writer): at most one such run in the run queue

TRIGGERS = ("manual", "scheduled", "webhook", "automatic")
