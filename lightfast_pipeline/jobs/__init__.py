"""Dagster jobs and the partitions they run on."""
