"""Ingest throughput on an accelerator: read, chunk and embed a JSONL dump on the device that
``CHATBOT_EMBEDDING_DEVICE`` selects (``auto``: a CUDA or Apple GPU when there is one).

    python -m evals.gpu_ingest --articles ../shared/evaldata/realtimeqa-dev/articles.jsonl

Times each stage of ingest up to the store: loading the records into articles, chunking them,
and embedding the chunks (the stage a GPU speeds up); writing to Chroma is CPU-bound and is
measured by ``evals.bench``. ``--model-dir`` embeds with a copy of the packaged MiniLM (for a
machine without the package); ``--limit N`` reads the first N articles only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatbot.common.devices import embedding_device
from chatbot.index.chunking import Chunker
from chatbot.models.embeddings import SentenceTransformerEmbedder, packaged_minilm_path
from chatbot.models.minilm import NumpyMiniLM
from chatbot.sources.loaders import iter_articles
from chatbot.vocabulary import Article


def _plain_jsonl(path: Path, work: Path) -> Path:
    if path.suffix != ".gz":
        return path
    target = work / path.stem
    with gzip.open(path, "rb") as src, target.open("wb") as out:
        shutil.copyfileobj(src, out)
    return target


def measure(
    articles_file: Path, model_dir: Path, device_setting: str, limit: int | None, batch: int
) -> dict[str, Any]:
    device = embedding_device(device_setting)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        source = _plain_jsonl(articles_file, Path(tmp))
        articles: list[Article] = []
        for result in iter_articles(source, fetcher=None, max_file_bytes=20_000_000):  # type: ignore[arg-type]
            if isinstance(result, Article):
                articles.append(result)
            if limit and len(articles) >= limit:
                break
        load_s = time.perf_counter() - start
    start = time.perf_counter()
    chunker = Chunker()
    texts = [chunk.text for article in articles for chunk in chunker.chunk(article)]
    chunk_s = time.perf_counter() - start

    embedder: Any
    if device == "cpu":
        embedder = NumpyMiniLM(model_dir, batch_size=32, blas_threads=None)
    else:
        embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2", model_dir, batch, device=device)
    start = time.perf_counter()
    embedder.embed(texts[:64])  # load the model (and warm the device) outside the timing
    load_model_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(texts), 2048):  # ingest embeds in groups; never one giant call
        embedder.embed(texts[i : i + 2048])
    embed_s = time.perf_counter() - start
    return {
        "device": device,
        "machine": platform.node(),
        "articles": len(articles),
        "chunks": len(texts),
        "load_seconds": round(load_s, 2),
        "chunk_seconds": round(chunk_s, 2),
        "model_load_seconds": round(load_model_s, 2),
        "embed_seconds": round(embed_s, 2),
        "embed_chunks_per_s": round(len(texts) / embed_s, 1) if embed_s else None,
        "total_seconds": round(load_s + chunk_s + embed_s, 2),
        "batch": batch,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument(
        "--articles",
        type=Path,
        default=root.parent / "shared" / "evaldata" / "realtimeqa-dev" / "articles.jsonl",
    )
    parser.add_argument("--model-dir", type=Path, help="default: the packaged MiniLM")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--limit", type=int, help="the first N articles only")
    parser.add_argument("--batch", type=int, default=256, help="texts per forward pass (GPU)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    model_dir = args.model_dir or packaged_minilm_path()
    result = measure(args.articles, model_dir, args.device, args.limit, args.batch)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
