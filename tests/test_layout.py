"""The layout is the architecture: each stage imports only the stages below it, the shells only
the facade, the presentation and the shared words, the HTTP service never loads Gradio, and
tests never import the evals.

Every import counts: relative ones are resolved, lazy ones inside functions count, and imports
under ``TYPE_CHECKING`` count too unless named in ``TYPING_ONLY`` with a reason."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chatbot

REPO = Path(__file__).resolve().parents[1]
BASE = frozenset(
    {"chatbot.vocabulary", "chatbot.codecs", "chatbot.config", "chatbot.errors", "chatbot.common"}
)
# The stages, lowest first; a stage imports only stages before it (the README's table says so).
STAGES: list[frozenset[str]] = [
    BASE,
    frozenset({"chatbot.models"}),
    frozenset({"chatbot.sources"}),
    frozenset({"chatbot.presentation"}),
    frozenset({"chatbot.index"}),
    frozenset({"chatbot.llm"}),
    frozenset({"chatbot.answering"}),
    frozenset({"chatbot.news"}),
    frozenset({"chatbot.bot"}),
    frozenset({"chatbot.surfaces"}),
]
SHELL = BASE | {"chatbot.presentation", "chatbot.bot"}
# What each part may import besides itself, one explicit list a part.
ALLOWED: dict[str, frozenset[str]] = {
    "chatbot.errors": frozenset(),
    "chatbot.config": frozenset(),
    "chatbot.common": frozenset({"chatbot.errors"}),
    "chatbot.vocabulary": frozenset({"chatbot.common"}),
    "chatbot.codecs": frozenset({"chatbot.vocabulary", "chatbot.common"}),
    "chatbot.models": BASE,
    "chatbot.sources": BASE,
    "chatbot.presentation": BASE,
    "chatbot.index": BASE | {"chatbot.models"},
    "chatbot.llm": BASE,
    "chatbot.answering": BASE | {"chatbot.models", "chatbot.index", "chatbot.llm"},
    "chatbot.news": BASE
    | {
        "chatbot.models",
        "chatbot.sources",
        "chatbot.presentation",
        "chatbot.index",
        "chatbot.llm",
        "chatbot.answering",
    },
    "chatbot.bot": BASE
    | {
        "chatbot.models",
        "chatbot.sources",
        "chatbot.index",
        "chatbot.llm",
        "chatbot.answering",
        "chatbot.news",
    },
    "chatbot.surfaces": frozenset(),
    "chatbot.surfaces.hosting": SHELL,
    "chatbot.surfaces.web": SHELL | {"chatbot.surfaces.hosting"},
    "chatbot.surfaces.service": SHELL | {"chatbot.surfaces.hosting"},
    "chatbot.surfaces.cli": SHELL
    | {"chatbot.surfaces.hosting", "chatbot.surfaces.web", "chatbot.surfaces.service"},
    "chatbot.__main__": frozenset({"chatbot.surfaces.cli"}),
    "chatbot": BASE | {"chatbot.bot"},
}
# (importing module, imported module) -> why a typing-only import may point where a real one may
# not. None now: the desk that typed the facade above it is given its collaborators instead.
TYPING_ONLY: dict[tuple[str, str], str] = {}
# Lazy imports (inside a function) that break a part's list, each with its reason.
LAZY: dict[tuple[str, str], str] = {
    ("chatbot.surfaces.service.app", "chatbot.surfaces.web.page"): (
        "_mount_ui puts the web UI at / when the service is asked to; importing or running the "
        "API alone never loads Gradio (test_the_http_service_never_loads_gradio)"
    ),
}
GUI = ("gradio", "chatbot.surfaces.web")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports(module: str, source: str, *, package: bool = False) -> list[tuple[str, str]]:
    """(target, kind) for each import of ``source`` read as ``module``: kind is "top" (at module
    level), "lazy" (inside a function) or "typing" (under ``if TYPE_CHECKING``). Relative imports
    are resolved; ``from pkg import mod`` names the module ``pkg.mod``."""
    here = module.split(".") if package else module.split(".")[:-1]
    found: list[tuple[str, str]] = []

    def walk(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for inner in child.body:
                    statement(inner, "typing")
                for inner in child.orelse:
                    statement(inner, kind)
            else:
                statement(child, kind)

    def statement(node: ast.AST, kind: str) -> None:
        if isinstance(node, ast.Import):
            found.extend((a.name, kind) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if _is_module(full) else base, kind))
        else:
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            walk(node, "lazy" if is_function and kind == "top" else kind)

    walk(ast.parse(source), "top")
    return found


def part_of(module: str) -> str:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    raise AssertionError(f"{module} belongs to no part of the layout")


def violations(module: str, source: str, *, package: bool = False) -> list[str]:
    part = part_of(module)
    wrong = []
    for target, kind in imports(module, source, package=package):
        if not target.startswith("chatbot"):
            continue
        target_part = part_of(target)
        if target_part == part or target_part in ALLOWED[part]:
            continue
        if kind == "typing" and (module, target) in TYPING_ONLY:
            continue
        if kind == "lazy" and (module, target) in LAZY:
            continue
        wrong.append(f"{module} imports {target} ({kind})")
    return wrong


def _sources() -> list[tuple[str, str, bool]]:
    return [
        (module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted((REPO / "chatbot").rglob("*.py"))
    ]


def test_every_stage_imports_only_the_parts_it_lists() -> None:
    wrong = [v for module, text, pkg in _sources() for v in violations(module, text, package=pkg)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        # A shell reaching past the facade into the store.
        ("chatbot.surfaces.cli", "from chatbot.index.store import ArticleStore\n"),
        ("chatbot.surfaces.cli", "import chatbot.index.store\n"),
        # A runtime import of the facade from below it, and the same import for typing only.
        ("chatbot.news.desk", "def f():\n    from chatbot.bot import Chatbot\n"),
        (
            "chatbot.news.desk",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from chatbot.bot import X\n",
        ),
        # A relative import upwards.
        ("chatbot.index.store", "from ..answering import chat\n"),
        ("chatbot.index.store", "from ..answering.chat import ChatEngine\n"),
        # The HTTP service loading the Gradio page at import time.
        ("chatbot.surfaces.service.rest", "from chatbot.surfaces.web import handlers\n"),
    ],
)
def test_the_layout_test_catches_forbidden_imports(module: str, source: str) -> None:
    assert violations(module, source), f"{module}: {source!r} passed"


def test_exceptions_are_still_needed() -> None:
    """A listed exception whose import is gone is stale: it would let a new one through."""
    found = {
        (module, target)
        for module, text, pkg in _sources()
        for target, _ in imports(module, text, package=pkg)
    }
    stale = sorted((set(TYPING_ONLY) | set(LAZY)) - found)
    assert not stale, stale


def _stage(part: str) -> int:
    top = "chatbot.surfaces" if part.startswith("chatbot.surfaces") else part
    return next(i for i, members in enumerate(STAGES) if top in members)


def test_the_stage_order_agrees_with_the_lists() -> None:
    """Each list names only lower stages (or, in the shared words and in the shells, parts of
    the same stage): the lists and the order cannot drift apart."""
    shared = {0, _stage("chatbot.surfaces")}
    wrong = [
        f"{part} may import {other}, which is not below it"
        for part, allowed in ALLOWED.items()
        if part not in ("chatbot", "chatbot.__main__")
        for other in allowed
        if not (_stage(other) < _stage(part) or _stage(other) == _stage(part) in shared)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_readme_stage_table_matches_the_enforced_order() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it fits together", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]

    def name(cell: str) -> str:
        return "chatbot." + cell.removesuffix(".py").removesuffix("/")

    listed = [frozenset(map(name, re.findall(r"`([^`]+)`", row.split("|")[1]))) for row in rows]
    assert listed == STAGES


def test_the_http_service_never_loads_gradio() -> None:
    code = (
        "import sys\n"
        "import chatbot.surfaces.service as s, chatbot.surfaces.service.app\n"
        "import chatbot.surfaces.hosting\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'gradio'\n"
        "                or m.startswith('chatbot.surfaces.web'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr


def test_tests_and_the_harness_never_import_the_evals() -> None:
    wrong = [
        f"{path.name} imports {target}"
        for folder in ("tests", "harness")
        for path in sorted((REPO / folder).glob("*.py"))
        for target, _ in imports(module_name(path), path.read_text(encoding="utf-8"))
        if target == "evals" or target.startswith("evals.")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_evals_never_import_the_tests() -> None:
    wrong = [
        f"{path.name} imports {target}"
        for path in sorted((REPO / "evals").glob("*.py"))
        for target, _ in imports(module_name(path), path.read_text(encoding="utf-8"))
        if target == "tests" or target.startswith("tests.")
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
