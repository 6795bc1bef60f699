"""The layout is the architecture: each stage imports only the stages below it, the shells only
the facade and the vocabulary, and tests never import the evals."""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot

REPO = Path(__file__).resolve().parents[1]
BASE = {"chatbot.vocabulary", "chatbot.errors", "chatbot.config", "chatbot.common"}
# What each part may import besides itself and BASE (imports under TYPE_CHECKING included).
ALLOWED: dict[str, set[str]] = {
    "chatbot.common": set(),
    "chatbot.vocabulary": set(),
    "chatbot.errors": set(),
    "chatbot.config": set(),
    "chatbot.presentation": set(),
    "chatbot.sources": set(),
    "chatbot.index": set(),
    "chatbot.llm": set(),
    "chatbot.answering": {"chatbot.index", "chatbot.llm"},
    "chatbot.news": {
        "chatbot.answering",
        "chatbot.index",
        "chatbot.llm",
        "chatbot.sources",
        "chatbot.presentation",
        "chatbot.api",  # the desk drives a Chatbot it is given (typing only)
    },
    "chatbot.api": {
        "chatbot.answering",
        "chatbot.index",
        "chatbot.llm",
        "chatbot.news",
        "chatbot.sources",
    },
    "chatbot.surfaces": {"chatbot.api", "chatbot.presentation", "chatbot"},
    "chatbot.__main__": {"chatbot.surfaces"},
    "chatbot": {"chatbot.api"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _part(module: str) -> str:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    raise AssertionError(f"{module} belongs to no part of the layout")


def _covered(target: str, allowed: set[str]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def test_every_stage_imports_only_the_stages_below_it() -> None:
    wrong = []
    for path in sorted((REPO / "chatbot").rglob("*.py")):
        module = _module(path)
        part = _part(module)
        allowed = BASE | ALLOWED[part] | {part}
        for target in _imports(path):
            if target.startswith("chatbot") and not _covered(target, allowed):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_tests_never_import_the_evals() -> None:
    wrong = [
        f"{path.name} imports {target}"
        for path in sorted((REPO / "tests").glob("*.py"))
        for target in _imports(path)
        if target == "evals" or target.startswith("evals.")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_package_exports_its_vocabulary() -> None:
    from chatbot import vocabulary

    assert set(vocabulary.__all__) <= set(chatbot.__all__)
    assert {"Chatbot", "Answer", "Citation", "Briefing", "Filters", "IngestReport"} <= set(
        chatbot.__all__
    )
    for name in chatbot.__all__:
        assert getattr(chatbot, name) is not None
