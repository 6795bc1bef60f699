"""How the support checker's model was fitted, and how well each variant holds up under
cross-validation (QAGS-XSum).

    .venv/bin/python -m evals.support_fit [--data PATH] [--folds 5] [--repeats 20]

For every claim/article pair the checker measures a few things (see
:class:`Features`): the embedding cosine with the best-matching evidence
sentence(s), the share of the claim's content words found in the evidence and in its best
sentence(s), missing numbers and names, and contradictions. This script fits a logistic model on
those measurements, class-balanced (so that 0.5 is the point where a wrong "supported" and a wrong
"unsupported" cost the same, whatever the share of supported claims in the data), with a small
L2 penalty, for several feature sets, and reports ROC AUC and balanced accuracy at 0.5 on the
held-out folds of repeated stratified k-fold cross-validation (QAGS-XSum has one summary sentence
per article, so a fold never sees a test article). The weights in chatbot/support_features.py are
the all-data fit of the chosen feature set, rounded; the script prints them.

It also scores unlabelled CNN/DailyMail summaries from REALSumm (``--cnndm``): the share of
sentences the fitted model calls supported, for Bottom-Up (an abstractive system) and for the
extractive systems (which copy article sentences, so nearly all should pass). That is a check that
the threshold transfers to long multi-sentence news, without labels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatbot.answering.citations import Claim, SupportChecker, clean_claim
from chatbot.answering.support_features import (
    COSINE_CENTRE,
    W_CONTRADICTION,
    W_COSINE,
    W_NEGATION,
    W_SPLICED,
    Features,
    logit,
)
from chatbot.config import Settings
from chatbot.models.embeddings import Embedder, create_embedder
from evals.support_checker import DEFAULT_DATA, balanced_accuracy, best_threshold, load, roc_auc

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "evals" / ".cache" / "support_vectors.npz"
REALSUMM = ROOT.parent / "shared" / "evaldata" / "realsumm" / "realsumm_cnndm_test100.jsonl"

SHIPPED = "shipped: fixed cosine, splice and contradiction weights + numbers+rare+common"
# Name -> (fitted columns, fixed cosine weight or None when the cosine is fitted or unused).
VARIANTS: dict[str, tuple[tuple[str, ...], float | None]] = {
    "cosine": (("cosine",), None),
    "missing words": (("missing_words",), None),
    "numbers+rare+common": (("missing_numbers", "missing_rare", "missing_common"), None),
    "cosine+numbers+rare+common": (
        ("cosine", "missing_numbers", "missing_rare", "missing_common"),
        None,
    ),
    **{
        f"cosine fixed at {w:g} + numbers+rare+common": (
            ("missing_numbers", "missing_rare", "missing_common"),
            w,
        )
        for w in (4.0, 6.0, W_COSINE, 12.0)
    },
    f"cosine fixed at {W_COSINE:g} + numbers+rare+common+spliced": (
        ("missing_numbers", "missing_rare", "missing_common", "spliced"),
        W_COSINE,
    ),
    # What ships: the cosine, spliced copies and contradictions with fixed weights (see
    # chatbot/support_features.py for why), the missing-word weights fitted around them, then
    # the bias moved to where the errors balance on the training data.
    SHIPPED: (("missing_numbers", "missing_rare", "missing_common"), W_COSINE),
}


class DiskCachedEmbedder(Embedder):
    """Embeds each text once across runs of this script (the fit is run many times)."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.name, self.dimension, self.path = inner, inner.name, inner.dimension, path
        self.cache: dict[str, np.ndarray] = {}
        if path.exists():
            data = np.load(path)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.cache))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[self.key(text)] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.cache[self.key(t)] for t in texts])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.cache))
        np.savez(self.path, keys=keys, vectors=np.stack(list(self.cache.values())))


def measure(checker: SupportChecker, pairs: list[tuple[str, str]]) -> list[Features]:
    """The checker's measurements of each (claim, evidence) pair."""
    claims = [clean_claim(c) for c, _ in pairs]
    evidence = {e: checker._analyse(e) for _, e in pairs}
    vectors = checker._embed(list(dict.fromkeys(claims)), list(evidence.values()))
    return [
        checker._measure(Claim.of(c), c, evidence[e], vectors.get(c)).features
        for c, (_, e) in zip(claims, pairs, strict=True)
    ]


def matrix(features: list[Features], names: Sequence[str]) -> np.ndarray:
    """The fitted columns, capped as :func:`chatbot.answering.support_features.logit` caps them."""
    rows = []
    for f in features:
        values = {
            "cosine": f.cosine,
            "missing_words": min(6, f.missing_rare + f.missing_common),
            "missing_numbers": min(2, f.missing_numbers),
            "missing_rare": min(3, f.missing_rare),
            "missing_common": min(4, f.missing_common),
            "spliced": float(f.spliced),
        }
        rows.append([values[n] for n in names])
    return np.asarray(rows, dtype=float)


def offset(
    features: list[Features], cosine_weight: float | None, extras: bool = False
) -> np.ndarray:
    """The fixed part of the log-odds: the cosine term, when its weight is not fitted, and with
    ``extras`` the fixed penalties for spliced copies, contradictions and flipped negations."""
    cosines = np.array([f.cosine for f in features]) - COSINE_CENTRE
    if extras:  # a shortened copy is not penalised for what it leaves out
        cosines = np.array(
            [max(0.0, c) if f.contained else c for c, f in zip(cosines, features, strict=True)]
        )
    fixed = (cosine_weight or 0.0) * cosines
    if extras:
        fixed += np.array(
            [
                W_SPLICED * f.spliced
                + W_CONTRADICTION * f.contradiction
                + W_NEGATION * f.negation_flipped
                for f in features
            ]
        )
    return fixed


def fit_logistic(
    x: np.ndarray, y: np.ndarray, fixed: np.ndarray | None = None, l2: float = 0.1
) -> np.ndarray:
    """Class-balanced logistic regression by Newton's method, with an optional fixed offset in
    the log-odds; returns [bias, *weights]."""
    fixed = np.zeros(len(x)) if fixed is None else fixed
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.where(y, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(design @ beta + fixed, -50, 50)))
        gradient = design.T @ (weights * (p - y)) + penalty * beta
        hessian = design.T @ (design * (weights * p * (1 - p))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def balanced_bias(x: np.ndarray, y: np.ndarray, fixed: np.ndarray, beta: np.ndarray) -> float:
    """The shift of the log-odds that maximises balanced accuracy on these (training) examples:
    the fit minimises log loss, and the fixed contradiction penalties push a few unsupported
    claims far below, which lets the fitted bias drift up; the threshold must sit where the
    errors balance."""
    z = beta[0] + x @ beta[1:] + fixed
    return best_threshold(z, y)[0]


def cross_validate(
    x: np.ndarray,
    fixed: np.ndarray,
    y: np.ndarray,
    folds: int,
    repeats: int,
    seed: int = 0,
    balance: bool = False,
) -> dict[str, float]:
    """ROC AUC and balanced accuracy at 0.5 on held-out folds of repeated stratified k-fold
    (with ``balance``, the bias is shifted on each training fold by :func:`balanced_bias`)."""
    rng = np.random.default_rng(seed)
    aucs, bas = [], []
    for _ in range(repeats):
        fold_of = np.empty(len(y), dtype=int)
        for label in (True, False):  # stratified
            idx = rng.permutation(np.flatnonzero(y == label))
            fold_of[idx] = np.arange(len(idx)) % folds
        for k in range(folds):
            test = fold_of == k
            beta = fit_logistic(x[~test], y[~test], fixed[~test])
            if balance:
                beta[0] -= balanced_bias(x[~test], y[~test], fixed[~test], beta)
            z = beta[0] + x[test] @ beta[1:] + fixed[test]
            aucs.append(roc_auc(z, y[test]))
            bas.append(balanced_accuracy(z, y[test], 0.0))
    return {
        "roc_auc_mean": float(np.mean(aucs)),
        "roc_auc_sd": float(np.std(aucs)),
        "ba_mean": float(np.mean(bas)),
        "ba_sd": float(np.std(bas)),
    }


def cnndm_pairs() -> dict[str, list[tuple[str, str]]]:
    """REALSumm summaries split into sentences, each paired with its (lower-cased, tokenised)
    article: Bottom-Up, and the extractive systems."""
    groups: dict[str, list[tuple[str, str]]] = {"bottom_up": [], "extractive": []}
    with REALSUMM.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            article = row["source_lower_tok"]
            for system, item in row["system_summaries"].items():
                group = (
                    "bottom_up"
                    if system == "abs/bottom_up_out.txt"
                    else "extractive"
                    if system.startswith("ext/") and "bart" not in system
                    else None
                )
                if group is None or (group == "extractive" and len(groups[group]) > 600):
                    continue
                for sentence in re.split(r"(?<=[.!?]) (?=\S)", item["summary"]):
                    if len(sentence.split()) >= 4:
                        groups[group].append((sentence, article))
    return groups


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cnndm", action="store_true", help="also score REALSumm summaries")
    args = parser.parse_args(argv)

    examples = load(args.data)
    y = np.array([e.supported for e in examples])
    embedder = DiskCachedEmbedder(create_embedder(Settings()), CACHE)
    checker = SupportChecker(embedder)
    features = measure(checker, [(e.sentence, e.article) for e in examples])
    cnndm = {}
    if args.cnndm:
        cnndm = {name: measure(checker, pairs) for name, pairs in cnndm_pairs().items()}
    embedder.save()

    print(f"{len(examples)} sentences, {int(y.sum())} supported")
    print(f"{args.folds}-fold cross-validation, {args.repeats} repeats")
    header = f"{'variant':<44} {'AUC':>6} {'sd':>5} {'BA@0.5':>7} {'sd':>5}  all-data fit"
    print(header)
    print("-" * len(header))
    for name, (columns, cosine_weight) in VARIANTS.items():
        x, fixed = matrix(features, columns), offset(features, cosine_weight, name == SHIPPED)
        shipped = name == SHIPPED
        cv = cross_validate(x, fixed, y, args.folds, args.repeats, balance=shipped)
        beta = fit_logistic(x, y, fixed)
        if shipped:
            beta[0] -= balanced_bias(x, y, fixed, beta)
        fit = " ".join(f"{c}={b:+.2f}" for c, b in zip(("bias", *columns), beta, strict=True))
        print(
            f"{name:<44} {cv['roc_auc_mean']:>6.3f} {cv['roc_auc_sd']:>5.3f} "
            f"{cv['ba_mean']:>7.3f} {cv['ba_sd']:>5.3f}  {fit}"
        )
        for group, feats in cnndm.items():
            fixed = offset(feats, cosine_weight, name == SHIPPED)
            z = beta[0] + matrix(feats, columns) @ beta[1:] + fixed
            print(f"{'':<44} CNN/DM {group}: {np.mean(z >= 0):.2f} called supported")
    print("the last variant's all-data fit, rounded, is in chatbot/support_features.py:")

    shipped = np.array([logit(f) for f in features])
    print(
        f"shipped model (chatbot/support_features.py): AUC {roc_auc(shipped, y):.3f}, "
        f"BA@0.5 {balanced_accuracy(shipped, y, 0.0):.3f}"
    )
    for group, feats in cnndm.items():
        z = np.array([logit(f) for f in feats])
        print(f"  CNN/DM {group}: {np.mean(z >= 0):.2f} of {len(z)} called supported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
