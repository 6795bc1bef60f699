"""The benchmark command in smoke mode, so that it cannot rot (timings are not checked)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.static_fixtures import static_model_dir

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def test_bench_smoke_writes_sane_json(pytestconfig: pytest.Config) -> None:
    static = static_model_dir(pytestconfig)  # distilled once per cache, outside the bench
    out = "bench-smoke-test"
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench", "--smoke", "--static-model-dir", str(static),
         "--out", out],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pipeline/raw" in done.stdout
    data = json.loads((ROOT / "evals" / "results" / f"{out}.json").read_text())

    assert set(data) >= {"meta", "ingest", "retrieval", "answer"}
    variants = data["ingest"]["variants"]
    assert set(variants) == {
        "raw", "raw-bf16", "pipeline", "pipeline-fp32", "llama-index", "fast-raw", "fast-pipeline"
    }  # fmt: skip
    assert (variants["raw"]["precision"], variants["raw-bf16"]["precision"]) == ("fp32", "bf16")
    assert variants["pipeline-fp32"]["precision"] == "fp32"
    for name, row in variants.items():
        assert row["articles"] == 5, name
        for key in ("articles_per_s", "chunks_per_s", "tokens_per_s", "peak_rss_mb"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key)
    assert variants["fast-pipeline"]["embedder"] == "all-MiniLM-L6-v2-static"
    assert variants["pipeline"]["chunks"] == variants["raw"]["chunks"]
    assert {k.split(" ")[0] for k in data["ingest"]["ratios"]} >= {
        "pipeline/raw",
        "pipeline/llama-index",
        "fast-pipeline/pipeline",
    }
    assert set(data["retrieval"]) == {"embedded dev", "embedded scaled"}
    assert (
        data["retrieval"]["embedded scaled"]["chunks"] > data["retrieval"]["embedded dev"]["chunks"]
    )
    for row in data["retrieval"].values():
        for query in ("hybrid", "hybrid + date filter"):
            assert 0 < row[query]["p50_ms"] <= row[query]["p95_ms"]
    extractive = data["answer"]["extractive"]
    assert 0 < extractive["first_token_p50_ms"] <= extractive["total_p50_ms"] * 1.0001
    numbers = _numbers({k: v for k, v in data.items() if k != "meta"})
    assert numbers and all(math.isfinite(n) and n >= 0 for n in numbers)
