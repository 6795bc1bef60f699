"""Store fixtures: the real packaged embedder, embedded Chroma and a `chroma run` server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot.config import Settings
from chatbot.embeddings import Embedder, create_embedder

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed"
EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once for the whole run."""
    return create_embedder(Settings())


@pytest.fixture(scope="session")
def seed_file() -> Path:
    files = sorted(SEED_DIR.glob("*.txt"))
    assert files, f"the example article is missing from {SEED_DIR}"
    return files[0]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        store_path=tmp_path / "vectorstore",
        data_dir=tmp_path / "data",
        briefings_dir=tmp_path / "briefings",
        llm_backend="extractive",
        allow_private_urls=True,
    )


@pytest.fixture
def bot(settings: Settings, embedder: Embedder):
    from chatbot.api import Chatbot

    return Chatbot(settings, embedder=embedder)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, stopped at the end of the session."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start on {url}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
