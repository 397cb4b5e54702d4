"""One ingestion run, as plain Python over the catalog, source, embedder and store."""
