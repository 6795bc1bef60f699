"""The web UI's handlers and HTML rendering, called directly (no browser, no server)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
import pytest

from chatbot.bot import Chatbot
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder
from chatbot.presentation import html as ui_render
from chatbot.surfaces import hosting
from chatbot.surfaces.web import handlers as ui
from chatbot.vocabulary import Answer, AnswerSentence, Article, Citation
from tests.store_fixtures import settings_in

# The extractive backend answers "Where did the Russian and US diplomats meet?" from the
# embassy-expulsion sentences, not the Istanbul one; this wording reaches the Istanbul passage.
QUESTION = "Where were the Russia-US talks held?"
HOSTILE = (
    'Evil <img src=x onerror="alert(1)"> <script>alert(2)</script> '
    "[click](javascript:alert(3)) $$x$$ text."
)


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_file: Path
) -> Chatbot:
    """One store with the example article, shared by the tests that only read it."""
    tmp = tmp_path_factory.mktemp("ui-handlers")
    settings = settings_in(tmp)
    bot = Chatbot(settings, embedder=embedder)
    assert bot.ingest([seed_file]).ok
    return bot


def _run(bot: Chatbot, state: ui.ChatState | None, question: str, **filters: str):
    steps = list(ui.chat_turn(bot, state, question, **filters))
    messages, state, panel = steps[-1]
    return steps, messages, state, panel


def test_chat_turn_streams_then_links_citations_to_quoted_passages(loaded: Chatbot) -> None:
    steps, messages, _, panel = _run(loaded, None, QUESTION)
    assert len(steps) >= 3  # placeholder, streamed text, final answer
    assert steps[0][0][-1]["content"] == "…"
    assert [m["role"] for m in messages] == ["user", "assistant"]
    answer = messages[-1]["content"]
    links = re.findall(r'href="#(cb-src-1-\d+)"', answer)
    assert links, answer
    for anchor in links:  # every link has a card in the sources panel
        assert f'id="{anchor}"' in panel
    quotes = [html.unescape(q) for q in re.findall(r'<mark class="cb-quote">(.*?)</mark>', panel)]
    assert any("Istanbul" in q for q in quotes)
    assert "ANI" in panel and "2025-02-27" in panel


def test_sessions_keep_separate_histories_and_new_conversation_resets(loaded: Chatbot) -> None:
    _, a_msgs, a, _ = _run(loaded, None, QUESTION)
    _, b_msgs, b, _ = _run(loaded, None, "What did Putin say about Western elites?")
    _, a_msgs, a, _ = _run(loaded, a, "And how long did the talks last?")
    assert len(a_msgs) == 4 and len(b_msgs) == 2
    assert len(a.session.history) == 2 and len(b.session.history) == 1
    messages, a, panel = ui.new_conversation(loaded, a)
    assert messages == [] and a.messages == [] and not a.session.history
    assert "cb-turn" not in panel
    assert len(b.session.history) == 1
    # "New conversation" while an answer streams: the late answer does not come back.
    streaming = ui.chat_turn(loaded, b, QUESTION)
    next(streaming)
    ui.new_conversation(loaded, b)
    *_, (messages, b, panel) = streaming
    assert messages == [] and "cb-turn" not in panel


def test_bad_filter_and_empty_store_give_messages_not_exceptions(bot: Chatbot) -> None:
    _, messages, _, _ = _run(bot, None, QUESTION, since="not a date")
    assert "cb-error" in messages[-1]["content"]
    _, messages, _, _ = _run(bot, None, QUESTION)  # nothing stored: a refusal, not a crash
    assert "do not cover" in messages[-1]["content"]


def test_outlet_filter_excluding_everything_refuses(loaded: Chatbot) -> None:
    _, messages, _, _ = _run(loaded, None, QUESTION, outlets=["NoSuchOutlet"])
    assert "cb-cite" not in messages[-1]["content"]


def test_upload_names_are_sanitized_and_stay_in_the_uploads_folder(
    settings: Settings, tmp_path: Path
) -> None:
    evil = tmp_path / "x"
    evil.mkdir()
    src = evil / "..%2F..%2Fetc passwd.txt"
    src.write_text("Title\n\nSome article text.")
    saved = hosting.save_upload(settings, src)
    assert saved.parent == hosting.uploads_dir(settings)
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.txt", saved.name)
    assert hosting.safe_upload_name("../../etc/cron.d/x.md") == "x.md"
    assert hosting.safe_upload_name("..\\..\\win.JSONL") == "win.jsonl"
    assert hosting.safe_upload_name(".hidden.txt") == "hidden.txt"
    with pytest.raises(hosting.UploadRejected, match="unsupported file type"):
        hosting.safe_upload_name("payload.exe")
    small = settings.model_copy(update={"upload_max_bytes": 5})
    with pytest.raises(hosting.UploadRejected, match="over the upload limit"):
        hosting.save_upload(small, src)
    other = tmp_path / "y"
    other.mkdir()
    (other / src.name).write_text("Another\n\nDifferent text.")
    assert hosting.save_upload(settings, other / src.name) != saved  # no silent overwrite


def test_ingest_reports_each_item_then_delete(bot: Chatbot, seed_file: Path, tmp_path: Path):
    bad = tmp_path / "notes.exe"
    bad.write_text("x")
    events: list[object] = []
    rows, summary = ui.ingest_items(
        bot,
        [str(seed_file), str(bad)],
        "ftp://example.org/feed\n\n",
        lambda *a, **k: events.append(a),
    )
    results = {r[1] for r in rows}
    assert results == {"added", "failed"}, rows
    assert any("unsupported file type" in r[2] for r in rows)
    assert any("not an http(s) URL" in r[2] for r in rows)
    assert not any(str(tmp_path) in r[0] or "uploads" in r[0] for r in rows)
    assert "1 added" in summary and events
    table = ui.article_table(bot, "putin")
    assert len(table) == 1 and table[0][1] == "ANI" and table[0][2] == "2025-02-27"
    assert ui.article_table(bot, "no such words") == []
    assert ui.outlets(bot) == ["ANI"]
    [(label, article_id)] = ui.article_choices(bot)
    assert "Putin" in label
    rows, _ = ui.ingest_items(bot, [str(seed_file)], "", None)
    assert [r[1] for r in rows] == ["unchanged"]
    assert "Deleted" in ui.delete_article(bot, article_id)
    assert ui.article_table(bot) == []
    with pytest.raises(gr.Error):
        ui.delete_article(bot, article_id)
    with pytest.raises(gr.Error):
        ui.ingest_items(bot, [], "  ", None)


def test_status_and_examples(loaded: Chatbot) -> None:
    status = html.unescape(ui.status_html(loaded))
    assert "extractive" in status and loaded.embedder.name in status
    assert "<b>1</b> article " in status
    [question] = ui_render.example_questions(loaded.articles())
    assert "Russian President" in question and question.endswith("”?") and len(question) < 110


def _hostile_answer() -> tuple[Answer, Article]:
    text = f"Intro. {HOSTILE} Diplomats met in Istanbul. The end."
    article = Article.create(title="<b>T</b>", text=text, source="X<script>", url=None)
    start = text.index(HOSTILE)
    cite = Citation(
        1, article.id, article.title, article.source, datetime(2025, 2, 27, tzinfo=UTC),
        "javascript:alert(4)", HOSTILE, start, start + len(HOSTILE), False, 0.1,
    )  # fmt: skip
    answer = Answer(
        f"q {HOSTILE}",
        f"{HOSTILE} [1] [7]",
        (cite,),
        (),
        sentences=(
            AnswerSentence(f"{HOSTILE} [1] [7]", (1, 7), False, 0.1),
            AnswerSentence("Diplomats met in Istanbul.", (1,), True, 0.9),  # markers apart
        ),
        notice=HOSTILE,
    )
    return answer, article


def test_rendering_escapes_hostile_article_and_llm_text() -> None:
    answer, article = _hostile_answer()
    body = ui_render.answer_html(answer, "3")
    panel = ui_render.sources_panel([ui_render.sources_html(answer, "3", lambda _: article)])
    for out in (body, panel, ui_render.status_line({"llm_backend": HOSTILE})):
        assert "<script" not in out and "<img" not in out and "<b>T" not in out
        assert "javascript:" not in out and "$$" not in out and "](" not in out
        assert html.unescape(re.sub(r"<[^>]+>", "", out)).count("alert(") >= 1  # shown as text
    # Only existing citations become links; unsupported sentences are visibly marked.
    assert body.count('class="cb-cite"') == 2 and "&#91;7&#93;" in body
    assert 'Diplomats met in Istanbul <a class="cb-cite" href="#cb-src-3-1"' in body
    assert "cb-unsupported" in body and "unsupported</span>" in body
    assert "does not support" in panel and "no link" in panel


def test_quotes_are_highlighted_in_their_surrounding_text() -> None:
    text = "A" * 50 + " before words. The quoted sentence. after words. Second one. " + "B" * 900
    start = text.index("The quoted")
    quote = (start, start + len("The quoted sentence."))
    second = (text.index("Second"), text.index("Second") + len("Second one."))
    [block] = ui_render.passage_in_context(text, [quote, second], width=40)
    assert '<mark class="cb-quote">The quoted sentence.</mark>' in block
    assert '<mark class="cb-quote">Second one.</mark>' in block
    assert "before words." in block and block.endswith(" …")
    far = (len(text) - 10, len(text))
    assert len(ui_render.passage_in_context(text, [quote, far], width=40)) == 2
    assert ui_render.safe_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "/relative", 'https://a.b/"x'):
        assert ui_render.safe_url(bad) is None


def test_briefing_generate_download_and_list(loaded: Chatbot) -> None:
    markdown, paths = ui.generate_briefing(loaded, "2025-02-27")
    assert "Putin" in markdown or "Russia" in markdown
    assert sorted(Path(p).suffix for p in paths) == [".html", ".json", ".md"]
    assert all(Path(p).is_file() for p in paths)
    assert ui.past_briefings(loaded)[0] == "2025-02-27"
    again, files = ui.open_briefing(loaded, "2025-02-27")
    assert again == markdown and len(files) == 3
    with pytest.raises(gr.Error):
        ui.generate_briefing(loaded, "not a date")
