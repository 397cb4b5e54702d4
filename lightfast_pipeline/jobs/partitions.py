"""Partitions: one per connected repository (key = the repository's catalog uid)."""

from dagster import DynamicPartitionsDefinition

REPOSITORIES_PARTITION = "repositories"

repositories_partitions = DynamicPartitionsDefinition(name=REPOSITORIES_PARTITION)
