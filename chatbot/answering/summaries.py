"""Article and multi-article summaries with checked citations.

One article: its passages (the stored chunks, numbered 1..k in article order) are summarized,
either extractively (the most central sentences, each citing the passage it comes from) or by the
LLM (abstractive text, every sentence checked against the passages it cites). Several articles:
map (each article's summary, cached) then reduce (one text whose citations point into the union
of the articles' passages). Every LLM call fits the model's context window; notes that do not fit
are reduced in batches, so no selected article is ever dropped to make room.

Extractive selection is :mod:`.centrality`; summaries are cached on disk (:mod:`.summary_cache`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from chatbot.answering.centrality import candidate_sentences, central_sentences
from chatbot.answering.citations import CheckedAnswer, Policy, check_answer, render_sentence
from chatbot.answering.prompting import neutralise, render, render_source
from chatbot.answering.strategies import AnsweringStrategy
from chatbot.answering.summary_cache import SummaryCache
from chatbot.answering.support import SupportChecker
from chatbot.answering.writing import PromptBudget, as_sentence, mark_quoted, repair
from chatbot.common.dates import date_label
from chatbot.common.furniture import quotable_spans
from chatbot.common.markers import parse_citations, strip_markers
from chatbot.common.text import sentence_spans, words
from chatbot.errors import ChatbotError
from chatbot.index.store import ArticleStore, version_of
from chatbot.llm.base import LLMBackend, LLMError, Message
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import (
    AnswerSentence,
    Article,
    Citation,
    Passage,
    StoredArticle,
    Summary,
)

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
_MIN_WORDS = 6  # shorter "sentences" are bylines, datelines and captions
_SAME_SENTENCE = 0.9  # story sentences this similar are copies (syndicated wire text)
_SAME_FACT = 0.75  # ... and this similar, the same fact in other words


class SummaryError(ChatbotError):
    """A summary cannot be made (e.g. an unknown article id); the message says what to do."""


@dataclass(frozen=True)
class _Source:
    """One article ready to summarize; its passages are its chunks in order (numbered 1..k for
    the checker, then renumbered by first citation)."""

    stored: StoredArticle
    article: Article
    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class _Note:
    """A summary sentence on its way into a reduce step, citing global passage numbers."""

    text: str
    refs: tuple[int, ...]
    article: int  # index of its article in the reduce
    rank: int  # position in its article's summary (0 = first)


class Summarizer:
    """Summaries of stored articles. Collaborators are explicit; the only state is the cache."""

    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        strategy: AnsweringStrategy,
        checker: SupportChecker,
        *,
        cache_dir: Path,
        max_tokens: int = 256,
        sentences: int = 3,
        temperature: float = 0.1,
        unsupported_policy: Policy = "flag",
        max_candidates: int = 40,
    ) -> None:
        self.store = store
        self.embedder = embedder
        # The LLM that writes summaries, or None: summaries quote the articles' central sentences.
        self.llm = strategy.writer
        self.evidence_first = strategy.context == "evidence"
        self.checker = checker
        self.cache = SummaryCache(cache_dir)
        self.max_tokens = max_tokens
        self.sentences = sentences
        self.temperature = temperature
        self.policy = unsupported_policy
        # Only the first sentences compete in extractive selection: news puts the point first,
        # and embedding every sentence of a very long page costs more than it ever changes.
        self.max_candidates = max_candidates

    # --- public ------------------------------------------------------------------------------

    def summarize_article(self, article_id: str) -> Summary:
        source = self._load(article_id)
        if isinstance(source, str):
            return _empty((article_id,), self.backend_label(), ((article_id, source),))
        return self._article_summary(source)

    def summarize_articles(self, article_ids: Sequence[str]) -> Summary:
        """One summary of all the articles: each is read (map), then the notes are combined."""
        ids = tuple(dict.fromkeys(article_ids))
        if not ids:
            raise SummaryError("No articles to summarize: give at least one article id.")
        sources: list[_Source] = []
        skipped: list[tuple[str, str]] = []
        for article_id in ids:
            loaded = self._load(article_id)
            if isinstance(loaded, str):
                skipped.append((article_id, loaded))
            else:
                sources.append(loaded)
        if not sources:
            return _empty(ids, self.backend_label(), tuple(skipped))
        if len(sources) == 1:
            single = self._article_summary(sources[0])
            return replace(
                single,
                article_ids=ids,
                skipped=tuple(skipped),
                notice=_join_notices(single.notice, _skip_notice(skipped)),
            )
        summary = self._multi(sources)
        return replace(
            summary,
            article_ids=ids,
            skipped=tuple(skipped),
            notice=_join_notices(summary.notice, _skip_notice(skipped)),
        )

    # --- loading and caching -----------------------------------------------------------------

    def _load(self, article_id: str) -> _Source | str:
        """The article and its passages, or the reason it cannot be summarized."""
        found = self.store.list_articles(ids=[article_id])
        if not found:
            raise SummaryError(
                f"No article with id {article_id!r} in the store (see `chatbot articles`)."
            )
        stored = found[0]
        article = self.store.get_article(article_id)
        if article is None:
            raise SummaryError(f"The article {article_id!r} was deleted while summarizing.")
        if not article.text.strip() or not quotable_spans(article.text):
            return "the article has no text"
        version = version_of(stored.content_hash)
        chunk_ids = [f"{article_id}:{version}:{n}" for n in range(stored.chunks)]
        passages = tuple(self.store.get_chunks(chunk_ids))
        if len(passages) != stored.chunks:
            return "the article's passages are missing from the store (re-ingest it)"
        return _Source(stored, article, passages)

    def _cache_path(self, sources: Sequence[_Source], backend: str) -> Path:
        """One file per (articles and their content versions, backend, settings)."""
        key = [
            [(s.stored.id, s.stored.content_hash, s.stored.chunks) for s in sources],
            backend,
            self.embedder.name,
            self.sentences,
            self.max_tokens if backend != EXTRACTIVE else 0,
            self.max_candidates,
        ]
        return self.cache.path(sources[0].stored.id if len(sources) == 1 else "story", key)

    def backend_label(self) -> str:
        return self.llm.describe() if self.llm is not None else EXTRACTIVE

    def _llm_key(self) -> str:
        if self.llm is None:
            return EXTRACTIVE
        mode = "evidence" if self.evidence_first else "passages"
        return f"{self.llm.name}/{self.llm.model}/{mode}"

    # --- one article ---------------------------------------------------------------------------

    def _article_summary(self, source: _Source) -> Summary:
        if self.llm is None:
            return self._extractive_article(source)
        path = self._cache_path([source], self._llm_key())
        if (hit := self.cache.get(path)) is not None:
            return hit
        try:
            if self.evidence_first:
                summary = self._evidence_article(source, self.llm)
            else:
                summary = self._llm_article(source, self.llm)
        except LLMError as exc:
            log.warning("LLM failed on article %s: %s", source.stored.id, exc)
            fallback = self._extractive_article(source)
            # Not cached under the LLM's key: the next run tries the LLM again.
            return replace(fallback, notice=_fallback_notice(exc))
        if not _has_support(summary):
            # Never worse than extractive: nothing the model wrote held up.
            summary = replace(self._extractive_article(source), notice=_UNSUPPORTED_NOTICE)
        self.cache.put(path, summary)
        return summary

    def _central(self, source: _Source, count: int) -> list[tuple[tuple[int, int], str]]:
        """The article's ``count`` most central sentences, in article order: (span, text)."""
        spans, sentences = candidate_sentences(source.article.text, self.max_candidates)
        vectors = self.embedder.embed(sentences)
        eligible = [len(words(s)) >= _MIN_WORDS for s in sentences]
        picked = sorted(central_sentences(vectors, count, eligible))
        return [(spans[i], strip_markers(sentences[i])) for i in picked]

    def _picks(self, sources: Sequence[_Source]) -> list[tuple[int, str]]:
        """Each article's central sentences, numbered like the union of their passages."""
        picks: list[tuple[int, str]] = []
        offset = 0
        for source in sources:
            for span, text in self._central(source, self.sentences):
                picks.append((offset + _passage_of(source.passages, span) + 1, text))
            offset += len(source.passages)
        return picks

    def _extractive_article(self, source: _Source) -> Summary:
        path = self._cache_path([source], EXTRACTIVE)
        if (hit := self.cache.get(path)) is not None:
            return hit
        # One sentence per line: a line break always ends a sentence, even before a lowercase
        # word, so the checker sees exactly the sentences that were picked.
        cited = "\n".join(
            f"{text} [{_passage_of(source.passages, span) + 1}]"
            for span, text in self._central(source, self.sentences)
        )
        summary = self._checked(cited, source.passages, (source.stored.id,), EXTRACTIVE)
        self.cache.put(path, summary)
        return summary

    def _evidence_article(self, source: _Source, llm: LLMBackend) -> Summary:
        """Evidence first: the central sentences, numbered, are all the model reads; it must
        cite one per sentence; what its sources do not support is replaced by their words."""
        central = self._central(source, self.sentences + 1)
        evidence: list[Passage] = []
        for (start, end), text in central:
            p = source.passages[_passage_of(source.passages, (start, end))]
            evidence.append(replace(p, text=text, char_start=start, char_end=end))
        lines = "\n".join(
            render(
                "evidence_line",
                n=n,
                outlet=neutralise(p.source or "unknown"),
                date=date_label(p.published_at),
                text=neutralise(p.text),
            ).strip()
            for n, p in enumerate(evidence, 1)
        )
        prompt = render(
            "evidence_summary", what="one news article", evidence=lines, sentences=self.sentences
        )
        messages = [Message("system", render("summarize_system")), Message("user", prompt)]
        text = "".join(
            llm.stream_cited(
                messages,
                len(evidence),
                sentences=self.sentences,
                max_tokens=min(self.max_tokens, 200),
                temperature=self.temperature,
            )
        )
        checked = check_answer(_tidy_generated(text), evidence, self.checker)
        # Every central sentence may replace what the model got wrong.
        shown, quoted = repair(checked, [(n, p.text) for n, p in enumerate(evidence, 1)])
        # A model that stops short leaves the summary short of what was asked: central sentences
        # it did not cite fill it, in the article's words (as an answer gets the facts a model
        # dropped).
        used = {n for line in shown for s in parse_citations(line) for n in s.markers}
        for n, p in enumerate(evidence, 1):
            if len(shown) >= self.sentences:
                break
            if n not in used:
                shown.append(render_sentence(as_sentence(p.text), (n,)))
                quoted.append(shown[-1])
        # Evidence numbers -> the article's passage numbers, then the usual check and numbering.
        where = {
            n: _passage_of(source.passages, (p.char_start, p.char_end)) + 1
            for n, p in enumerate(evidence, 1)
        }
        cited = "\n".join(
            re.sub(r"\[(\d+)\]", lambda m: f"[{where[int(m.group(1))]}]", line) for line in shown
        )
        return self._checked(
            cited, source.passages, (source.stored.id,), llm.describe(), quoted=quoted
        )

    def _llm_article(self, source: _Source, llm: LLMBackend) -> Summary:
        """Map over groups of passages that fit the context, then reduce if there were several."""
        passages = source.passages
        budget = self._budget(render("summarize_article", sources="", sentences=self.sentences))
        rendered = [render_source(n, p) for n, p in enumerate(passages, 1)]
        groups = _fit_groups(rendered, budget, llm.count_tokens)
        texts = []
        for group in groups:
            prompt = render(
                "summarize_article",
                sources="\n".join(rendered[i] for i in group),
                sentences=self.sentences,
            )
            texts.append(self._generate(prompt))
        if len(texts) == 1:
            text = texts[0]
        else:
            notes = [note for t in texts for note in _notes(t, article=0)]
            text = self._llm_reduce(notes, articles=1)
        return self._checked(
            text, passages, (source.stored.id,), llm.describe(), picks=self._picks([source])
        )

    # --- several articles ----------------------------------------------------------------------

    def _multi(self, sources: list[_Source]) -> Summary:
        """A story is cached like an article: re-running a briefing re-reads nothing."""
        path = self._cache_path(sources, self._llm_key())
        if (hit := self.cache.get(path)) is not None:
            return hit
        summary = self._combine(sources)
        if not summary.notice:  # a fallback is not cached: the next run tries the LLM again
            self.cache.put(path, summary)
        return summary

    def _combine(self, sources: list[_Source]) -> Summary:
        passages = [p for s in sources for p in s.passages]
        ids = tuple(s.stored.id for s in sources)
        if self.llm is not None:
            parts = [self._article_summary(s) for s in sources]
            failed = next((p.notice for p in parts if "extractive fallback" in p.notice), "")
            if not failed and self.evidence_first:
                # A small model's checked article summaries, combined without another call:
                # the most central sentences, syndicated copies merged.
                return self._extractive_reduce(parts, sources, passages, ids, self.llm.describe())
            if not failed:
                try:
                    text = self._llm_reduce(_global_notes(parts, sources), articles=len(sources))
                    summary = self._checked(
                        text, passages, ids, self.llm.describe(), picks=self._picks(sources)
                    )
                    if _has_support(summary):
                        return summary
                    failed = _UNSUPPORTED_NOTICE
                except LLMError as exc:
                    log.warning("LLM failed combining %d articles: %s", len(sources), exc)
                    failed = _fallback_notice(exc)
            # One failure makes the whole story extractive, so it reads as one kind of text.
            parts = [self._extractive_article(s) for s in sources]
            summary = self._extractive_reduce(parts, sources, passages, ids)
            return replace(summary, notice=failed)
        parts = [self._extractive_article(s) for s in sources]
        return self._extractive_reduce(parts, sources, passages, ids)

    def _extractive_reduce(
        self,
        parts: list[Summary],
        sources: list[_Source],
        passages: list[Passage],
        ids: tuple[str, ...],
        backend: str = EXTRACTIVE,
    ) -> Summary:
        """The most central article-summary sentences; near-copies (syndicated text) merge into
        one sentence that cites every copy."""
        notes = _global_notes(parts, sources)
        if not notes:
            return _empty(ids, backend, ())
        vectors = self.embedder.embed([n.text for n in notes])
        centre = vectors.mean(axis=0)
        centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
        # Centrality in the story, with a small bonus for each article's lead sentence.
        scores = vectors @ centre - 0.05 * np.array([n.rank for n in notes])
        chosen: list[tuple[int, list[int]]] = []
        for i in np.argsort(-scores, kind="stable"):
            sims = [float(vectors[i] @ vectors[j]) for j, _ in chosen]
            if sims and max(sims) >= _SAME_SENTENCE:
                refs = chosen[int(np.argmax(sims))][1]
                refs.extend(r for r in notes[i].refs if r not in refs)
                continue
            if sims and max(sims) >= _SAME_FACT:
                continue  # the same fact in other words: one telling is enough
            if len(chosen) < self.sentences:
                chosen.append((int(i), list(notes[i].refs)))
        text = "\n".join(f"{notes[i].text} {_markers(refs)}" for i, refs in chosen)
        return self._checked(text, passages, ids, backend)

    def _llm_reduce(self, notes: list[_Note], *, articles: int) -> str:
        """Combine notes into one text; in batches that fit the context when all do not."""
        assert self.llm is not None
        empty = render("summarize_stories", notes="", count=articles, sentences=self.sentences)
        budget = self._budget(empty)
        while True:
            lines = [_note_line(n) for n in notes]
            keys = [n.article for n in notes]
            batches = _fit_groups(lines, budget, self.llm.count_tokens, by=keys)
            reduced: list[_Note] = []
            for b, batch in enumerate(batches):
                prompt = render(
                    "summarize_stories",
                    notes="\n".join(lines[i] for i in batch),
                    count=len({keys[i] for i in batch}),
                    sentences=self.sentences,
                )
                text = self._generate(prompt)
                if len(batches) == 1:
                    return text
                reduced.extend(_notes(text, article=b))
            if len(reduced) >= len(notes):
                # No progress (the model copied its notes): stop rather than loop.
                return " ".join(_note_line(n)[2:] for n in reduced)
            notes = reduced

    # --- LLM plumbing --------------------------------------------------------------------------

    def _budget(self, template_text: str) -> int:
        """Tokens left for sources or notes once the prompt and the answer are accounted for."""
        assert self.llm is not None
        return PromptBudget(self.llm, self.max_tokens).left(
            render("summarize_system"), template_text
        )

    def _generate(self, prompt: str) -> str:
        assert self.llm is not None
        messages = [Message("system", render("summarize_system")), Message("user", prompt)]
        text = self.llm.complete(messages, max_tokens=self.max_tokens, temperature=self.temperature)
        text = _tidy_generated(text)
        if not text:
            raise LLMError("The language model returned no text.")
        return text

    def _checked(
        self,
        text: str,
        passages: Sequence[Passage],
        ids: tuple[str, ...],
        backend: str,
        notice: str = "",
        *,
        picks: Sequence[tuple[int, str]] | None = None,
        quoted: Sequence[str] = (),
    ) -> Summary:
        """Check every sentence against the passages it cites (uncited ones against all), then
        number the cited passages 1..m in order of first citation. With ``picks`` (for generated
        text: the central sentences, numbered like ``passages``), an unsupported sentence is
        replaced by one of them."""
        checked = check_answer(text, passages, self.checker, policy=self.policy)
        if picks is not None:
            shown, repaired = repair(checked, picks)
            checked = check_answer("\n".join(shown), passages, self.checker, policy=self.policy)
            quoted = [*quoted, *repaired]
        # Repairs are marked on their sentences ("quoted from the source"), not in the notice.
        checked = mark_quoted(checked, quoted)
        text, sentences, citations = _renumber(checked)
        return Summary(text, citations, sentences, ids, backend, notice=notice)


def _passage_of(passages: Sequence[Passage], span: tuple[int, int]) -> int:
    """Index of the passage that contains the span (the most overlap if none does)."""
    s, e = span
    best, best_overlap = 0, -1
    for i, p in enumerate(passages):
        if p.char_start <= s and e <= p.char_end:
            return i
        overlap = min(e, p.char_end) - max(s, p.char_start)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best


# --- text helpers ---------------------------------------------------------------------------------


def _markers(refs: Sequence[int]) -> str:
    return "".join(f"[{r}]" for r in refs)


def _note_line(note: _Note) -> str:
    return f"- {neutralise(note.text)} {_markers(note.refs)}".rstrip()


def _notes(text: str, *, article: int) -> list[_Note]:
    """Generated sentences with the numbers they cite (checked later, against every passage)."""
    return [
        _Note(s.text, s.markers, article, rank)
        for rank, s in enumerate(parse_citations(text))
        if s.text
    ]


def _tidy_generated(text: str) -> str:
    """Plain sentences: no heading echo, no bullets, no trailing half sentence."""
    text = text.strip()
    text = re.sub(r"^(?:summary|here is [^:\n]*)\s*:\s*", "", text, flags=re.I)
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", line).strip() for line in text.splitlines()]
    text = " ".join(line for line in lines if line)
    spans = sentence_spans(text)
    if len(spans) > 1:
        s, e = spans[-1]
        if not re.search(r"[.!?\]\"”')]$", text[s:e]):
            text = text[:s].rstrip()  # cut off by max_tokens
    return text


def _renumber(
    checked: CheckedAnswer,
) -> tuple[str, tuple[AnswerSentence, ...], tuple[Citation, ...]]:
    """Cited passages renumbered 1..m in order of first citation in the text."""
    order: dict[int, int] = {}
    for sentence in checked.sentences:
        for n in sentence.citations:
            order.setdefault(n, len(order) + 1)
    text = re.sub(
        r"\[(\d+)\]", lambda m: f"[{order.get(int(m.group(1)), m.group(1))}]", checked.text
    )
    sentences = tuple(
        replace(s, citations=tuple(order[n] for n in s.citations)) for s in checked.sentences
    )
    citations = tuple(
        sorted(
            (replace(c, n=order[c.n]) for c in checked.citations if c.n in order), key=lambda c: c.n
        )
    )
    return text, sentences, citations


def _global_notes(parts: Sequence[Summary], sources: Sequence[_Source]) -> list[_Note]:
    """Each article summary's sentences, citing positions in the union of the articles'
    passages (article a's passage i is number offset_a + i + 1).

    Unsupported sentences are left out: only checked content is carried into a combined text
    (an article whose sentences all failed the check still contributes them, flagged later)."""
    notes: list[_Note] = []
    offset = 0
    for a, (part, source) in enumerate(zip(parts, sources, strict=True)):
        where = {
            c.n: offset + _passage_of(source.passages, (c.char_start, c.char_end)) + 1
            for c in part.citations
        }
        good = [s for s in part.sentences if s.supported] or list(part.sentences)
        for rank, sentence in enumerate(good):
            refs = tuple(dict.fromkeys(where[n] for n in sentence.citations if n in where))
            if sentence.text:
                notes.append(_Note(sentence.text, refs, a, rank))
        offset += len(source.passages)
    return notes


def _fit_groups(
    items: Sequence[str],
    budget: int,
    count_tokens: Callable[[str], int],
    by: Sequence[int] | None = None,
) -> list[list[int]]:
    """Consecutive groups of items whose joined text fits ``budget`` tokens. Items sharing a
    ``by`` key stay together when they fit; an item larger than the budget gets a group of its
    own (it is never cut or dropped)."""
    costs = [count_tokens(item) + 1 for item in items]
    keys = list(by) if by is not None else list(range(len(items)))
    blocks: list[list[int]] = []
    for i, key in enumerate(keys):
        if blocks and keys[blocks[-1][-1]] == key:
            blocks[-1].append(i)
        else:
            blocks.append([i])
    groups: list[list[int]] = []
    used = 0
    for block in blocks:
        cost = sum(costs[i] for i in block)
        if groups and used + cost <= budget:
            groups[-1].extend(block)
            used += cost
            continue
        if cost <= budget:
            groups.append(list(block))
            used = cost
            continue
        for i in block:  # a block too big on its own: split it item by item
            if groups and used + costs[i] <= budget:
                groups[-1].append(i)
                used += costs[i]
            else:
                groups.append([i])
                used = costs[i]
    return groups


_UNSUPPORTED_NOTICE = (
    "The language model's summary was not supported by the articles; showing their central "
    "sentences instead."
)


def _has_support(summary: Summary) -> bool:
    """At least one supported, cited sentence: the least a summary must offer."""
    return any(s.supported and s.citations for s in summary.sentences)


def _fallback_notice(exc: Exception) -> str:
    return f"The language model failed ({exc}); extractive fallback: sentences from the articles."


def _skip_notice(skipped: Sequence[tuple[str, str]]) -> str:
    if not skipped:
        return ""
    return "Skipped: " + "; ".join(f"{article_id} ({reason})" for article_id, reason in skipped)


def _join_notices(*notices: str) -> str:
    return " ".join(n for n in notices if n)


def _empty(ids: tuple[str, ...], backend: str, skipped: tuple[tuple[str, str], ...]) -> Summary:
    notice = _skip_notice(skipped) or "Nothing to summarize."
    return Summary("", (), (), ids, backend, notice=notice, skipped=skipped)


# --- JSON ----------------------------------------------------------------------------------------
