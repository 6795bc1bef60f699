"""The base of every error whose message is meant for the user (what failed, what to do)."""

from __future__ import annotations


class ChatbotError(RuntimeError):
    pass


USER_ERRORS: tuple[type[Exception], ...] = (ChatbotError,)


class FeedError(ChatbotError):
    """A subscription cannot be added or found; the message says what to do."""


class StoreError(ChatbotError):
    """The store cannot be opened or written; the message says what to do."""


class StoryError(ChatbotError):
    """A story cannot be found; the message says what to do."""


class WatchError(ChatbotError):
    """A watch cannot be added or found; the message says what to do."""
