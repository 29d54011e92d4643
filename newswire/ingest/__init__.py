"""Ingestion: the batch orchestration over the pipeline stages, dedup claims and dead
letters, headline translation, `newswire ingest` and the admin ingest endpoints."""
