"""Embedding precision (CHATBOT_EMBEDDING_PRECISION): auto picks bf16 by the CPU's flags (a
fake flag reader plays each CPU), either can be forced, questions stay on the fp32 numpy path,
bf16 vectors are close to fp32 ones, and a store written in one precision answers queries
embedded in the other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from chatbot.bot import Chatbot
from chatbot.common import precision
from chatbot.common.precision import cpu_flags, native_bf16, select_precision
from chatbot.config import Settings
from chatbot.models.embeddings import (
    Embedder,
    MiniLMEmbedder,
    SentenceTransformerEmbedder,
    create_embedder,
    packaged_minilm_path,
)
from chatbot.vocabulary import Article
from tests.store_fixtures import settings_in

SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
OLD_XEON = frozenset({"avx2", "avx512f"})


def reader(flags: frozenset[str], calls: list[str]) -> Callable[[], frozenset[str]]:
    def read() -> frozenset[str]:
        calls.append("read")
        return flags

    return read


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(SAPPHIRE_RAPIDS, "bf16"), (ZEN4, "bf16"), (frozenset({"amx_bf16"}), "bf16"),
     (OLD_XEON, "fp32"), (frozenset(), "fp32")],
)  # fmt: skip
def test_auto_picks_bf16_where_the_cpu_has_it(flags: frozenset[str], expected: str) -> None:
    assert select_precision("auto", "cpu", flags=reader(flags, [])) == expected


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_auto_keeps_fp32_on_a_gpu_without_reading_cpu_flags(device: str) -> None:
    calls: list[str] = []
    assert select_precision("auto", device, flags=reader(SAPPHIRE_RAPIDS, calls)) == "fp32"
    assert calls == []


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_forced_precision_wins_over_the_flags(device: str) -> None:
    calls: list[str] = []
    assert select_precision("bf16", device, flags=reader(OLD_XEON, calls)) == "bf16"
    assert select_precision(" FP32 ", device, flags=reader(SAPPHIRE_RAPIDS, calls)) == "fp32"
    assert calls == []


@pytest.mark.parametrize("setting", ["", "fp16", "half", "bfloat16"])
def test_an_unknown_precision_names_the_setting_and_the_choices(setting: str) -> None:
    with pytest.raises(ValueError, match=r"CHATBOT_EMBEDDING_PRECISION=.*auto, bf16, fp32"):
        select_precision(setting, "cpu", flags=lambda: ZEN4)


def test_the_setting_is_typed() -> None:
    assert Settings().embedding_precision == "auto"
    assert Settings(embedding_precision="bf16").embedding_precision == "bf16"
    with pytest.raises(ValidationError, match="embedding_precision"):
        Settings(embedding_precision="fp16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16\n"
    )
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512_bf16"}
    assert native_bf16(cpu_flags(x86))
    assert cpu_flags(arm) == {"fp", "asimd", "bf16"} and not native_bf16(cpu_flags(arm))
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("setting", "flags", "expected"),
    [("auto", ZEN4, "bf16"), ("auto", OLD_XEON, "fp32"), ("bf16", OLD_XEON, "bf16"),
     ("fp32", SAPPHIRE_RAPIDS, "fp32")],
)  # fmt: skip
def test_the_default_embedder_follows_the_setting_and_the_cpu(
    monkeypatch: pytest.MonkeyPatch, setting: str, flags: frozenset[str], expected: str
) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    embedder = create_embedder(Settings(embedding_device="cpu", embedding_precision=setting))
    assert isinstance(embedder, MiniLMEmbedder) and embedder.precision == expected
    bulk = embedder._bulk_encoder()  # built, not loaded: no torch import here
    assert bulk is not None and bulk.precision == expected


def test_questions_stay_on_the_fp32_numpy_path(embedder: Embedder) -> None:
    bf16 = MiniLMEmbedder("all-MiniLM-L6-v2", packaged_minilm_path(), precision="bf16")
    question = "Who won the election in the northern province?"
    assert np.array_equal(bf16.embed_query(question), embedder.embed_query(question))


@pytest.fixture(scope="module")
def torch_embedders() -> dict[str, SentenceTransformerEmbedder]:
    path = packaged_minilm_path()
    return {
        p: SentenceTransformerEmbedder("all-MiniLM-L6-v2", path, precision=p)
        for p in ("bf16", "fp32")
    }


TOPICS = {
    "volcano": (
        "Volcano erupts near the fishing town of Grindavik",
        "Lava fountains rose from a fissure north of Grindavik on Monday and the town was "
        "evacuated again. Geologists said the magma chamber had refilled within weeks.",
        "Which town was evacuated when the volcano erupted?",
    ),
    "bank": (
        "Central bank holds interest rates at 4.5 percent",
        "The central bank kept its benchmark rate unchanged, saying inflation was falling "
        "more slowly than expected. Two members of the committee voted for a cut.",
        "What did the central bank decide about interest rates?",
    ),
    "football": (
        "Underdogs win the cup final on penalties",
        "The second-division side beat the league champions 5-4 on penalties after a goalless "
        "match, and their goalkeeper saved two spot kicks in front of 80,000 fans.",
        "Who won the cup final and how?",
    ),
    "vaccine": (
        "Regulator approves a nasal vaccine against influenza",
        "The medicines regulator approved a vaccine given as a nasal spray for children aged "
        "two to seventeen, after trials showed it reduced hospital visits by half.",
        "Which vaccine did the regulator approve for children?",
    ),
}


def _articles() -> list[Article]:
    return [
        Article.create(title=title, text=text, url=f"https://precision.example/{key}")
        for key, (title, text, _) in TOPICS.items()
    ]


def test_bf16_vectors_are_close_to_fp32_ones(
    torch_embedders: dict[str, SentenceTransformerEmbedder],
) -> None:
    texts = [f"{title}\n{text}" for title, text, _ in TOPICS.values()]
    bf16 = torch_embedders["bf16"].embed(texts)
    fp32 = torch_embedders["fp32"].embed(texts)
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(bf16, fp32)  # it really computed in bf16
    assert float((bf16 * fp32).sum(axis=1).min()) > 0.999


@pytest.mark.parametrize(("written", "queried"), [("bf16", "fp32"), ("fp32", "bf16")])
def test_a_store_written_in_one_precision_answers_queries_in_the_other(
    tmp_path: Path,
    embedder: Embedder,
    torch_embedders: dict[str, SentenceTransformerEmbedder],
    written: str,
    queried: str,
) -> None:
    """fp32 is the numpy encoder (what questions and pre-existing stores use); bf16 is torch's
    autocast (what ingest uses on a bf16 CPU). The store opens with either, and each question
    finds its article first with a similar score."""
    by = {"bf16": torch_embedders["bf16"], "fp32": embedder}
    settings = settings_in(tmp_path)
    bot = Chatbot(settings, embedder=by[written])
    bot.ingest(_articles())
    bot.close()
    bot = Chatbot(settings, embedder=by[queried])  # same model name: not refused
    try:
        for key, (_, _, question) in TOPICS.items():
            article_id = Article.create(
                title="", text="x", url=f"https://precision.example/{key}"
            ).id
            hits = bot.store.query_chunks(by[queried].embed_query(question), k=2)
            same = bot.store.query_chunks(by[written].embed_query(question), k=2)
            assert hits[0].article_id == article_id, (question, hits)
            assert abs(hits[0].score - same[0].score) < 0.01
            answer = bot.ask(question)
            assert answer.citations and answer.citations[0].article_id == article_id
    finally:
        bot.close()


def test_status_says_which_precision_ingest_uses(tmp_path: Path) -> None:
    bf16 = MiniLMEmbedder("all-MiniLM-L6-v2", packaged_minilm_path(), precision="bf16")
    bot = Chatbot(settings_in(tmp_path), embedder=bf16)
    try:
        assert bot.status()["embedding_precision"] == "bf16"
    finally:
        bot.close()


def test_an_ingest_tail_stays_on_torch_once_it_is_loaded() -> None:
    """A small ingest stays on numpy (no torch import); after an ingest-sized group has loaded
    torch, the last, smaller group of that ingest is embedded by torch too."""
    bf16 = MiniLMEmbedder("all-MiniLM-L6-v2", packaged_minilm_path(), precision="bf16")
    texts = [f"Sentence number {i} about the ferries in the harbour." for i in range(10)]
    assert np.array_equal(bf16.embed_bulk(texts), bf16.embed(texts))  # numpy both
    bf16.embed_bulk([f"warm-up {i}" for i in range(256)])  # an ingest-sized group: torch
    tail = bf16.embed_bulk(texts)
    assert not np.array_equal(tail, bf16.embed(texts))  # torch in bf16, not numpy
    assert float((tail * bf16.embed(texts)).sum(axis=1).min()) > 0.999
