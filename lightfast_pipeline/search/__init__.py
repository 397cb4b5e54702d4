"""Search over a workspace's stores."""
