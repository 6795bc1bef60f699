"""News summarization and Q&A chatbot with checked citations.

``from chatbot import Chatbot`` is the facade; the data types it takes and returns (``Answer``,
``Citation``, ``Briefing``, ...) are the vocabulary, importable from here as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.config import Settings, load_settings
from chatbot.errors import ChatbotError
from chatbot.vocabulary import (
    Alert,
    Answer,
    AnswerEvent,
    AnswerSentence,
    Article,
    Briefing,
    Chunk,
    Citation,
    Development,
    FeedReport,
    Filters,
    IngestEvent,
    IngestReport,
    LoadFailure,
    Passage,
    ProgressCallback,
    RefreshReport,
    ShortAnswer,
    StoredArticle,
    Story,
    StoryInfo,
    StoryLink,
    StreamEvent,
    Subscription,
    Summary,
    Timeline,
    TokenEvent,
    Turn,
    Watch,
    final_answer,
)

if TYPE_CHECKING:
    from chatbot.bot import Chatbot, ChatSession

__all__ = [
    "Alert",
    "Answer",
    "AnswerEvent",
    "AnswerSentence",
    "Article",
    "Briefing",
    "ChatSession",
    "Chatbot",
    "ChatbotError",
    "Chunk",
    "Citation",
    "Development",
    "FeedReport",
    "Filters",
    "IngestEvent",
    "IngestReport",
    "LoadFailure",
    "Passage",
    "ProgressCallback",
    "RefreshReport",
    "Settings",
    "ShortAnswer",
    "StoredArticle",
    "Story",
    "StoryInfo",
    "StoryLink",
    "StreamEvent",
    "Subscription",
    "Summary",
    "Timeline",
    "TokenEvent",
    "Turn",
    "Watch",
    "final_answer",
    "load_settings",
]


def __getattr__(name: str) -> object:
    # Lazy: importing the package (or the CLI) must not load torch or chromadb.
    if name in ("Chatbot", "ChatSession"):
        from chatbot import bot

        return getattr(bot, name)
    raise AttributeError(name)
