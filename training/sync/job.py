"""One poll of a followed site: read its changes, decide what each means for the model, publish, remember.

The poll reads everything first (the changes since the cursor, then, when the site's count of published
posts disagrees with the state, the id listing), then applies all of it as one update through
`update_published` (the path of `relatedly update`/`remove`), then writes the state. A site that fails
or answers garbage at any step raises before anything is published, so the served model never changes
because of it; the failure is counted in the state, and the next poll reads the same window again.

A post the site stops listing (draft, private, trash, deleted) is *withdrawn*: it leaves every list like
a `relatedly remove`, but is not recorded as a takedown, so when the site lists it again it is served
again. An editor's `relatedly remove` stays permanent: sync's updates of such a post are refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publishing.announce import announce_publish
from publishing.updates import update_published
from recommender import artifacts
from recommender.corpus import Article, load_corpus
from recommender.errors import ArtifactError, CorpusError, RelatedlyError
from storage import Database
from storage.sync_state import (
    SERVED,
    WITHDRAWN,
    WITHHELD,
    PostState,
    SourceState,
    listed_ids,
    load_posts,
    load_source,
    record_failure,
    save_poll,
)
from training.importer import article_record
from training.sync.http import FetchError, StopRequested
from training.sync.sites import Changes, Entry, Site, one_second_after

log = logging.getLogger("relatedly.sync")


@dataclass(frozen=True)
class SyncOptions:
    """Where to publish and how much one poll may take on."""

    models_dir: str
    keep_versions: int = 5
    max_posts: int = 50_000
    since: str | None = None  # the first poll's cursor (UTC `YYYY-MM-DDTHH:MM:SS`): skip older changes
    redis_url: str | None = None
    jobs: int = -1


@dataclass(frozen=True)
class PollReport:
    """What one poll did, for the log line, the CLI's summary and tests."""

    fetched: int
    upserted: list[str]
    withdrawn: list[str]
    refused: list[str]
    unchanged: int
    version: str | None  # the version published, None when nothing changed
    previous: str | None
    retrain_recommended: bool
    complete: bool  # False: more changes than --max-posts, the next poll continues
    requests: int
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)  # fetch, read, listing, publish, save


@dataclass
class _Plan:
    """The poll's decisions: articles to add or replace, ids to withdraw, and the posts' new states."""

    posts: dict[str, PostState]
    catalogue: set[str]  # the ids the current model serves: an imported post is withdrawn like a synced one
    upserts: dict[str, Article] = field(default_factory=dict)
    withdrawals: set[str] = field(default_factory=set)
    changed: dict[str, PostState] = field(default_factory=dict)
    unchanged: int = 0

    def state_of(self, article_id: str) -> PostState | None:
        return self.changed.get(article_id) or self.posts.get(article_id)

    def mark(self, article_id: str, post: PostState) -> None:
        self.changed[article_id] = post

    def take(self, entries: list[Entry], articles: list[Article]) -> None:
        """Decide for each listed post: unchanged, add/replace, withdraw, or keep out (not servable)."""
        by_id = {article.id: article for article in articles}
        seen: set[str] = set()
        for entry in entries:
            if entry.article_id in seen:  # a listing paged while the site changed repeats a post: the first is newest
                continue
            seen.add(entry.article_id)
            before = self.state_of(entry.article_id)
            article = by_id.get(entry.article_id)
            if article is None:  # not servable, or invalid (logged by the reader): out of the lists
                if entry.servable and self._serves(entry.article_id, before):
                    if before is None:  # imported: the post is the site's
                        self.mark(entry.article_id, PostState(SERVED, None, entry.changed_at))
                    continue  # an edit that broke the post (no title…): the last good version keeps serving
                self._withdraw(entry.article_id, before)
                self.mark(entry.article_id, PostState(WITHHELD, None, entry.changed_at))
                continue
            digest = _digest(article)
            if before is not None and before.state == SERVED and before.content_sha256 == digest:
                self.unchanged += 1
                continue
            self.withdrawals.discard(article.id)
            self.upserts[article.id] = article
            self.mark(article.id, PostState(SERVED, digest, entry.changed_at))

    def withdraw(self, article_id: str) -> None:
        self._withdraw(article_id, self.state_of(article_id))
        self.mark(article_id, PostState(WITHDRAWN))

    def _withdraw(self, article_id: str, before: PostState | None) -> None:
        self.upserts.pop(article_id, None)
        if self._serves(article_id, before):
            self.withdrawals.add(article_id)

    def _serves(self, article_id: str, before: PostState | None) -> bool:
        return (before is not None and before.state == SERVED) or article_id in self.catalogue

    def listed(self) -> set[str]:
        return listed_ids({**self.posts, **self.changed})


def sync_once(site: Site, database: Database, options: SyncOptions) -> PollReport:
    """Poll the site once and publish what changed; on failure count it in the state and raise."""
    state = load_source(database, site.source)
    started, requests = time.perf_counter(), site.fetcher.requests
    try:
        report, new_state, changed = _poll(site, database, state, options)
    except StopRequested:
        raise
    except (RelatedlyError, OSError) as exc:  # the site, its answers, the models directory: nothing published
        record_failure(database, state, str(exc))
        log.error("sync_failed source=%s kind=%s error=%r (the served model is unchanged)", site.source, site.kind,
                  str(exc))
        raise
    saving = time.perf_counter()
    save_poll(database, new_state, changed)
    report.stage_seconds["save"] = time.perf_counter() - saving
    report = dataclasses.replace(report, requests=site.fetcher.requests - requests,
                                 seconds=time.perf_counter() - started)
    log.info("sync_poll source=%s kind=%s fetched=%d upserted=%d withdrawn=%d refused=%d unchanged=%d version=%s "
             "complete=%s requests=%d seconds=%.2f %s", site.source, site.kind, report.fetched, len(report.upserted),
             len(report.withdrawn), len(report.refused), report.unchanged, report.version or "-", report.complete,
             report.requests, report.seconds,
             " ".join(f"{stage}_seconds={seconds:.2f}" for stage, seconds in report.stage_seconds.items()))
    if report.retrain_recommended:
        log.warning("retrain_recommended source=%s (many articles added since the last full fit)", site.source)
    return report


def _poll(site: Site, database: Database, state: SourceState,
          options: SyncOptions) -> tuple[PollReport, SourceState, dict[str, PostState]]:
    current = artifacts.read_current(options.models_dir)
    if current is None:
        raise ArtifactError(f"no model published in {options.models_dir}: run 'relatedly train' first")
    catalogue = set(artifacts.read_article_ids(options.models_dir, current))
    if state.cursor is None and state.backlog_before is None and options.since:
        state = state.replace(cursor=options.since)
    plan = _Plan(load_posts(database, site.source), catalogue)
    stages, mark = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        stages[stage], mark = time.perf_counter() - mark, time.perf_counter()

    changes = site.changes(state, options.max_posts)
    lap("fetch")
    _take(site, plan, changes, options)
    lap("read")
    fetched = len(changes.entries) if changes.entries is not None else len(plan.upserts) + plan.unchanged
    if site.lists_ids and changes.complete:
        fetched += _reconcile(site, plan, catalogue, options)
        lap("listing")

    previous, version, retrain, refused = current, None, state.retrain_recommended, []
    if plan.upserts or plan.withdrawals:
        result = update_published(options.models_dir, list(plan.upserts.values()),
                                  withdrawals=sorted(plan.withdrawals), keep_versions=options.keep_versions)
        announce_publish(options.redis_url, result.version)
        version, retrain, refused = result.version, bool(result.drift.get("retrain_recommended")), \
            result.summary.refused
        for article_id in refused:  # an editor's permanent takedown wins over the site
            plan.mark(article_id, PostState(WITHHELD, plan.changed[article_id].content_sha256,
                                            plan.changed[article_id].changed_at))
        current = result.version
        lap("publish")
    upserted = [a for a in plan.upserts if a not in set(refused)]
    new_state = _advanced(state, changes).replace(
        polls=state.polls + 1, consecutive_failures=0, last_success_at=datetime.now(UTC), last_error=None,
        posts_upserted=state.posts_upserted + len(upserted),
        posts_withdrawn=state.posts_withdrawn + len(plan.withdrawals),
        last_version=current, retrain_recommended=retrain,
    )
    report = PollReport(fetched, upserted, sorted(plan.withdrawals), refused, plan.unchanged, version, previous,
                        retrain, changes.complete, 0, 0.0, stages)
    return report, new_state, plan.changed


def _take(site: Site, plan: _Plan, changes: Changes, options: SyncOptions) -> None:
    """Read the pages with the import's readers, then let the plan decide post by post."""
    articles = _read_pages(site, changes, options)
    entries = changes.entries if changes.entries is not None else [Entry(a.id, None) for a in articles]
    plan.take(entries, articles)


def _reconcile(site: Site, plan: _Plan, catalogue: set[str], options: SyncOptions) -> int:
    """Compare what the site lists with what the state says it lists: withdraw what left, add what came.

    One request when the counts agree and the model holds every post served; else the full id listing.
    Returns how many posts were fetched for it.
    """
    listed = plan.listed()
    lost = {a for a, post in {**plan.posts, **plan.changed}.items()
            if post.state == SERVED and a not in catalogue and a not in plan.upserts}  # e.g. a retrain
    if site.listed_count() == len(listed) and not lost:
        return 0
    published = site.listed_ids()
    gone = listed - published
    if gone:
        gone -= site.still_listed(gone)  # the listing was paged while the site changed
    for article_id in sorted(gone):
        plan.withdraw(article_id)
    appeared = published - listed
    for article_id in sorted(appeared & catalogue):  # imported from an export: served already
        plan.mark(article_id, PostState(SERVED))
    for article_id in lost:
        plan.posts.pop(article_id, None)
        plan.changed.pop(article_id, None)
    missing = sorted((appeared - catalogue) | lost)[: options.max_posts]
    log.info("sync_listing source=%s published=%d known=%d gone=%d appeared=%d fetching=%d", site.source,
             len(published), len(listed), len(gone), len(appeared), len(missing))
    if not missing:
        return 0
    changes = site.fetch(missing)
    _take(site, plan, changes, options)
    return len(changes.entries or ())


def _read_pages(site: Site, changes: Changes, options: SyncOptions) -> list[Article]:
    """The pages' articles, read by `relatedly import`'s readers from the saved responses."""
    if not changes.pages:
        return []
    with tempfile.TemporaryDirectory(prefix="relatedly-sync-") as spool:
        files = []
        for number, body in enumerate(changes.pages, start=1):
            path = Path(spool) / f"page-{number:05d}{site.page_suffix}"
            path.write_bytes(body)
            files.append(path)
        try:
            corpus = load_corpus(files, skip_invalid=True, options=site.reader_options(), jobs=options.jobs,
                                 allow_empty=True)
        except CorpusError as exc:
            raise FetchError(f"{_page_url(str(exc), files, changes)}: cannot be read: {exc}") from None
    duplicates = 0
    for problem in corpus.problems:
        if "duplicate id" in problem.reason:
            duplicates += 1  # a listing paged while the site changed: the first (newest) is kept
        else:
            log.warning("sync_item_skipped source=%s page=%s reason=%r", site.source,
                        _page_url(problem.path, files, changes), problem.reason)
    return corpus.articles


def _page_url(text: str, files: list[Path], changes: Changes) -> str:
    """The URL of the page a file name in `text` stands for (messages name URLs, not spool files)."""
    for path, url in zip(files, changes.urls, strict=True):
        if str(path) in text:
            return url
    return changes.urls[0]


def _advanced(state: SourceState, changes: Changes) -> SourceState:
    """The state's cursor after a poll: the newest change read once the window is read to its end, else a
    backlog (the window's older part, below the oldest change read) for the next poll to continue."""
    state = state.replace(etag=changes.etag, last_modified=changes.last_modified)
    times = [e.changed_at for e in changes.entries or () if e.changed_at]
    if not times:
        if changes.complete and state.backlog_before is not None:
            return state.replace(cursor=state.backlog_top, backlog_before=None, backlog_top=None)
        return state
    newest = max(times)
    top = max(filter(None, [state.backlog_top, state.cursor, newest]))
    if changes.complete:
        return state.replace(cursor=top, backlog_before=None, backlog_top=None)
    before = one_second_after(min(times))  # the oldest second read may hold more posts: read it again
    if state.backlog_before is not None and before >= state.backlog_before:
        raise FetchError(f"more than --max-posts posts changed within the second {min(times)}: raise --max-posts")
    return state.replace(backlog_before=before, backlog_top=top)


def _digest(article: Article) -> str:
    """The article as read, hashed: an unchanged post is not applied again."""
    text = json.dumps(article_record(article), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
