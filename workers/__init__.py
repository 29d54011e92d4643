"""Celery application, tasks and beat schedule: thin wrappers over newswire.ingest and feeds."""
