"""Where tests find what lives outside the package: ``../shared`` beside the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_evaldata() -> Path:
    """``../shared/evaldata`` relative to this repository (it may be absent on other machines)."""
    return REPO.parent / "shared" / "evaldata"


def example_article() -> Path:
    """The example article that ships in the package (the same text as ``../shared/seed``)."""
    return next((REPO / "chatbot" / "examples").glob("*.txt"))
