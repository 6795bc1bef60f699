"""Access to the web UI over real HTTP: the login, the loopback default, the upload size limit,
and uploaded names that try to leave the uploads folder."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot.bot import Chatbot
from chatbot.models.embeddings import Embedder
from chatbot.surfaces import hosting
from chatbot.surfaces.web import handlers as ui
from chatbot.surfaces.web import page as ui_page
from harness.servers import free_port
from tests.store_fixtures import settings_in

LIMIT = 2_000  # upload_max_bytes for these tests


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[tuple[str, Chatbot, list[str]]]:
    """A live UI with a login and a small upload limit; yields (url, bot, startup lines)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    tmp = tmp_path_factory.mktemp("access")
    settings = settings_in(
        tmp,
        ui_username="ann",
        ui_password="correct horse",
        upload_max_bytes=LIMIT,
    )
    bot = Chatbot(settings, embedder=embedder)
    lines: list[str] = []
    app = ui_page.launch(bot, None, free_port(), block=False, announce=lines.append)
    try:
        yield str(app.local_url).rstrip("/"), bot, lines
    finally:
        app.close()


@contextlib.contextmanager
def _login(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/login", data={"username": "ann", "password": "correct horse"})
        assert r.status_code == 200, r.text
        yield client


def test_without_credentials_every_api_is_refused(guarded: tuple[str, Chatbot, list[str]]):
    url, _, lines = guarded
    assert lines == [f"Web UI listening on {url}/ (only this machine can reach it; login required)"]
    for path in ("/config", "/gradio_api/info", "/gradio_api/queue/status"):
        r = httpx.get(url + path, timeout=30)
        assert r.status_code == 401, (path, r.status_code)
    r = httpx.post(url + "/gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=30)
    assert r.status_code == 401
    r = httpx.post(url + "/login", data={"username": "ann", "password": "wrong"}, timeout=30)
    assert r.status_code == 400 and "Incorrect credentials" in r.text
    with _login(url) as client:
        assert client.get("/config").status_code == 200


def test_oversized_upload_is_refused_with_a_clear_message(
    guarded: tuple[str, Chatbot, list[str]], tmp_path: Path
) -> None:
    url, bot, _ = guarded
    with _login(url) as client:
        r = client.post("/gradio_api/upload", files={"files": ("big.txt", b"a" * (LIMIT + 1))})
    assert r.status_code == 413
    assert f"maximum allowed size of {LIMIT} bytes" in r.text
    # The handler refuses it too (a file that reached the server some other way).
    big = tmp_path / "big.txt"
    big.write_bytes(b"Title\n\n" + b"word " * LIMIT)
    rows, _ = ui.ingest_items(bot, [str(big)], "")
    assert rows == [["big.txt", "failed", f"big.txt: {big.stat().st_size:,} bytes is over "
                     f"the upload limit of {LIMIT:,} bytes"]]  # fmt: skip
    assert not list(hosting.uploads_dir(bot.settings).glob("big*"))


def test_uploaded_names_cannot_leave_the_uploads_folder(
    guarded: tuple[str, Chatbot, list[str]],
) -> None:
    url, bot, _ = guarded
    data_dir = Path(bot.settings.data_dir).resolve()
    names = [
        "../../../../tmp/escape-1.txt",
        "..\\..\\escape-2.md",
        "/etc/cron.d/escape-3.txt",
        "....//....//escape-4.md",
        ".bashrc.txt",
        "%2e%2e%2fescape-6.txt",
    ]
    body = b"Uploaded story\n\nThe town council met on Monday to agree a new budget."
    with _login(url) as client:
        uploaded = []
        for i, name in enumerate(names):
            r = client.post("/gradio_api/upload", files={"files": (name, body + bytes([65 + i]))})
            assert r.status_code == 200, r.text
            uploaded += r.json()
        # Gradio's own download route serves nothing outside its cache and allowed folders.
        assert client.get(f"/gradio_api/file={data_dir}/../escape").status_code in (403, 404)
        assert client.get("/gradio_api/file=/etc/passwd").status_code == 403
    rows, _ = ui.ingest_items(bot, uploaded, "")
    assert [r[1] for r in rows].count("added") == len(names), rows
    folder = hosting.uploads_dir(bot.settings)
    saved = sorted(p.name for p in folder.iterdir())
    assert len(saved) == len(names)
    for name in saved:
        assert (folder / name).resolve().parent == folder
        assert not name.startswith(".") and "/" not in name and ".." not in name
    assert folder.is_relative_to(data_dir)
    assert not any(Path(p).exists() for p in ("/tmp/escape-1.txt", "/etc/cron.d/escape-3.txt"))
    assert not list(data_dir.parent.glob("escape*"))


def _outside_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_without_a_login_it_binds_loopback_and_says_so(tmp_path: Path, embedder: Embedder):
    settings = settings_in(tmp_path)
    assert settings.ui_host == "127.0.0.1" and hosting.login_for(settings) is None
    lines: list[str] = []
    port = free_port()
    bot = Chatbot(settings, embedder=embedder)
    app = ui_page.launch(bot, None, port, block=False, announce=lines.append)
    try:
        assert lines == [
            f"Web UI listening on http://127.0.0.1:{port}/ "
            "(only this machine can reach it; no login)"
        ]
        assert httpx.get(f"http://127.0.0.1:{port}/config", timeout=30).status_code == 200
        outside = _outside_address()
        if outside is not None:  # the same port on the machine's network address: nobody there
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{outside}:{port}/config", timeout=5)
    finally:
        app.close()
    warning = ui_page.startup_message("http://0.0.0.0:7860/", "0.0.0.0", login=False)
    assert "WARNING" in warning and "CHATBOT_UI_PASSWORD" in warning
    assert "WARNING" not in ui_page.startup_message("http://0.0.0.0:7860/", "0.0.0.0", login=True)
