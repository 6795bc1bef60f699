"""`chatbot serve` over real HTTP on 127.0.0.1: the OpenAI-compatible chat API driven by the
official ``openai`` client (streaming and not), REST driven by httpx, API keys, the rate limit,
size limits, bad input, eight concurrent chats, and the web UI mounted on the same port.
Extractive backend (fast and deterministic), real embedder, embedded Chroma."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from chatbot.bot import Chatbot
from chatbot.errors import ChatbotError
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import service
from chatbot.surfaces.service import openai_compat
from chatbot.surfaces.service.access import ApiKeys, RateLimiter
from chatbot.vocabulary import Article
from harness.servers import free_port, wait_http
from tests.http_fixtures import LocalServer
from tests.store_fixtures import settings_in

KEY, KEY2 = "sk-test-first-key-0123456789", "sk-test-second-key-9876543210"
MAX_BODY = 200_000
UPLOAD_MAX = 50_000
QUESTION = "Where did the Russian and US diplomats meet?"

# Eight towns, one distinctive fact each: eight concurrent questions, eight different answers.
FACTS = {
    "Lisbon": ("harbour authority", "a floating solar farm with 4,000 panels", "solar"),
    "Tartu": ("university", "a telescope that can see comets beyond Neptune", "telescope"),
    "Bergen": ("fish market", "an underwater aquarium tunnel for visitors", "aquarium"),
    "Porto": ("city council", "free night trams along the river Douro", "trams"),
    "Graz": ("main library", "a robot that shelves returned books at night", "robot"),
    "Ghent": ("football club", "a stadium roof made of recycled bicycle frames", "bicycle"),
    "Kaunas": ("zoo", "a rescue centre for injured white storks", "storks"),
    "Malmo": ("fire brigade", "a fleet of electric fireboats for the harbour", "fireboats"),
}


def fact_articles() -> list[Article]:
    out = []
    for i, (town, (body, thing, _)) in enumerate(FACTS.items()):
        out.append(
            Article.create(
                title=f"{town} {body} opens {thing}",
                text=(
                    f"The {town} {body} opened {thing} on Monday. "
                    f"Officials in {town} said the project took three years to plan. "
                    f"Residents of {town} were invited to a public opening on the weekend."
                ),
                source="Town Wire",
                published_at=datetime(2025, 3, 10 + i, 9, tzinfo=UTC),
                url=f"https://towns.example/{town.lower()}",
            )
        )
    return out


@dataclass
class Live:
    url: str
    bot: Chatbot
    lines: list[str]
    fact_ids: dict[str, str]

    def client(self, key: str = KEY, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kwargs)

    def http(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_file: Path
) -> Iterator[Live]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    tmp = tmp_path_factory.mktemp("service")
    settings = settings_in(
        tmp,
        api_keys=f"{KEY}, {KEY2}",
        api_rate_limit=0,
        api_max_request_bytes=MAX_BODY,
        upload_max_bytes=UPLOAD_MAX,
        allow_private_urls=True,
        ui_username="ann",
        ui_password="correct horse",
    )
    bot = Chatbot(settings, embedder=embedder)
    facts = fact_articles()
    report = bot.ingest([seed_file, *facts])
    assert report.ok and len(report.added) == 1 + len(facts), report.summary()
    lines: list[str] = []
    running = service.serve(bot, "127.0.0.1", 0, block=False, announce=lines.append)
    try:
        ids = {town: a.id for town, a in zip(FACTS, facts, strict=True)}
        yield Live(running.url, bot, lines, ids)
    finally:
        running.stop()
        bot.close()


def _extra(obj: Any, name: str) -> Any:
    """A field the OpenAI types do not declare, as the ``openai`` client exposes it."""
    extra = obj.model_extra or {}
    assert name in extra, f"{name} missing from {sorted(extra)}"
    return extra[name]


# --- the OpenAI-compatible chat -----------------------------------------------------------------


def test_startup_line_says_where_and_who_can_reach_it(live: Live) -> None:
    assert live.lines == [
        f"Serving on {live.url}/: web UI at /, OpenAI-compatible API at /v1, REST at /api, docs "
        "at /docs (only this machine can reach it; API needs a key; web UI login required)"
    ]


def test_models_lists_the_news_desk(live: Live) -> None:
    models = live.client().models.list()
    assert [m.id for m in models.data] == ["news-desk"]
    assert live.client().models.retrieve("news-desk").id == "news-desk"


def test_answer_carries_checked_citations_sources_and_usage(live: Live) -> None:
    completion = live.client().chat.completions.create(
        model="news-desk", messages=[{"role": "user", "content": QUESTION}]
    )
    text = completion.choices[0].message.content or ""
    expected_answer = live.bot.ask(QUESTION)  # the API is a shell over the Python API
    assert text == expected_answer.text and "[1]" in text, text
    assert completion.choices[0].finish_reason == "stop"
    citations = _extra(completion, "citations")
    sources = _extra(completion, "sources")
    assert citations and sources
    first = citations[0]
    expected = {"n", "article_id", "title", "outlet", "date", "url", "quote", "supported"}
    assert expected <= set(first)
    assert (first["outlet"], first["date"], first["supported"]) == ("ANI", "2025-02-27", True)
    # The quote is the exact passage of the article, at the span given.
    article = live.bot.article(first["article_id"])
    assert article is not None
    assert article.text[first["char_start"] : first["char_end"]] == first["quote"]
    assert {c["n"] for c in citations} <= {s["n"] for s in sources}
    assert [(c["n"], c["quote"]) for c in citations] == [
        (c.n, c.quote) for c in expected_answer.citations
    ]
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_answer_matches_and_ends_with_citations(live: Live) -> None:
    client = live.client()
    whole = client.chat.completions.create(
        model="news-desk", messages=[{"role": "user", "content": QUESTION}]
    )
    stream = client.chat.completions.create(
        model="news-desk",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The same words and [n] markers as the whole answer (the pieces may place a marker after
    # the full stop that the checked answer puts before it).
    assert openai_compat._words(text) == openai_compat._words(whole.choices[0].message.content)
    assert "Checked answer" not in text
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2, "the answer should arrive in pieces, not at once"
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert _extra(final, "citations") == _extra(whole, "citations")
    assert _extra(final, "sources")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_earlier_turns_make_the_conversation(live: Live) -> None:
    client = live.client()
    first = client.chat.completions.create(
        model="news-desk", messages=[{"role": "user", "content": QUESTION}]
    )
    follow_up = client.chat.completions.create(
        model="news-desk",
        messages=[
            {"role": "system", "content": "Ignored: the desk's own prompt applies."},
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": [{"type": "text", "text": "How long did they talk?"}]},
        ],
    )
    session = live.bot.chat_session()  # the same conversation through the Python API
    session.ask(QUESTION)
    expected = session.ask("How long did they talk?")
    assert _extra(follow_up, "interpreted_as") == expected.interpreted_as
    assert expected.interpreted_as.startswith(QUESTION)
    assert follow_up.choices[0].message.content == expected.text


def test_filters_come_as_extra_body_fields(live: Live) -> None:
    client = live.client()
    ask = {"model": "news-desk", "messages": [{"role": "user", "content": QUESTION}]}
    later = client.chat.completions.create(**ask, extra_body={"since": "2025-03-01"})
    assert _extra(later, "refused") is True and _extra(later, "citations") == []
    other = client.chat.completions.create(**ask, extra_body={"sources": ["Town Wire"]})
    assert all(s["outlet"] == "Town Wire" for s in _extra(other, "sources"))
    same = client.chat.completions.create(
        **ask, extra_body={"sources": "ANI", "until": "2025-02-28", "as_of": "2025-02-27"}
    )
    cited = _extra(same, "citations")
    assert cited and all(c["outlet"] == "ANI" for c in cited)
    listed = client.chat.completions.create(**ask, extra_body={"append_sources": True})
    content = listed.choices[0].message.content or ""
    assert content.startswith(live.bot.ask(QUESTION).text)
    assert "\n[1] “" in content and "— ANI, 2025-02-27" in content


def test_eight_concurrent_chats_each_get_their_own_answer(live: Live) -> None:
    def ask(town: str) -> tuple[str, str, list[str]]:
        body, _, _ = FACTS[town]
        messages = [{"role": "user", "content": f"What did the {town} {body} open?"}]
        client = live.client()
        if town in ("Lisbon", "Bergen", "Graz", "Kaunas"):  # half streamed, half not
            chunks = list(
                client.chat.completions.create(model="news-desk", messages=messages, stream=True)
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
            cited = [c["article_id"] for c in _extra(final, "citations")]
        else:
            done = client.chat.completions.create(model="news-desk", messages=messages)
            text = done.choices[0].message.content or ""
            cited = [c["article_id"] for c in _extra(done, "citations")]
        return town, text, cited

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, FACTS))
    for town, text, cited in results:
        assert FACTS[town][2] in text, (town, text)
        assert cited and cited[0] == live.fact_ids[town], (town, cited)


# --- access --------------------------------------------------------------------------------------


def test_api_keys_are_required_and_never_echoed_or_logged(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(openai.AuthenticationError) as refused:
        live.client("sk-wrong").models.list()
    assert "CHATBOT_API_KEYS" in str(refused.value) and "sk-wrong" not in str(refused.value)
    assert live.client(KEY2).models.list().data
    for key in (None, "sk-wrong", KEY[:-1]):
        with live.http(key) as http:
            for method, path in (("GET", "/v1/models"), ("GET", "/api/articles")):
                r = http.request(method, path)
                assert r.status_code == 401, (key, path)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["error"]["type"] == "authentication_error"
            r = http.post("/v1/chat/completions", json={"model": "news-desk", "messages": []})
            assert r.status_code == 401
    with live.http(None) as http:
        assert http.get("/api/health").json()["status"] == "ok"  # no key needed
    logged = caplog.text + "\n".join(live.lines)
    assert KEY not in logged and KEY2 not in logged and "sk-wrong" not in logged


def test_rate_limit_answers_429_with_retry_after_per_key(live: Live) -> None:
    settings = live.bot.settings.model_copy(update={"api_rate_limit": 3})
    limited = service.Service(service.create_app(live.bot, settings, ui=False), "127.0.0.1", 0)
    limited.start()
    try:
        client = openai.OpenAI(base_url=limited.url + "/v1", api_key=KEY, max_retries=0)
        for _ in range(3):
            client.models.list()
        with pytest.raises(openai.RateLimitError) as refused:
            client.models.list()
        response = refused.value.response
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 20
        assert "3 requests per minute" in response.json()["error"]["message"]
        # Another key has its own budget; health is never limited.
        other = openai.OpenAI(base_url=limited.url + "/v1", api_key=KEY2, max_retries=0)
        assert other.models.list().data
        for _ in range(5):
            assert httpx.get(limited.url + "/api/health", timeout=30).status_code == 200
    finally:
        limited.stop()


def test_token_bucket_refills_evenly() -> None:
    now = [100.0]
    limiter = RateLimiter(6, clock=lambda: now[0])  # one every 10 s, bursts of 6
    assert [limiter.acquire("a") for _ in range(6)] == [0.0] * 6
    assert limiter.acquire("a") == pytest.approx(10.0)
    assert limiter.acquire("b") == 0.0
    now[0] += 5
    assert limiter.acquire("a") == pytest.approx(5.0)
    now[0] += 5
    assert limiter.acquire("a") == 0.0
    assert RateLimiter(0).acquire("a") == 0.0


def test_keys_are_matched_exactly() -> None:
    keys = ApiKeys(["alpha", "beta"])
    assert (keys.identify("alpha"), keys.identify("beta")) == ("key-1", "key-2")
    assert keys.identify("alph") is None and keys.identify("alpha ") is None
    assert not ApiKeys([]).required


def test_startup_line_warns_about_a_ui_without_login_on_the_network() -> None:
    line = service.startup_message("http://10.0.0.5:7860/", "0.0.0.0", keys=True, login=False)
    assert "bound to 0.0.0.0: other machines can reach it; API needs a key" in line
    assert line.endswith("set CHATBOT_UI_USERNAME and CHATBOT_UI_PASSWORD")
    line = service.startup_message("http://10.0.0.5:7860/", "0.0.0.0", keys=True, login=True)
    assert "WARNING" not in line


def test_an_open_api_is_refused_beyond_this_machine(tmp_path: Path) -> None:
    open_settings = settings_in(tmp_path)
    with pytest.raises(ChatbotError, match="CHATBOT_API_KEYS"):
        service.app.check_exposure("0.0.0.0", open_settings)
    service.app.check_exposure("127.0.0.1", open_settings)
    service.app.check_exposure("0.0.0.0", settings_in(tmp_path, api_keys="k"))


def test_settings_read_comma_separated_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatbot.config import Settings

    monkeypatch.setenv("CHATBOT_API_KEYS", " alpha-key ,beta-key,, ")
    keys = Settings().api_keys
    assert [k.get_secret_value() for k in keys] == ["alpha-key", "beta-key"]
    assert "alpha-key" not in repr(Settings()) and "beta-key" not in str(Settings())


def test_the_web_ui_keeps_its_login_on_the_same_port(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/config").status_code == 401
        assert http.get("/").status_code == 200  # the login page
        r = http.post("/login", data={"username": "ann", "password": "correct horse"})
        assert r.status_code == 200
        config = http.get("/config")
        assert config.status_code == 200 and "Conversation" in config.text
    with live.http(None) as http:
        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
        assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200  # offline
        paths = http.get("/openapi.json").json()["paths"]
    for path in ("/v1/chat/completions", "/v1/models", "/api/articles", "/api/ingest"):
        assert path in paths


# --- bad input ----------------------------------------------------------------------------------


def _chat(**body: Any) -> dict[str, Any]:
    return {"model": "news-desk", "messages": [{"role": "user", "content": QUESTION}], **body}


BAD_REQUESTS = [
    ("malformed JSON", "POST", "/v1/chat/completions", b'{"model": "news-desk", "mess', 400,
     "not valid JSON"),
    ("not an object", "POST", "/v1/chat/completions", b"[1, 2]", 400, "JSON object"),
    ("unknown model", "POST", "/v1/chat/completions", _chat(model="gpt-9"), 404, "news-desk"),
    ("unknown model, streamed", "POST", "/v1/chat/completions",
     _chat(model="gpt-9", stream=True), 404, "news-desk"),
    ("no messages", "POST", "/v1/chat/completions", _chat(messages=[]), 400, "messages"),
    ("no model", "POST", "/v1/chat/completions", {"messages": []}, 400, "model"),
    ("assistant last", "POST", "/v1/chat/completions",
     _chat(messages=[{"role": "assistant", "content": "hi"}]), 400, "last message"),
    ("empty question", "POST", "/v1/chat/completions",
     _chat(messages=[{"role": "user", "content": "  "}]), 400, "last message"),
    ("unknown role", "POST", "/v1/chat/completions",
     _chat(messages=[{"role": "wizard", "content": "hi"}]), 400, "messages[0].role"),
    ("bad since", "POST", "/v1/chat/completions", _chat(since="last blue moon"), 400, "since"),
    ("two answers", "POST", "/v1/chat/completions", _chat(n=2), 400, "n:"),
    ("huge message", "POST", "/v1/chat/completions",
     _chat(messages=[{"role": "user", "content": "x" * 10_000_000}]), 413, "limit"),
    ("unknown article", "GET", "/api/articles/nope", None, 404, "GET /api/articles"),
    ("delete unknown article", "DELETE", "/api/articles/nope", None, 404, "nope"),
    ("bad article date", "GET", "/api/articles?since=someday", None, 400, "since"),
    ("bad page size", "GET", "/api/articles?limit=0", None, 400, "limit"),
    ("not a date", "GET", "/api/briefings/yesterdayish", None, 400, "YYYY-MM-DD"),
    ("impossible date", "POST", "/api/briefings/2025-02-30", None, 400, "YYYY-MM-DD"),
    ("no briefing yet", "GET", "/api/briefings/2024-01-01", None, 404, "POST /api/briefings"),
    ("bad format", "GET", "/api/briefings/2024-01-01?format=pdf", None, 400, "format"),
    ("ingest nothing", "POST", "/api/ingest", {"urls": []}, 400, "Nothing to ingest"),
    ("ingest unknown field", "POST", "/api/ingest", {"url": "x"}, 400, "urls"),
    ("ingest as text", "POST", "/api/ingest", b"https://example.org", 415, "multipart"),
    ("unknown endpoint", "GET", "/api/nothing-here", None, 404, "/docs"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "method", "path", "body", "status", "says"),
    BAD_REQUESTS,
    ids=[b[0] for b in BAD_REQUESTS],
)
def test_bad_input_gets_a_json_error_that_says_what_to_fix(
    live: Live, what: str, method: str, path: str, body: Any, status: int, says: str
) -> None:
    with live.http() as http:
        if isinstance(body, bytes):
            kind = "text/plain" if what == "ingest as text" else "application/json"
            r = http.request(method, path, content=body, headers={"Content-Type": kind})
        else:
            r = http.request(method, path, json=body)
        assert r.status_code == status, r.text[:500]
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert says in error["message"], error
        assert error["type"]
        assert http.get("/api/health").status_code == 200  # still serving


def test_chunked_body_over_the_limit_is_refused(live: Live) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "news-desk", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY // 10_000 + 2):
            yield b"y" * 10_000
        yield b'"}]}'

    with live.http() as http:
        r = http.post(
            "/v1/chat/completions", content=pieces(), headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]


# --- REST ---------------------------------------------------------------------------------------


def test_articles_list_with_filters_and_paging(live: Live) -> None:
    with live.http() as http:
        everything = http.get("/api/articles").json()
        assert everything["total"] == 1 + len(FACTS)
        page = http.get("/api/articles", params={"limit": 3, "offset": 2}).json()
        assert [a["id"] for a in page["articles"]] == [a["id"] for a in everything["articles"][2:5]]
        ani = http.get("/api/articles", params={"source": "ANI"}).json()
        assert [a["outlet"] for a in ani["articles"]] == ["ANI"]
        march = http.get(
            "/api/articles", params={"since": "2025-03-12", "until": "2025-03-14"}
        ).json()
        assert sorted(a["date"] for a in march["articles"]) == ["2025-03-12", "2025-03-13"]
        found = http.get("/api/articles", params={"q": "tartu telescope"}).json()
        assert [a["id"] for a in found["articles"]] == [live.fact_ids["Tartu"]]
        one = http.get(f"/api/articles/{live.fact_ids['Graz']}").json()
        assert "robot that shelves" in one["text"] and one["outlet"] == "Town Wire"


def test_ingest_urls_and_files_then_delete(live: Live, http_server: LocalServer) -> None:
    with live.http() as http:
        r = http.post(
            "/api/ingest",
            json={"urls": [http_server.url("/article.html"), http_server.url("/404"), "/etc/x"]},
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert len(report["added"]) == 1 and report["ok"] is False
        reasons = {f["item"]: f["reason"] for f in report["failed"]}
        assert reasons["/etc/x"] == "not an http(s) URL"
        assert "404" in reasons[http_server.url("/404")]
        added = report["added"][0]
        again = http.post("/api/ingest", json={"urls": [http_server.url("/article.html")]})
        assert again.json()["unchanged"] == [added]  # nothing stored twice

        text = "Title: Harbour ferry strike\n\nFerry crews in Tallinn went on strike on Friday. "
        files = [
            ("files", ("ferry strike.txt", (text * 3).encode(), "text/plain")),
            ("files", ("../../evil.exe", b"MZ binary", "application/octet-stream")),
            ("files", ("big.txt", b"w" * (UPLOAD_MAX + 1_000), "text/plain")),
        ]
        r = http.post("/api/ingest", files=files)
        assert r.status_code == 200, r.text
        report = r.json()
        assert len(report["added"]) == 1
        reasons = {f["item"]: f["reason"] for f in report["failed"]}
        assert "unsupported file type .exe" in reasons["evil.exe"]
        assert "over the upload limit" in reasons["big.txt"]
        uploads = live.bot.settings.data_dir / "uploads"
        assert [p.name for p in uploads.iterdir()] == ["ferry_strike.txt"]

        for article_id in (added, report["added"][0]):
            assert http.delete(f"/api/articles/{article_id}").json() == {"deleted": article_id}
            assert http.get(f"/api/articles/{article_id}").status_code == 404
    assert live.bot.store.count_articles() == 1 + len(FACTS)


def test_too_big_upload_is_refused_before_it_is_read(live: Live) -> None:
    with live.http() as http:
        files = [("files", ("huge.txt", b"w" * (UPLOAD_MAX + 200_000), "text/plain"))]
        r = http.post("/api/ingest", files=files)
    assert r.status_code == 413 and "CHATBOT_UPLOAD_MAX_BYTES" in r.json()["error"]["message"]


def test_briefings_generate_list_and_read_in_every_format(live: Live) -> None:
    with live.http() as http:
        made = http.post("/api/briefings/2025-02-27")
        assert made.status_code == 200, made.text
        brief = made.json()
        assert brief["key"] == "2025-02-27" and len(brief["stories"]) == 1
        story = brief["stories"][0]
        assert story["citations"] and story["outlets"] == ["ANI"]
        assert http.get("/api/briefings").json() == {"briefings": ["2025-02-27"]}
        assert http.get("/api/briefings/2025-02-27").json()["stories"] == brief["stories"]
        md = http.get("/api/briefings/2025-02-27", params={"format": "md"})
        assert md.headers["content-type"].startswith("text/markdown")
        assert story["headline"] in md.text
        html = http.get("/api/briefings/2025-02-27", params={"format": "html"})
        assert html.headers["content-type"].startswith("text/html") and "<html" in html.text
    written = sorted(p.name for p in live.bot.settings.briefings_dir.iterdir())
    assert written == [f"briefing-2025-02-27.{x}" for x in ("html", "json", "md")]


def test_status_needs_a_key_and_reports_the_store(live: Live) -> None:
    with live.http() as http:
        status = http.get("/api/status").json()
    assert status["articles"] >= 1 + len(FACTS)
    assert status["llm_backend"].startswith("extractive")


def test_extra_routers_and_lifecycle_hooks_plug_in(live: Live) -> None:
    from fastapi import APIRouter

    calls: list[str] = []
    router = APIRouter(prefix="/api")

    @router.get("/feeds")
    def feeds() -> dict[str, list[str]]:
        return {"feeds": []}

    app = service.create_app(
        live.bot,
        live.bot.settings,
        ui=False,
        extra_routers=[router],
        on_startup=[lambda: calls.append("start")],
        on_shutdown=[lambda: calls.append("stop")],
    )
    running = service.Service(app, "127.0.0.1", 0).start()
    try:
        assert calls == ["start"]
        assert httpx.get(running.url + "/api/feeds", timeout=30).status_code == 401
        r = httpx.get(running.url + "/api/feeds", headers={"Authorization": f"Bearer {KEY}"})
        assert r.json() == {"feeds": []}
    finally:
        running.stop()
    assert calls == ["start", "stop"]


def _serve_env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    return {
        **env,
        "CHATBOT_CONFIG": str(tmp_path / "absent.toml"),
        "CHATBOT_STORE_PATH": str(tmp_path / "vs"),
        "CHATBOT_DATA_DIR": str(tmp_path / "data"),
        "CHATBOT_BRIEFINGS_DIR": str(tmp_path / "briefings"),
        "CHATBOT_LLM_BACKEND": "extractive",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        **more,
    }


def test_serve_command_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = _serve_env(tmp_path, CHATBOT_API_KEYS=KEY)
    command = [sys.executable, "-m", "chatbot.surfaces.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", proc, timeout=180)
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).json()
        assert health == {"status": "ok", "articles": 1}  # the example article, loaded first
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json=_chat(),
            timeout=120,
        )
        assert r.status_code == 200 and r.json()["citations"]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200  # the UI
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text
    assert f"Serving on http://127.0.0.1:{port}/: web UI at /" in text
    assert KEY not in text


def test_serve_command_refuses_an_open_api_on_the_network(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chatbot.surfaces.cli", "serve", "--host", "0.0.0.0"]
    done = subprocess.run(command, env=_serve_env(tmp_path), capture_output=True, text=True)
    assert done.returncode != 0
    assert "without API keys: set CHATBOT_API_KEYS" in done.stderr
    assert not (tmp_path / "vs").exists()  # refused before anything was opened


def test_bad_json_inside_a_stream_request_is_not_a_stream(live: Live) -> None:
    with live.http() as http:
        r = http.post(
            "/v1/chat/completions",
            content=json.dumps(_chat(stream=True, since="soon-ish")),
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")


def test_a_taken_port_is_a_clear_error() -> None:
    import socket

    from fastapi import FastAPI

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ChatbotError, match=f"127.0.0.1:{port} \\(port taken"):
            service.Service(FastAPI(), "127.0.0.1", port).start(timeout=30)
