"""Pure, typed pipeline stages: parse, normalise, dedup keys, language, entities, queries.

Nothing in this package talks to Redis, Elasticsearch or Celery; every stage is a plain function
over plain data so it can be unit-tested and benchmarked without services.
"""
