"""Watched questions: answered again after each refresh of the news desk; an alert (webhook,
e-mail, Atom) only when the new answer states something the previous answer's sources did not.
Real parts: a feed and article pages on a local HTTP server, a local SMTP server, the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import feedparser
import pytest

from chatbot.bot import Chatbot
from chatbot.errors import WatchError
from chatbot.models.embeddings import Embedder
from chatbot.news.watches import Watches
from chatbot.vocabulary import Alert, Answer, AnswerSentence, Citation, Passage
from tests.feed_pages import Item, serve_feed, serve_page
from tests.http_fixtures import ChangingServer
from tests.test_desk import Smtp, desk_settings, smtp  # noqa: F401 - the smtp fixture

pytestmark = pytest.mark.timeout(300)

QUESTION = "When will the first tram line open?"
NOW = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)


def _items(*entries: tuple[str, str, str, int]) -> list[Item]:
    return [
        Item(guid, title, path, "teaser", datetime(2025, 3, day, 8, tzinfo=UTC))
        for guid, title, path, day in entries
    ]


FIRST = ("g1", "Council backs three tram lines", "/a/1.html", 1)
HARBOUR = ("g2", "Harbour dredging starts", "/a/2.html", 1)
DELAY = ("g3", "Tram opening delayed to 2029", "/a/3.html", 2)
RESTATED = ("g4", "Trams two years late", "/a/4.html", 3)


def _serve(server: ChangingServer) -> str:
    serve_page(server, "/a/1.html", FIRST[1], "trams")
    serve_page(server, "/a/2.html", HARBOUR[1], "harbour")
    serve_page(server, "/a/3.html", DELAY[1], "trams-delay")
    serve_page(server, "/a/4.html", RESTATED[1], "trams-delay-restated")
    return serve_feed(server, "/feed.xml", _items(FIRST, HARBOUR))


def _alerts_posted(server: ChangingServer) -> list[dict[str, Any]]:
    sent = [json.loads(p.body) for p in server.posts("/hook")]
    return [s for s in sent if s.get("type") == "watch_alert"]


def test_an_alert_goes_out_when_the_answer_changes_and_never_when_it_does_not(
    tmp_path: Path,
    embedder: Embedder,
    changing_server: ChangingServer,
    smtp: Smtp,  # noqa: F811
) -> None:
    feed = _serve(changing_server)
    settings = desk_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        webhook_url=changing_server.url("/hook"),
    )
    bot = Chatbot(settings, embedder=embedder)
    bot.add_feed(feed, every="1h")
    desk = bot.news_desk(clock=lambda: NOW)
    desk.check()
    watch = bot.watch(QUESTION)
    assert "2027" in watch.answer and watch.citations  # the baseline, answered at once
    assert watch.evidence

    # A refresh that brings nothing new: the watch is not even answered again.
    desk.check()
    assert _alerts_posted(changing_server) == [] and smtp.inbox.messages == []

    # The opening date moves: one alert with the new cited sentence and the previous answer.
    serve_feed(changing_server, "/feed.xml", _items(FIRST, HARBOUR, DELAY))
    bot.refresh()  # a manual refresh polls every feed at once
    desk.check()
    [alert] = _alerts_posted(changing_server)
    assert alert["question"] == QUESTION
    assert "2029" in alert["text"] and "2027" not in alert["text"]
    assert "2027" in alert["previous"]
    assert all(s["citations"] for s in alert["sentences"])
    assert {c["title"] for c in alert["citations"]} == {DELAY[1]}
    [envelope] = smtp.inbox.messages
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == f"The answer changed: {QUESTION}"
    assert "2029" in mail.get_body(("plain",)).get_content()
    atom = feedparser.parse((settings.briefings_dir / "alerts.atom").read_bytes())
    [entry] = atom.entries
    assert QUESTION in entry.title and "2029" in entry.summary
    stored = bot.watches()[0]
    assert stored.alerts == 1 and "2029" in stored.answer

    # Another outlet says the same in other words: answered again, nothing sent.
    serve_feed(changing_server, "/feed.xml", _items(FIRST, HARBOUR, DELAY, RESTATED))
    bot.refresh()
    before = bot.watches()[0].last_checked
    desk.check()
    assert bot.watches()[0].last_checked != before  # it was answered again ...
    assert len(_alerts_posted(changing_server)) == 1  # ... and found unchanged
    assert len(smtp.inbox.messages) == 1
    assert desk.outbox() == []


def test_watches_persist_across_restarts_and_a_failed_alert_waits_in_the_outbox(
    tmp_path: Path, embedder: Embedder, changing_server: ChangingServer
) -> None:
    feed = _serve(changing_server)
    settings = desk_settings(tmp_path, webhook_url=changing_server.url("/hook"), delivery_retries=1)
    bot = Chatbot(settings, embedder=embedder)
    bot.add_feed(feed)
    bot.refresh()
    watch = bot.watch(QUESTION, every="1h")
    assert watch.every == 3600
    assert bot.watch(f"  {QUESTION.lower()} ").id == watch.id  # the same question: one watch
    bot.close()

    # A restart: the watch and its last answer come back from the store.
    bot = Chatbot(settings, embedder=embedder)
    [again] = bot.watches()
    assert (again.id, again.question, again.answer) == (watch.id, watch.question, watch.answer)

    serve_feed(changing_server, "/feed.xml", _items(FIRST, HARBOUR, DELAY))
    bot.refresh()
    changing_server.post_statuses.extend([500, 503])  # the webhook is down for two attempts
    desk = bot.news_desk(clock=lambda: NOW)
    # Not due for an hour: the desk's check leaves it; "check now" answers it anyway.
    assert desk.check_watches() == []
    [run] = desk.check_watches(due_only=False)
    [delivery] = run.deliveries
    assert not delivery.ok and "HTTP 503" in delivery.error
    [waiting] = desk.outbox()
    assert waiting.alert == run.alert.key and waiting.briefing == ""
    # The next check delivers it, once.
    [done] = desk.retry_outbox()
    assert done.ok and desk.outbox() == []
    [alert] = _alerts_posted(changing_server)[-1:]
    assert alert["key"] == run.alert.key and "2029" in alert["text"]
    assert bot.watches()[0].alerts == 1

    assert bot.unwatch(watch.id) and bot.watches() == []
    assert not bot.unwatch(watch.id)
    bot.close()


def test_watches_are_shared_through_a_chroma_server(
    tmp_path: Path, embedder: Embedder, chroma_server: str
) -> None:
    import uuid

    suffix = uuid.uuid4().hex[:8]
    names = {
        "articles_collection": f"articles-{suffix}",
        "chunks_collection": f"chunks-{suffix}",
        "watches_collection": f"watches-{suffix}",
    }
    first = Chatbot(
        desk_settings(tmp_path / "one", chroma_url=chroma_server, **names), embedder=embedder
    )
    other = Chatbot(
        desk_settings(tmp_path / "two", chroma_url=chroma_server, **names), embedder=embedder
    )
    try:
        made = first.watch("Who leads the harbour talks?")
        assert [w.id for w in other.watches()] == [made.id]
        assert other.unwatch(made.id)
        assert first.watches() == []
    finally:
        first.close()
        other.close()


def test_bad_watches_are_refused_with_the_reason(bot: Chatbot) -> None:
    with pytest.raises(WatchError, match="empty"):
        bot.watch("   ")
    with pytest.raises(WatchError, match="interval"):
        bot.watch(QUESTION, every="sometimes")
    with pytest.raises(WatchError, match="longer than"):
        bot.watch("why " * 200)
    # Nothing stored yet: the watch is kept, with no answer to compare against yet.
    watch = bot.watch(QUESTION)
    assert watch.answer == "" and watch.last_checked is not None


def _answer(question: str, article_id: str, text: str) -> Answer:
    """An answer of one sentence quoting one article (what an answering strategy returns)."""
    passage = Passage(f"{article_id}:v:0", article_id, 0, text, 0, len(text), "T", "S", None, None)
    citation = Citation(1, article_id, "T", "S", None, None, text, 0, len(text), True, 1.0)
    sentence = AnswerSentence(text, (1,), True, 1.0)
    return Answer(question, f"{text} [1]", (citation,), (passage,), (sentence,))


class Script:
    """Scripted answers and arrival times; the store records, checker and embedder are real."""

    def __init__(self, bot: Chatbot, first: Answer, **options: Any) -> None:
        self.reply = first
        self.arrived: dict[str, datetime | None] = {}
        self.watches = Watches(
            bot.store.watches,
            lambda q: self.reply,
            bot.checker,
            stored_at=lambda ids: {i: self.arrived.get(i) for i in ids},
            **options,
        )

    def answers(self, article_id: str, text: str, *, stored: datetime | None = None) -> list[Alert]:
        """The answer now quotes ``text`` from ``article_id`` (stored just now unless said);
        the alerts of answering the watch again."""
        self.reply = _answer(QUESTION, article_id, text)
        self.arrived[article_id] = stored or datetime.now(UTC) + timedelta(seconds=1)
        return self.watches.check(due_only=False)


def test_an_answer_that_moves_among_old_articles_is_no_news(bot: Chatbot) -> None:
    # The answer moves from one article to another with a new fact.
    script = Script(bot, _answer(QUESTION, "old-a", "The first tram line will open in 2027."))
    watch = script.watches.add(QUESTION)
    assert "2027" in watch.answer
    # "old-b" was stored before the last answer (or before arrival times were kept): no alert,
    # but the new answer is the next baseline.
    before = watch.last_checked - timedelta(minutes=5)  # type: ignore[operator]
    text = "The first tram line will open in 2029 because of steel."
    assert script.answers("old-b", text, stored=before) == []
    assert "2029" in script.watches.all()[0].answer
    # The same fact newly arrived in another article is supported by that baseline: no alert.
    text = "Because of steel, the first tram line will open in 2029."
    assert script.answers("new-c", text) == []
    # A new fact in a newly arrived article: the alert.
    [alert] = script.answers("new-d", "The tram line opening was cancelled by the court.")
    assert "cancelled" in alert.sentences[0].text and "2029" in alert.previous


def test_a_new_sentence_less_related_to_the_question_is_no_news_nor_an_old_fact(
    bot: Chatbot,
) -> None:
    # When the question's story goes quiet, the quoted answer can drift to a new article's
    # sentence that merely shares a word with it.
    first = _answer(QUESTION, "old-a", "The first tram line will open in 2027.")
    script = Script(bot, first, embedder=bot.embedder)
    script.watches.add(QUESTION)
    assert script.answers("new-b", "Harbour workers went on strike for the first time.") == []
    assert "strike" in script.watches.all()[0].answer  # still the next baseline
    # The old date again, from a new article: the earlier answer's passages still count.
    assert script.answers("new-r", "The first tram line will open in 2027.") == []
    # A changed opening date, as related to the question as the old one: the alert.
    [alert] = script.answers("new-c", "The first tram line will now open in 2029.")
    assert "2029" in alert.sentences[0].text


def test_before_its_story_arrives_an_unrelated_sentence_is_no_news(bot: Chatbot) -> None:
    # Watched before anything about it is stored: the first answer that quotes something is
    # news only if it is about the question at all (the answer's own relevance bar).
    nothing = Answer(QUESTION, "", (), (), (), refused=True)
    script = Script(bot, nothing, embedder=bot.embedder, min_relevance=bot.settings.min_relevance)
    assert script.watches.add(QUESTION).answer == ""
    assert script.answers("new-a", "Harbour workers went on strike for the first time.") == []
    [alert] = script.answers("new-b", "The first tram line will open in 2027.")
    assert "2027" in alert.sentences[0].text
