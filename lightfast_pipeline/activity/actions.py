"""The vocabulary of activity actions (entity type in comments). Use these constants, never literals."""

WORKSPACE_CREATED = "workspace.created"  # workspace
REPOSITORY_CONNECTED = "repository.connected"  # repository
REPOSITORY_DISCONNECTED = "repository.disconnected"  # repository
REPOSITORY_RENAMED = "repository.renamed"  # repository
REPOSITORY_TRANSFERRED = "repository.transferred"  # repository
REPOSITORY_ARCHIVED = "repository.archived"  # repository
REPOSITORY_UNARCHIVED = "repository.unarchived"  # repository
REPOSITORY_DELETED = "repository.deleted"  # repository
REPOSITORY_VISIBILITY_CHANGED = "repository.visibility_changed"  # repository
CONFIG_DETECTED = "config.detected"  # repository (status = result, message = detection message)
REINDEX_REQUESTED = "reindex.requested"  # repository (manual ingest)
JOB_CANCELLED = "job.cancelled"  # run
INDEX_REPAIRED = "index.repaired"  # repository (before = drift counts, impact = vectors embedded/deleted)
INSTALLATION_CREATED = "installation.created"  # integration
INSTALLATION_DELETED = "installation.deleted"  # integration
INSTALLATION_SUSPENDED = "installation.suspended"  # integration
INSTALLATION_UNSUSPENDED = "installation.unsuspended"  # integration
INSTALLATION_REPOSITORIES_ADDED = "installation.repositories_added"  # integration
INSTALLATION_REPOSITORIES_REMOVED = "installation.repositories_removed"  # integration
STORE_CREATED = "store.created"  # store
STORE_REBUILT = "store.rebuilt"  # store
DELIVERY_RECEIVED = "delivery.received"  # delivery (status/reason updated with what it caused)
RUN_FAILED = "run.failed"  # run
HEALTH_CHANGED = "health.changed"  # workspace | store | source (before/after = levels)
API_KEY_CREATED = "api_key.created"  # api_key
API_KEY_REVOKED = "api_key.revoked"  # api_key
INSTALLATION_VALIDATED = "installation.validated"  # integration (impact = added/removed repositories)

# Timeline only (never recorded): a Dagster run, with its live status from the instance.
JOB_RUN = "job.run"  # run
# Activity rows that describe how a run ended: the timeline shows such a run through this row only.
RUN_OUTCOMES = (RUN_FAILED, JOB_CANCELLED)
