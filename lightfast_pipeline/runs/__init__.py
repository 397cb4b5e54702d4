"""Runs: the jobs API over Dagster's run history, and launching the ingestion job."""
