"""Asset checks, one module per domain."""
