"""Application shell around the pure pipeline: settings, Redis and Elasticsearch stores, ingest
service, HTTP fetching, the CLI and the HTTP API."""
