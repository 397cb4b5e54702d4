"""GitHub services: what a delivery means, connecting repositories through the App."""
