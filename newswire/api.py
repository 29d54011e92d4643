"""The HTTP API: composes the features' routers (search, stories, alerts, feeds, ingest,
operations) into one FastAPI app; admin endpoints need a token (newswire/deps.py)."""

from __future__ import annotations

from fastapi import FastAPI

from newswire.alerts.api import router as alerts_router
from newswire.alerts.api import rules_router
from newswire.deps import install_error_handlers
from newswire.entities.api import router as entities_router
from newswire.events.api import router as events_router
from newswire.feeds.api import router as feeds_router
from newswire.ingest.api import router as ingest_router
from newswire.ops.api import router as ops_router
from newswire.search.api import router as search_router
from newswire.stories.api import router as stories_router
from newswire.web.api import router as web_router

app = FastAPI(
    title="newswire",
    version="0.1.0",
    description="Search ingested wire articles, list tracked actors and their alerts.",
)
install_error_handlers(app)
for router in (
    search_router,
    alerts_router,
    rules_router,
    ops_router,
    feeds_router,
    stories_router,
    events_router,
    ingest_router,
    entities_router,
):
    app.include_router(router)
app.include_router(web_router)
