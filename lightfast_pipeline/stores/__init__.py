"""Stores: a workspace's vector namespace and its rebuild."""
