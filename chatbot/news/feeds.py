"""Feed subscriptions: RSS/Atom feeds polled on an interval, their entries stored as full articles.

A ``Subscription`` lives in the store (``ArticleStore.feeds``), so it survives restarts and is
shared by every process using the same store. ``FeedManager.refresh`` polls every feed (a manual
refresh) or the due ones (``due_only``: the news desk's timer):

- the feed itself with a conditional GET (ETag / Last-Modified): a 304 costs one request and
  nothing else;
- each entry not seen before (or whose feed item changed) is followed to its article page and the
  full text is extracted; when the page cannot be read, the feed's own text is stored instead,
  marked with ``TEASER_MARK``, and the page is tried again at the next refresh;
- new and changed articles go through the ``Ingestor`` (so nothing is stored twice), and the
  result is reported per feed: added, updated, unchanged, failed (item and reason).

Every request goes through the SSRF-guarded ``Fetcher`` with its size and time limits; a broken,
slow or hostile feed gets a reason in its report and in ``last_error``, and the others go on.
"""

from __future__ import annotations

import builtins
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chatbot.codecs import subscription_from_json, subscription_to_json
from chatbot.common.ids import feed_key
from chatbot.errors import FeedError
from chatbot.index.ingest import Ingestor
from chatbot.index.store import ArticleStore
from chatbot.sources.feed_entries import FeedEntry, ParsedFeed, read_feed
from chatbot.sources.fetch import Fetcher, FetchError
from chatbot.sources.formats import MIN_HTML_TEXT
from chatbot.sources.live_blogs import live_blog_articles
from chatbot.sources.loaders import (
    MIN_ENTRY_TEXT,
    MIN_LINKLESS_TEXT,
    LoadFailure,
    article_from_page,
)
from chatbot.vocabulary import Article, FeedReport, RefreshReport, Subscription

log = logging.getLogger(__name__)

# Appended to an article stored from the feed's summary because its page could not be read.
TEASER_MARK = "[Feed summary only: the full article page could not be loaded.]"
# An entry whose page failed (or gave only the teaser) is tried again at most this many times
# while the feed says nothing new about it.
MAX_ATTEMPTS = 3
# Entries loaded per feed and refresh: a feed listing thousands of new entries (or a hostile one)
# is worked through over several refreshes instead of holding up the others for hours.
MAX_NEW_ENTRIES = 100
_EVERY_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(value: str | int | float) -> int:
    """Seconds from '30m', '1h', '6h', '1d', '90s' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = int(value)
    else:
        match = _EVERY_RE.match(str(value))
        if match is None:
            raise FeedError(f"Cannot read {value!r} as an interval; use e.g. 30m, 1h, 6h or 1d.")
        seconds = int(match[1]) * _UNITS[(match[2] or "s").lower()]
    if seconds < 1:
        raise FeedError(f"The interval must be at least one second (got {value!r}).")
    return seconds


@dataclass(frozen=True)
class _Loaded:
    entry: FeedEntry
    result: Article | LoadFailure | None  # None: abandoned (stopping)
    teaser_reason: str = ""
    requests: int = 0
    note: str = ""


class FeedManager:
    """Subscriptions (kept in the store) and their refresh. Thread-safe: the UI, the CLI and
    the desk's scheduler may call it at once; refreshes take turns."""

    def __init__(
        self,
        store: ArticleStore,
        fetcher: Fetcher,
        ingestor: Ingestor,
        *,
        default_every: str | int = "1h",
        workers: int = 4,
        max_new_entries: int = MAX_NEW_ENTRIES,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._max_new = max(1, max_new_entries)
        self._store = store
        self._fetcher = fetcher
        self._ingestor = ingestor
        self._default_every = parse_every(default_every)
        self._workers = max(1, workers)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()  # subscription records: read-modify-write
        self._refreshing = threading.Lock()  # one refresh at a time

    # --- subscriptions -------------------------------------------------------------------------

    def add(
        self, url: str, *, name: str | None = None, every: str | int | None = None
    ) -> Subscription:
        """Subscribe to ``url`` (or change the name/interval of an existing subscription)."""
        url = (url or "").strip()
        if not re.match(r"^https?://[^\s/?#]+", url, re.IGNORECASE):
            raise FeedError(f"{url or '(empty)'}: a feed URL must start with http:// or https://")
        seconds = None if every is None else parse_every(every)
        with self._lock:
            existing = self._get(feed_key(url))
            if existing is not None:
                sub = replace(existing, name=name or existing.name, every=seconds or existing.every)
            else:
                sub = Subscription(
                    url=url,
                    name=name or url,
                    every=seconds or self._default_every,
                    added_at=self._clock(),
                )
            self._store.feeds.put(sub.key, sub.url, subscription_to_json(sub))
            return sub

    def list(self) -> builtins.list[Subscription]:
        with self._lock:
            subs = []
            for key, state in self._store.feeds.states().items():
                try:
                    subs.append(subscription_from_json(state))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring unreadable feed record %s: %s", key, exc)
            return sorted(subs, key=lambda s: (s.name.lower(), s.url))

    def get(self, url: str) -> Subscription | None:
        with self._lock:
            return self._get(feed_key(url))

    def remove(self, url: str) -> bool:
        """Unsubscribe; the feed's stored articles stay."""
        with self._lock:
            return self._store.feeds.delete(feed_key(url.strip()))

    def _get(self, key: str) -> Subscription | None:
        state = self._store.feeds.states().get(key)
        return subscription_from_json(state) if state else None

    def _save(self, sub: Subscription) -> bool:
        """Store ``sub`` unless it was removed meanwhile (a refresh must not resurrect it)."""
        with self._lock:
            current = self._get(sub.key)
            if current is None:
                return False
            # The name and interval may have been changed while the refresh ran: keep those.
            sub = replace(sub, name=current.name, every=current.every)
            self._store.feeds.put(sub.key, sub.url, subscription_to_json(sub))
            return True

    # --- refresh ------------------------------------------------------------------------------

    def due(self) -> builtins.list[Subscription]:
        now = self._clock()
        return [s for s in self.list() if s.due(now)]

    def refresh(
        self,
        urls: Iterable[str] | None = None,
        *,
        due_only: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> RefreshReport:
        """Poll the named feeds (every subscribed feed when none are named). ``due_only`` keeps
        only those whose interval has passed: the desk's timer; a person who asks for a refresh
        means now, and the conditional GET keeps an unchanged feed at one 304. ``should_stop``
        is asked between steps: when it says yes, the remaining work is abandoned with nothing
        half-written."""
        stop = should_stop or (lambda: False)
        with self._refreshing:
            subs = self.list()
            if urls is not None:
                wanted = {feed_key(u) for u in urls}
                unknown = wanted - {s.key for s in subs}
                if unknown:
                    known = ", ".join(s.url for s in subs) or "none yet"
                    raise FeedError(
                        "Not subscribed: "
                        + ", ".join(u for u in urls if feed_key(u) in unknown)
                        + f". Add it with `chatbot feeds add URL`. Subscribed: {known}."
                    )
                subs = [s for s in subs if s.key in wanted]
            if due_only:
                now = self._clock()
                subs = [s for s in subs if s.due(now)]
            report = RefreshReport()
            for sub in subs:
                if stop():
                    report.feeds.append(FeedReport(sub.url, sub.name, status="abandoned"))
                    continue
                started = time.monotonic()
                try:
                    feed_report, new_sub = self._refresh_one(sub, stop)
                except Exception as exc:  # one feed's surprise must not stop the others
                    log.exception("refresh of %s failed", sub.url)
                    feed_report = FeedReport(sub.url, sub.name, status="failed")
                    feed_report.error = f"unexpected error: {type(exc).__name__}: {exc}"
                    new_sub = replace(sub, last_checked=self._clock(), last_error=feed_report.error)
                feed_report.seconds = time.monotonic() - started
                if new_sub is not None:
                    self._save(replace(new_sub, last_result=feed_report.summary()))
                report.feeds.append(feed_report)
                log.info("feed %s: %s", sub.url, feed_report.summary())
            return report

    def _refresh_one(
        self, sub: Subscription, stop: Callable[[], bool]
    ) -> tuple[FeedReport, Subscription | None]:
        report = FeedReport(sub.url, sub.name)
        now = self._clock()
        report.requests += 1
        # Entries whose page failed are retried even when the feed itself has not changed:
        # then the feed is read in full (no validators), as a 304 would say nothing to retry.
        conditional = not any(_retry(record) for record in sub.entries.values())
        try:
            page = self._fetcher.get(
                sub.url,
                etag=(sub.etag or None) if conditional else None,
                last_modified=(sub.last_modified or None) if conditional else None,
            )
        except FetchError as exc:
            report.status, report.error = "failed", exc.reason
            retry_at = now + timedelta(seconds=exc.retry_after) if exc.retry_after else None
            return report, replace(sub, last_checked=now, last_error=exc.reason, retry_at=retry_at)
        if page.not_modified:
            report.status = "not modified"
            report.unchanged = len(sub.entries)
            return report, _succeeded(
                sub,
                now,
                etag=page.etag or sub.etag,
                last_modified=page.last_modified or sub.last_modified,
            )
        parsed = read_feed(page.content, url=sub.url)
        if isinstance(parsed, LoadFailure):
            report.status, report.error = "failed", parsed.reason
            return report, replace(sub, last_checked=now, last_error=parsed.reason, retry_at=None)
        if not parsed.entries:
            report.notes.append((sub.url, "the feed has no entries"))

        entries, work = self._plan(sub, parsed, report)
        started = time.monotonic()
        with ThreadPoolExecutor(self._workers, thread_name_prefix="feed-page") as pool:
            loaded = list(pool.map(lambda e: self._load(e, parsed, stop, now), work))
        report.load_seconds = time.monotonic() - started
        report.requests += sum(x.requests for x in loaded)
        if stop():
            report.status = "abandoned"
            return report, None  # nothing stored, state untouched: the next refresh redoes it

        self._store_loaded(sub, loaded, entries, report, now)
        return report, _succeeded(
            sub,
            now,
            # With entries left for later, the next poll must read the feed, not get a 304.
            etag="" if report.postponed else page.etag,
            last_modified="" if report.postponed else page.last_modified,
            entries=entries,
            articles_added=sub.articles_added + len(report.added),
        )

    def _plan(
        self, sub: Subscription, parsed: ParsedFeed, report: FeedReport
    ) -> tuple[dict[str, dict[str, Any]], builtins.list[FeedEntry]]:
        """Which entries need loading: new ones, changed ones, and earlier failures or teasers
        not yet tried ``MAX_ATTEMPTS`` times. The rest keep their records untouched."""
        entries: dict[str, dict[str, Any]] = {}
        work: builtins.list[FeedEntry] = []
        listed = set()
        for entry in parsed.entries:
            if entry.key in listed:
                continue  # the same entry twice in one document
            listed.add(entry.key)
            old = sub.entries.get(entry.key)
            if old and old.get("fp") == entry.fingerprint and not _retry(old):
                entries[entry.key] = old
                if old.get("id"):
                    report.unchanged += 1
                continue
            if old:
                entries[entry.key] = old  # replaced below once the entry is loaded again
            if len(work) < self._max_new:
                work.append(entry)
            else:
                report.postponed += 1  # not recorded as seen: the next refresh takes it
        report.removed = len(set(sub.entries) - listed)
        if report.postponed:
            report.notes.append(
                (
                    sub.url,
                    f"{report.postponed} more entries are left for the next refresh "
                    f"(at most {self._max_new} per refresh)",
                )
            )
        return entries, work

    def _load(
        self, entry: FeedEntry, parsed: ParsedFeed, stop: Callable[[], bool], now: datetime
    ) -> _Loaded:
        """The entry's article: from its page, else (marked) from the feed's own text."""
        if stop():
            return _Loaded(entry, None)
        label = entry.link or f"entry {entry.title or entry.key!r}"
        if not entry.link:
            if len(entry.text) >= MIN_LINKLESS_TEXT:
                complete = len(entry.text) >= MIN_ENTRY_TEXT
                text = entry.text if complete else f"{entry.text}\n\n{TEASER_MARK}"
                return _Loaded(entry, self._article(entry, parsed, text, None, now))
            detail = f" (only {len(entry.text)} characters)" if entry.text else ""
            return _Loaded(
                entry, LoadFailure(label, f"the entry has no link and no text to load{detail}")
            )
        try:
            page = self._fetcher.get(entry.link)
        except FetchError as exc:
            return self._teaser(entry, parsed, exc.reason, now, requests=1)
        found = article_from_page(page, name=entry.link)
        if isinstance(found, LoadFailure):
            return self._teaser(entry, parsed, found.reason, now, requests=1)
        return _Loaded(entry, self._article(entry, parsed, found.text, found, now), requests=1)

    def _teaser(
        self, entry: FeedEntry, parsed: ParsedFeed, reason: str, now: datetime, *, requests: int
    ) -> _Loaded:
        if len(entry.text) >= MIN_HTML_TEXT:
            text = f"{entry.text}\n\n{TEASER_MARK}"
            article = self._article(entry, parsed, text, None, now)
            return _Loaded(entry, article, teaser_reason=reason, requests=requests)
        failure = LoadFailure(entry.link, f"entry {entry.title!r}: {reason}")
        return _Loaded(entry, failure, requests=requests)

    @staticmethod
    def _article(
        entry: FeedEntry, parsed: ParsedFeed, text: str, page: Article | None, now: datetime
    ) -> Article:
        # The feed's metadata is usually cleaner than a page scrape's; the page fills gaps.
        published = entry.published_at or (page.published_at if page else None)
        return Article.create(
            title=entry.title or (page.title if page else "") or text.split("\n", 1)[0][:120],
            text=text,
            source=(page.source if page else "") or parsed.source,
            authors=entry.authors or (page.authors if page else ()),
            published_at=published,
            url=(page.url if page else None) or entry.link or None,
            language=entry.language or (page.language if page else None),
        )

    def _store_loaded(
        self,
        sub: Subscription,
        loaded: builtins.list[_Loaded],
        entries: dict[str, dict[str, Any]],
        report: FeedReport,
        now: datetime,
    ) -> None:
        stamp = now.isoformat()
        articles: builtins.list[Article] = []
        parts: dict[int, builtins.list[Article]] = {}
        for i, item in enumerate(loaded):
            result = item.result
            if isinstance(result, Article) and result.published_at is None:
                # Undated everywhere: dated when first seen (kept, so the content stays stable).
                first = (entries.get(item.entry.key) or {}).get("seen") or stamp
                result = replace(result, published_at=datetime.fromisoformat(first))
                note = "no date in the feed or on the page: dated when first seen"
                report.notes.append((item.entry.link or result.title, note))
                loaded[i] = replace(item, result=result)
            if isinstance(result, Article):
                # A live blog's page: its entries, each at its own time.
                parts[i] = live_blog_articles(result) or [result]
                articles.extend(parts[i])
        ingest = self._ingestor.ingest(articles) if articles else None
        added = set(ingest.added) if ingest else set()
        updated = set(ingest.updated) if ingest else set()
        stored = added | updated | (set(ingest.unchanged) if ingest else set())
        for i, item in enumerate(loaded):
            old = entries.get(item.entry.key) or {}
            record = {"fp": item.entry.fingerprint, "seen": old.get("seen") or stamp}
            result = item.result
            attempts = int(old.get("attempts", 0)) if old.get("fp") == item.entry.fingerprint else 0
            kept = [a for a in parts.get(i, ()) if a.id in stored]
            if isinstance(result, Article) and (kept or _duplicate(result, ingest)):
                record["id"] = kept[0].id if kept else result.id
                for article in kept or [result]:
                    if article.id in added:
                        report.added.append(article.id)
                    elif article.id in updated:
                        report.updated.append(article.id)
                    else:
                        report.unchanged += 1
                if item.teaser_reason:
                    record.update(teaser=True, attempts=attempts + 1)
                    report.teasers.append((item.entry.link, item.teaser_reason))
            else:
                reason = result.reason if isinstance(result, LoadFailure) else "not stored"
                where = result.item if isinstance(result, LoadFailure) else item.entry.link
                report.failed.append((where, reason))
                record.update(failed=True, attempts=attempts + 1)
                if old.get("id"):
                    record["id"] = old["id"]
            entries[item.entry.key] = record


def _succeeded(sub: Subscription, now: datetime, **changes: Any) -> Subscription:
    """The subscription after a poll that read the feed: no error, no retry pending."""
    return replace(sub, last_checked=now, last_success=now, last_error="", retry_at=None, **changes)


def _retry(record: dict[str, Any]) -> bool:
    """Whether an entry stored from its teaser, or not stored, should be loaded again."""
    failed = record.get("teaser") or record.get("failed")
    return bool(failed) and int(record.get("attempts", 0)) < MAX_ATTEMPTS


def _duplicate(article: Article, ingest: Any) -> bool:
    """Two entries of one feed may link the same page: the second is the first's article."""
    label = article.url or article.title or article.id
    return ingest is not None and any(item == label for item, _ in ingest.skipped)
