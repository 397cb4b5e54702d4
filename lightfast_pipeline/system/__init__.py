"""Facts about this host (processes)."""
