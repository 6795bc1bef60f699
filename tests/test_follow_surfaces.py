"""Stories and watches through the shells: the `chatbot story` / `chatbot watch` commands in a
real process, and /api/stories and /api/watches over real HTTP with API keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import service
from harness.servers import free_port
from tests.store_fixtures import settings_in
from tests.test_cli import run
from tests.test_stories import DAYS, article

KEY = "sk-stories-test-key-0123456789"


def _articles() -> list[dict[str, str]]:
    return [
        article("Council approves three tram lines", "trams", DAYS[0]),
        article("Harbour dredging begins", "harbour", DAYS[0]),
        article("Mayor signs the tram contract", "trams-followup", DAYS[1]),
    ]


def test_story_and_watch_commands(tmp_path: Path) -> None:
    feed = tmp_path / "news.jsonl"
    feed.write_text("\n".join(json.dumps(a) for a in _articles()), encoding="utf-8")
    assert run(["ingest", "--quiet", str(feed)], tmp_path).returncode == 0
    assert "No stories yet" in run(["story"], tmp_path).stdout
    for day in DAYS[:2]:
        result = run(["briefing", "--date", day, "--format", "json"], tmp_path)
        assert result.returncode == 0, result.stderr

    listed = run(["story"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    tram = next(line for line in listed.stdout.splitlines() if "tram" in line.lower())
    story_id = tram.split()[0]
    assert "2 briefings" in tram

    shown = run(["story", story_id], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.index(f"== {DAYS[0]}") < shown.stdout.index(f"== {DAYS[1]}")
    assert "[1]" in shown.stdout and "contract" in shown.stdout
    data = json.loads(run(["story", "--query", "tram contract", "--json"], tmp_path).stdout)
    assert data["story_id"] == story_id and len(data["developments"]) == 2
    since = json.loads(run(["story", story_id, "--since", DAYS[1], "--json"], tmp_path).stdout)
    assert [d["day"] for d in since["developments"]] == [DAYS[1]]
    missing = run(["story", "story-nothing"], tmp_path)
    assert missing.returncode == 1 and "No story 'story-nothing'" in missing.stderr

    added = run(["watch", "add", "When will the first tram line open?", "--every", "1h"], tmp_path)
    assert added.returncode == 0, added.stderr
    watch_id = added.stdout.split()[0]
    assert "2027" in added.stdout and "at most every 1h" in added.stdout
    listed = run(["watch", "list"], tmp_path)
    assert "1 watch\n" in listed.stderr and "tram line" in listed.stdout
    checked = run(["watch", "check", "--all"], tmp_path)
    assert checked.returncode == 0 and "0 changed answer(s)" in checked.stderr
    assert run(["watch", "remove", watch_id], tmp_path).stdout.startswith("no longer watched")
    gone = run(["watch", "remove", watch_id], tmp_path)
    assert gone.returncode == 1 and "No watch" in gone.stderr
    assert "No watches yet" in run(["watch", "list"], tmp_path).stderr
    bad = run(["watch", "add", "  "], tmp_path)
    assert bad.returncode == 1 and "empty" in bad.stderr


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("stories-api")
    bot = Chatbot(settings_in(folder, api_keys=KEY, api_rate_limit=0), embedder=embedder)
    assert bot.ingest(_articles()).ok
    for day in DAYS[:2]:
        bot.briefing(day)
    running = service.serve(bot, "127.0.0.1", free_port(), block=False, ui=False)
    try:
        yield running.url
    finally:
        running.stop()
        bot.close()


def test_story_routes_need_a_key_and_return_timelines(api: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=api, timeout=60) as http:
        assert http.get("/api/stories").status_code == 401
        assert http.get("/api/watches").status_code == 401
        listed = http.get("/api/stories", headers=auth)
        assert listed.status_code == 200
        [tram] = [s for s in listed.json()["stories"] if "tram" in s["headline"].lower()]
        timeline = http.get(f"/api/stories/{tram['story_id']}", headers=auth).json()
        assert [d["day"] for d in timeline["developments"]] == list(DAYS[:2])
        assert all(d["citations"] for d in timeline["developments"])
        since = http.get(
            f"/api/stories/{tram['story_id']}", params={"since": DAYS[1]}, headers=auth
        ).json()
        assert [d["day"] for d in since["developments"]] == [DAYS[1]]
        [found] = http.get("/api/stories", params={"query": "tram"}, headers=auth).json()["stories"]
        assert found["story_id"] == tram["story_id"]
        missing = http.get("/api/stories/story-nothing", headers=auth)
        assert missing.status_code == 404 and "No story" in missing.json()["error"]["message"]
        bad = http.get(f"/api/stories/{tram['story_id']}", params={"since": "soon"}, headers=auth)
        assert bad.status_code == 400


def test_watch_routes_add_list_and_remove(api: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=api, timeout=60, headers=auth) as http:
        made = http.post("/api/watches", json={"question": "When will the first tram line open?"})
        assert made.status_code == 201, made.text
        watch = made.json()
        assert "2027" in watch["answer"] and watch["citations"]
        assert [w["id"] for w in http.get("/api/watches").json()["watches"]] == [watch["id"]]
        empty = http.post("/api/watches", json={"question": " "})
        assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"]
        extra = http.post("/api/watches", json={"question": "q", "when": 1})
        assert extra.status_code == 400 and "when" in extra.json()["error"]["message"]
        assert http.delete(f"/api/watches/{watch['id']}").status_code == 204
        assert http.delete(f"/api/watches/{watch['id']}").status_code == 404
        assert http.get("/api/watches").json()["watches"] == []
