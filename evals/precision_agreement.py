"""How close two stores of the same articles are, vector by vector (issue 38: bf16 against fp32).

    python -m evals.precision_agreement STORE_A STORE_B

Reads every committed chunk of STORE_A, its vector there and the vector of the same chunk id
in STORE_B, and prints the cosine between them (min, 0.1th percentile, mean), and the same for
the article vectors (each the mean of its chunks). Make STORE_B from a copy of STORE_A with
``CHATBOT_EMBEDDING_PRECISION=fp32 chatbot --store-path COPY reindex`` so that both hold the
same chunks; the retrieval metrics of each come from ``python -m evals.retrieval_qa --store``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.index.store import ArticleStore
from evals.rtqa import write_results


def _open(path: Path, model: str, dimension: int) -> ArticleStore:
    return ArticleStore.open(path=path, embedding_model=model, dimension=dimension)


def _stats(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    shared = sorted(set(a) & set(b))
    if not shared:
        raise SystemExit("the stores share no ids: make one from a copy of the other")
    cos = np.array([float(a[i] @ b[i]) for i in shared])
    return {
        "n": len(shared),
        "missing": len(set(a) ^ set(b)),
        "min": float(cos.min()),
        "p0.1": float(np.percentile(cos, 0.1)),
        "mean": float(cos.mean()),
    }


def _read(
    read: Callable[[list[str]], dict[str, np.ndarray]], ids: list[str], batch: int = 2000
) -> dict[str, np.ndarray]:
    """A few thousand ids a call: SQLite caps the variables of one query."""
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(ids), batch):
        out.update(read(ids[i : i + batch]))
    return out


def compare(first: Path, second: Path, model: str, dimension: int) -> dict[str, Any]:
    with _open(first, model, dimension) as a, _open(second, model, dimension) as b:
        passages = list(a.iter_chunks())
        ids = [p.chunk_id for p in passages]
        articles = sorted({p.article_id for p in passages})
        return {
            "chunks": _stats(_read(a.chunk_vectors, ids), _read(b.chunk_vectors, ids)),
            "articles": _stats(
                _read(a.article_vectors, articles), _read(b.article_vectors, articles)
            ),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--out", default="precision_agreement")
    args = parser.parse_args(argv)
    result = compare(args.first, args.second, args.model, args.dimension)
    for kind, row in result.items():
        print(
            f"{kind:<8} {row['n']:>6} shared ({row['missing']} in one only): cosine min "
            f"{row['min']:.6f}, p0.1 {row['p0.1']:.6f}, mean {row['mean']:.6f}"
        )
    print(json.dumps(result))
    stores = [str(args.first), str(args.second)]
    print(f"written to {write_results(args.out, {'stores': stores, **result})}")


if __name__ == "__main__":
    main()
