"""What answers and summaries share when a language model writes from the sources: the prompt's
token budget, and the repair of what it got wrong with the sources' own words (marked as
quoted)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from chatbot.answering.citations import CheckedAnswer, render_sentence
from chatbot.answering.evidence import word_key
from chatbot.llm.base import LLMBackend

_TEMPLATE_OVERHEAD = 32  # chat-template tokens around the messages


class PromptBudget:
    """Tokens left for sources once the fixed parts of a prompt and the answer are counted:
    the one place chat and summaries size their prompts."""

    def __init__(self, llm: LLMBackend, max_tokens: int) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    def left(self, *fixed: str) -> int:
        used = sum(self.llm.count_tokens(text) for text in fixed)
        return max(64, self.llm.context_window - self.max_tokens - used - _TEMPLATE_OVERHEAD)


def mark_quoted(checked: CheckedAnswer, quoted: Iterable[str]) -> CheckedAnswer:
    """The checked answer with the sentences that are the sources' words put in for the
    language model's marked ``quoted`` (compared as words, citation markers aside)."""
    keys = {word_key(text) for text in quoted}
    if not keys:
        return checked
    return replace(
        checked,
        sentences=tuple(
            replace(s, quoted=True) if word_key(s.text) in keys else s for s in checked.sentences
        ),
    )


def as_sentence(text: str) -> str:
    """A quoted line without end punctuation (a heading, a caption) ends with a full stop, so
    that it stays a sentence of its own next to the one that follows it."""
    text = text.strip()
    return text if re.search(r"[.!?…][\"'”’)\]]*$", text) else f"{text}."


def repair(checked: CheckedAnswer, picks: Sequence[tuple[int, str]]) -> tuple[list[str], list[str]]:
    """The sentences to show, and the repaired ones among them: supported sentences as written; an
    unsupported one replaced by a pick (the one from the source it cited, else the best unused
    one), or left out when no pick is left. Picks are the sentences chosen to answer the
    question (passage number, text): a repair never quotes text the question did not lead to,
    however well it matches what the model made up."""
    shown: list[str] = []
    keys: set[str] = set()
    repaired: list[str] = []
    for sentence in checked.sentences:
        if sentence.supported:
            text = render_sentence(sentence.text, sentence.citations)
        else:
            unused = [p for p in picks if word_key(p[1]) not in keys]
            pick = next((p for p in unused if p[0] in sentence.citations), None) or next(
                iter(unused), None
            )
            if pick is None:
                continue
            text = render_sentence(as_sentence(pick[1]), (pick[0],))
            repaired.append(text)
        if word_key(text) not in keys:
            keys.add(word_key(text))
            shown.append(text)
    return shown, repaired
