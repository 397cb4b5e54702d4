"""The metrics schedule: a warehouse rebuild every 15 minutes."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from lightfast_pipeline.jobs.metrics import rebuild_metrics_job

warehouse_schedule = ScheduleDefinition(
    name="warehouse_every_15_minutes",
    job=rebuild_metrics_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
