"""API keys: workspace-scoped bearer keys, stored only as hashes."""
