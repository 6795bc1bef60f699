"""An embedded store folder's claim by one process (readers too): Chroma's embedded client
caches its index in memory, so a second process reading while another writes sees stale or
missing chunks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from chatbot.errors import StoreError

try:  # POSIX; elsewhere the one-process rule is documented but not enforced
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".process.lock"


class ProcessLock:
    """This process's claim on an embedded store folder: an ``flock`` on ``.process.lock``
    holding the owner's pid and command line.

    The kernel drops the lock when the owner exits, even on SIGKILL, so a crash never leaves
    the store locked. Several stores of the same folder in one process share the claim (Chroma
    shares one client per folder within a process, so that is safe): only the first holds the
    lock, the others see their own pid in the file.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 4096).decode("utf-8", "replace")
            os.close(fd)
            pid, _, command = owner.partition("\n")
            if pid.strip() == str(os.getpid()):
                return  # another store object of this same process holds it
            raise StoreError(
                f"The embedded store at {folder} is open in another process (pid "
                f"{pid.strip() or '?'}: {command.strip() or 'unknown command'}). An embedded "
                "Chroma store serves one process at a time; reading it while another process "
                "writes gives stale or missing results. Stop that process first, or share the "
                f"store through a Chroma server: chroma run --path {folder} --host 127.0.0.1 "
                "--port 8000, then set CHATBOT_CHROMA_URL=http://127.0.0.1:8000."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{' '.join(sys.argv)[:2000]}\n".encode())
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
