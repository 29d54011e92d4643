"""Elasticsearch access: index setup from config/elasticsearch, the articles alias, bulk writes,
search. Actors and alerts live in newswire/alerts/store.py on the same client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers

from newswire.backends import RETRY_LATER_STATUSES, Unavailable
from newswire.settings import Settings

log = structlog.get_logger(__name__)


def load_mapping_file(path: Path) -> dict[str, Any]:
    """A mapping file from config/elasticsearch without its human-only `_comment` keys."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    document.pop("_comment", None)
    return document


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Per-document outcome of a create-only bulk write."""

    created: list[str]
    existed: list[str]
    failed: dict[str, str]
    # The other actions of the same request, by id: (HTTP status, error reason or "").
    also: dict[str, tuple[int, str]] = field(default_factory=dict)


class SearchStore:
    """Every index the project uses, addressed through aliases and names built from settings."""

    def __init__(self, es: Elasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings
        self._articles_template = load_mapping_file(settings.mappings_dir / "articles.json")

    @classmethod
    def from_settings(cls, settings: Settings) -> SearchStore:
        client = Elasticsearch(settings.es_url, request_timeout=30, retry_on_timeout=True)
        return cls(client, settings)

    @property
    def article_fields(self) -> frozenset[str]:
        """Top-level fields the mapping declares; documents may carry nothing else."""
        return frozenset(self._articles_template["template"]["mappings"]["properties"])

    @property
    def template_version(self) -> int:
        return int(self._articles_template["version"])

    # -- setup --------------------------------------------------------------------------
    def _put_template(self) -> None:
        alias = self.settings.articles_alias
        template = dict(self._articles_template["template"])
        # The version travels in each index's mapping, so a stale index can be recognised.
        template["mappings"] = {**template["mappings"], "_meta": {"version": self.template_version}}
        self.es.indices.put_index_template(
            name=alias,
            index_patterns=[f"{alias}-v*"],
            template=template,
            version=self.template_version,
            priority=100,
            meta={"managed_by": "newswire"},
        )

    def current_index(self) -> tuple[str, int | None]:
        """The concrete articles index behind the alias, and the mapping version it was built at."""
        alias = self.settings.articles_alias
        index = next(iter(self.es.indices.get_alias(name=alias)))
        mapping = self.es.indices.get_mapping(index=index)[index]["mappings"]
        version = mapping.get("_meta", {}).get("version")
        return index, int(version) if version is not None else None

    def ensure_indices(self) -> None:
        """Create the template, the versioned articles index behind its alias, actors, alerts.

        An existing index built from an older mapping is left alone, with a warning that
        `newswire reindex` moves it to the current one.
        """
        alias = self.settings.articles_alias
        self._put_template()
        if self.es.indices.exists_alias(name=alias):
            index, version = self.current_index()
            if version != self.template_version:
                log.warning(
                    "articles index is older than the mapping; run `newswire reindex`",
                    index=index,
                    index_version=version,
                    mapping_version=self.template_version,
                )
        else:
            index = f"{alias}-v{self.template_version}"
            try:
                self.es.indices.create(index=index, aliases={alias: {"is_write_index": True}})
            except ApiError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise
        for name, file_name in (
            (self.settings.actors_index, "actors.json"),
            (self.settings.alerts_index, "alerts.json"),
        ):
            if not self.es.indices.exists(index=name):
                mapping = load_mapping_file(self.settings.mappings_dir / file_name)
                try:
                    self.es.indices.create(
                        index=name,
                        mappings=mapping["mappings"],
                        settings={"number_of_shards": 1, "number_of_replicas": 0},
                    )
                except ApiError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Rebuild the articles index from the current mapping without downtime.

        Builds a new concrete index (no replicas, no refresh) and makes it the alias's write
        index at once, so nothing written during the copy is lost; copies every document of
        the old index into it (client-side scroll + bulk, keeping only fields the new mapping
        has; create-only, so a document rewritten meanwhile keeps its new version); restores
        the settings; then takes the old index out of the alias and deletes it. During the
        copy, searches see both indices (a document may show twice) and GET by id through
        the alias is refused by Elasticsearch.
        """
        alias = self.settings.articles_alias
        self._put_template()
        old, _ = self.current_index()
        new = f"{alias}-v{self.template_version}-{datetime.now(UTC):%Y%m%d%H%M%S}"
        settings = self._articles_template["template"]["settings"]
        self.es.indices.create(
            index=new, settings={"number_of_replicas": 0, "refresh_interval": "-1"}
        )
        self.es.indices.update_aliases(
            actions=[
                {"add": {"index": old, "alias": alias, "is_write_index": False}},
                {"add": {"index": new, "alias": alias, "is_write_index": True}},
            ]
        )
        self.es.indices.refresh(index=old)  # the last second's writes are not searchable yet
        total = int(self.es.count(index=old)["count"])
        fields = self.article_fields
        copied = 0

        def actions() -> Iterator[dict[str, Any]]:
            nonlocal copied
            for hit in helpers.scan(self.es, index=old, size=500, preserve_order=False):
                copied += 1
                if progress and copied % 500 == 0:
                    progress(copied, total)
                source = {k: v for k, v in hit["_source"].items() if k in fields}
                yield {"_op_type": "create", "_index": new, "_id": hit["_id"], "_source": source}

        for ok, item in helpers.streaming_bulk(self.es, actions(), raise_on_error=False):
            if not ok and item["create"].get("status") != 409:
                raise RuntimeError(f"reindex failed on {item['create'].get('_id')}: {item}")
        if progress:
            progress(copied, total)
        self.es.indices.put_settings(
            index=new,
            settings={
                "number_of_replicas": settings.get("number_of_replicas", 1),
                "refresh_interval": settings.get("refresh_interval", "1s"),
            },
        )
        self.es.indices.refresh(index=new)
        self.es.indices.update_aliases(actions=[{"remove": {"index": old, "alias": alias}}])
        self.es.indices.delete(index=old)
        return new

    def drop_all(self) -> None:
        """Delete every index under the prefix, by name (clusters refuse wildcard deletes)."""
        names = list(self.es.indices.get(index=f"{self.settings.index_prefix}-*"))
        if names:
            self.es.indices.delete(index=",".join(names))
        if self.es.indices.exists_index_template(name=self.settings.articles_alias):
            self.es.indices.delete_index_template(name=self.settings.articles_alias)

    # -- articles ---------------------------------------------------------------------
    def create_articles(
        self, documents: Sequence[dict[str, Any]], *, also: Sequence[dict[str, Any]] = ()
    ) -> WriteResult:
        """Create-only bulk write keyed by doc_id: a conflict means "already have it".

        `also` are further bulk actions of the same batch (its alert records), sent in the same
        request: one request, and one translog fsync, per batch. Their outcomes are in
        `WriteResult.also`, by id.
        """
        actions = [
            {
                "_op_type": "create",
                "_index": self.settings.articles_alias,
                "_id": doc["doc_id"],
                "_source": doc,
            }
            for doc in documents
        ]
        created: list[str] = []
        existed: list[str] = []
        failed: dict[str, str] = {}
        also_outcomes: dict[str, tuple[int, str]] = {}
        refused = 0
        if not actions and not also:
            return WriteResult(created=created, existed=existed, failed=failed)
        # The bulk answer lists the items in the order sent: the articles, then `also`.
        outcomes = helpers.streaming_bulk(
            self.es,
            [*actions, *also],
            # Everything in one request: a batch is 16 articles, far under these limits.
            chunk_size=len(actions) + len(also),
            max_chunk_bytes=512 * 1024 * 1024,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=3,
            initial_backoff=1,
        )
        for position, (ok, item) in enumerate(outcomes):
            info = next(iter(item.values()))
            error = info.get("error") or {}
            reason = f"{error.get('type')}: {error.get('reason')}"
            if position >= len(actions):
                also_outcomes[info["_id"]] = (int(info.get("status") or 0), "" if ok else reason)
            elif ok:
                created.append(info["_id"])
            elif info.get("status") == 409:
                existed.append(info["_id"])
            else:
                failed[info["_id"]] = reason
                refused += info.get("status") in RETRY_LATER_STATUSES
        if refused:
            # Still refused after the client's own retries (a read-only block at the disk
            # watermark, a full write queue): the batch waits and is retried whole, as for an
            # outage, instead of dead-lettering articles that only came at a bad time.
            raise Unavailable(f"{refused} writes refused: {next(iter(failed.values()))}"[:300])
        return WriteResult(created=created, existed=existed, failed=failed, also=also_outcomes)

    def get_article(self, doc_id: str) -> dict[str, Any] | None:
        try:
            response = self.es.get(index=self.settings.articles_alias, id=doc_id)
        except NotFoundError:
            return None
        source: dict[str, Any] = response["_source"]
        return source

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.es.search(index=self.settings.articles_alias, body=body))

    def count(self) -> int:
        return int(self.es.count(index=self.settings.articles_alias)["count"])

    def refresh(self) -> None:
        self.es.indices.refresh(index=f"{self.settings.index_prefix}-*")
