"""One router per domain; each calls the services the CLI calls."""
