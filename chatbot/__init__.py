"""News summarization and Q&A chatbot with checked citations. ``from chatbot import Chatbot``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatbot.api import Chatbot

__all__ = ["Chatbot"]


def __getattr__(name: str) -> object:
    # Lazy: importing the package must not load torch or chromadb.
    if name == "Chatbot":
        from chatbot.api import Chatbot

        return Chatbot
    raise AttributeError(name)
