"""Search: the Elasticsearch store (indices, aliases, writes), the search service, CLI, API."""
