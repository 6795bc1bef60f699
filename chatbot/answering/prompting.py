"""Prompt templates from prompts/: strict rendering, and sources fitted to the context window."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib.resources import files
from string import Template

from chatbot.common.dates import date_label
from chatbot.errors import ChatbotError
from chatbot.vocabulary import Passage

_TAG = re.compile(r"</?\s*source\b[^>]*>", re.I)


class PromptError(ChatbotError):
    pass


@lru_cache(maxsize=32)
def template(name: str) -> Template:
    path = files("chatbot") / "prompts" / f"{name}.txt"
    try:
        return Template(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PromptError(f"prompt template {name!r} is missing from prompts/") from exc


def render(name: str, **values: object) -> str:
    """Fill a template; a missing or an unexpected variable is an error, not a blank."""
    tpl = template(name)
    wanted = set(tpl.get_identifiers())
    if missing := wanted - values.keys():
        raise PromptError(f"prompt {name!r} needs {sorted(missing)}")
    if extra := values.keys() - wanted:
        raise PromptError(f"prompt {name!r} does not use {sorted(extra)}")
    return tpl.substitute({k: str(v) for k, v in values.items()})


def neutralise(text: str) -> str:
    """Article text is data: it must not be able to close or open a <source> block."""
    return _TAG.sub("[tag removed]", text)


def render_source(n: int, p: Passage) -> str:
    return render(
        "source",
        n=n,
        outlet=neutralise(p.source or "unknown").replace('"', "'"),
        date=date_label(p.published_at),
        title=neutralise(p.title).replace('"', "'"),
        text=neutralise(p.text),
    )


def fit_passages(
    passages: Sequence[Passage], budget: int, count_tokens: Callable[[str], int]
) -> list[Passage]:
    """The most relevant passages whose rendered text fits ``budget`` tokens; a passage that
    does not fit is dropped whole (least relevant first), never cut."""
    order = sorted(range(len(passages)), key=lambda i: passages[i].score, reverse=True)
    chosen: set[int] = set()
    used = 0
    for i in order:
        cost = count_tokens(render_source(len(chosen) + 1, passages[i]))
        if used + cost <= budget:
            chosen.add(i)
            used += cost
    return [p for i, p in enumerate(passages) if i in chosen]
