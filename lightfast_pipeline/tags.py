"""Run tags: Dagster's run history is the jobs record, and these tags carry its fields."""

TRIGGER = "lightfast/trigger"  # manual | scheduled | webhook | automatic
USER = "lightfast/user"
WORKSPACE = "lightfast/workspace"  # workspace slug
REPOSITORY = "lightfast/repository"  # repository uid (= partition key)
REPOSITORY_NAME = "lightfast/repository_name"
DELIVERY = "lightfast/delivery"
FULL_REINDEX = "lightfast/full"
CANCELLED_BY = "lightfast/cancelled_by"

TRIGGERS = ("manual", "scheduled", "webhook", "automatic")
