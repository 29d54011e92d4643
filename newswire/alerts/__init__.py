"""Alerts on tracked actors: actors and alerts in Elasticsearch, their CLI and API."""
