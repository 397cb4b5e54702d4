"""Dagster schedules, one module per domain."""
