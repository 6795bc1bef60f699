"""What the shells share, without Gradio: uploaded files, who can reach a server bound to a
host, and the warm-up that loads models while nobody waits."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.config import Settings

if TYPE_CHECKING:
    from chatbot.bot import Chatbot

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UPLOAD_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf")
_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRejected(ValueError):
    """An uploaded file the shells refuse (type, size, empty); the message names the file."""


def reach(host: str) -> str:
    if host in LOOPBACK_HOSTS:
        return "only this machine can reach it"
    return f"bound to {host}: other machines can reach it"


def login_warning(host: str, login: bool, what: str) -> str:
    """The warning added to a start-up line when ``what`` (e.g. "the web UI ") is reachable from
    other machines without a login; "" otherwise."""
    if login or host in LOOPBACK_HOSTS:
        return ""
    return (
        f" — WARNING: {what}reachable from other machines without a login; set "
        "CHATBOT_UI_USERNAME and CHATBOT_UI_PASSWORD"
    )


def login_for(settings: Settings) -> tuple[str, str] | None:
    """The web UI's (username, password) from the settings, or None: no login."""
    if settings.ui_username and settings.ui_password:
        return settings.ui_username, settings.ui_password.get_secret_value()
    return None


def _warm_up(bot: Chatbot) -> None:
    try:
        bot.warm_up()
    except Exception as exc:  # the first question reports real problems; this only saves time
        log.warning("warm-up failed: %s", exc)


def warm_up_in_background(bot: Chatbot) -> None:
    """Load what the first question needs in a daemon thread, so that it does not wait."""
    threading.Thread(target=_warm_up, args=(bot,), name="warm-up", daemon=True).start()


def uploads_dir(settings: Settings) -> Path:
    return (Path(settings.data_dir) / "uploads").resolve()


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave the uploads folder or surprise a shell: base name only,
    [A-Za-z0-9._-], no leading dot, a known extension kept as is."""
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = f".{ext.lower()}" if ext else ""
    if ext not in UPLOAD_EXTENSIONS:
        raise UploadRejected(
            f"{base}: unsupported file type {ext or '(none)'}; use {', '.join(UPLOAD_EXTENSIONS)}"
        )
    clean = _UNSAFE_NAME_RE.sub("_", stem).strip("._-")[:80] or "upload"
    return clean + ext


def save_upload(settings: Settings, source: str | os.PathLike[str]) -> Path:
    """Copy an uploaded file into ``data_dir/uploads`` under a sanitized name; a different file
    that already has the name gets a content-hash suffix instead of replacing it."""
    src = Path(source)
    name = safe_upload_name(src.name)
    size = src.stat().st_size
    if size > settings.upload_max_bytes:
        raise UploadRejected(
            f"{src.name}: {size:,} bytes is over the upload limit of "
            f"{settings.upload_max_bytes:,} bytes"
        )
    if size == 0:
        raise UploadRejected(f"{src.name}: the file is empty")
    data = src.read_bytes()
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    if dest.exists() and dest.read_bytes() != data:
        digest = hashlib.sha256(data).hexdigest()[:8]
        dest = folder / f"{dest.stem}-{digest}{dest.suffix}"
    if dest.resolve().parent != folder:  # belt and braces: the name was sanitized above
        raise UploadRejected(f"{src.name}: refused file name")
    if not dest.exists():
        tmp = dest.with_name(f".{dest.name}.part")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return dest
