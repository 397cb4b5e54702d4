"""Organisations, workspaces and the repositories connected to them."""
