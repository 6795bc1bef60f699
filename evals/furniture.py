"""Page furniture in quotable sentences (issue 37, part 2), on the dev articles and the training
articles of RealTimeQA:

    python -m evals.furniture [--train-limit N] [--sample 40] [--seed 0]

For every article it splits the text twice: plain sentences (``sentence_spans``, what answers,
summaries and briefings quoted before) and quotable sentences (``quotable_spans``, furniture cut
out). It prints

* the share of sentences that carry furniture, before and after, by an independent and
  deliberately conservative detector (the regexes below, not the rules of
  ``chatbot.common.furniture``): a timestamp, a share or newsletter prompt, a byline or a photo
  credit *in* the sentence. Shares are over every sentence and over the sentences evidence
  selection can quote (25 to 600 characters);
* how many furniture spans were found and how many plain sentences lost all or part of their
  text;
* a random sample of dropped spans with their line, to judge precision by reading: a real
  sentence must never be among them.

The data is read in place from ``../shared``; nothing is copied.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.common.furniture import furniture_spans, quotable_spans
from chatbot.common.text import sentence_spans

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV = SHARED / "evaldata" / "realtimeqa-dev" / "articles.jsonl"
TRAIN = SHARED / "traindata" / "realtimeqa-train" / "articles.jsonl.gz"

# The independent detector: only shapes that are furniture wherever they occur in a sentence.
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DETECTOR = {
    "timestamp": re.compile(
        r"^\(?(?:Updated|Published|Posted)\b[^a-z]{0,12}(?:\d|" + _MONTH + r")"
        r"|^\(?\d{1,2}:\d\d\s*[ap]\.?m\.?\s*(?:ET|EST|EDT|CT|CDT|PT|PDT)\b"
        r"|\b\d{1,2}:\d\d\s*[ap]\.?m\.?\s*(?:ET|EST|EDT|CT|PT)\s+" + _MONTH + r"\s+\d{1,2},\s+\d{4}"
    ),
    "prompt": re.compile(
        r"Share this (?:update|article|story|post)|\bSign up for\b|\bSubscribe to\b|[Cc]lick here"
        r"|\bRead more\b|\bFollow us\b|Video player was|Ad Feedback|Daily Crossword|Quick Cross"
        r"|earn an affiliate fee"
        r"|contributed to this report|Keep refreshing"
    ),
    "byline": re.compile(
        r"^By [A-Z][a-z]+ [A-Z][a-z]+(?:,| and |$)|^[-–—−]\s*[A-Z][a-z]+ [A-Z][a-z]+$"
    ),
    "credit": re.compile(r"\((?:Photo|Image credit):|Getty Images|[a-z]/(?:AP|AFP|Reuters)\b"),
}


@dataclass
class Counts:
    articles: int = 0
    sentences: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})
    flagged: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})
    quotable: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})
    quotable_flagged: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})
    kinds: dict[str, int] = field(default_factory=dict)
    spans: int = 0
    sentences_dropped: int = 0
    sentences_cut: int = 0


def articles(path: Path, limit: int | None = None) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if limit is not None and n >= limit:
                return
            yield json.loads(line)


def detect(sentence: str) -> str | None:
    """The kind of furniture the independent detector sees in a sentence, if any."""
    return next((kind for kind, rule in _DETECTOR.items() if rule.search(sentence)), None)


def measure(texts: Iterator[str], dropped: list[tuple[str, str]], residue: list[str]) -> Counts:
    counts = Counts()
    for text in texts:
        counts.articles += 1
        furniture = furniture_spans(text)
        counts.spans += len(furniture)
        for s, e in furniture:
            line_start = text.rfind("\n", 0, s) + 1
            line_end = text.find("\n", e)
            dropped.append((text[s:e], text[line_start : line_end if line_end >= 0 else len(text)]))
        kept = quotable_spans(text)
        for s, e in sentence_spans(text):
            inside = [(a, b) for a, b in kept if s <= a and b <= e]
            if not inside:
                counts.sentences_dropped += 1
            elif sum(b - a for a, b in inside) < len(text[s:e].strip()) - 2:
                counts.sentences_cut += 1
        for when, spans in (("before", sentence_spans(text)), ("after", kept)):
            for s, e in spans:
                sentence = text[s:e]
                kind = detect(sentence)
                candidate = 25 <= len(sentence) <= 600
                counts.sentences[when] += 1
                counts.quotable[when] += candidate
                if kind is not None:
                    counts.flagged[when] += 1
                    counts.quotable_flagged[when] += candidate
                    if when == "before":
                        counts.kinds[kind] = counts.kinds.get(kind, 0) + 1
                    else:
                        residue.append(sentence)
    return counts


def report(name: str, counts: Counts) -> None:
    def share(flagged: int, total: int) -> str:
        return f"{100 * flagged / max(total, 1):.2f}% ({flagged}/{total})"

    print(f"\n== {name}: {counts.articles} articles")
    for when in ("before", "after"):
        print(
            f"  {when:6}  sentences with furniture: "
            f"{share(counts.flagged[when], counts.sentences[when])}; "
            f"quotable (25-600 chars): "
            f"{share(counts.quotable_flagged[when], counts.quotable[when])}"
        )
    print(f"  detector kinds before: {counts.kinds}")
    print(
        f"  furniture spans: {counts.spans}; plain sentences dropped whole: "
        f"{counts.sentences_dropped}, cut (furniture glued to text): {counts.sentences_cut}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-limit", type=int, default=None, help="first N training articles")
    parser.add_argument("--sample", type=int, default=40, help="dropped spans to print")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--residue", type=int, default=15, help="flagged sentences kept, to print")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    dropped: list[tuple[str, str]] = []
    residue: list[str] = []
    for name, path, limit in (("dev", DEV, None), ("train", TRAIN, args.train_limit)):
        if not path.exists():
            print(f"\n== {name}: {path} is missing, skipped")
            continue
        counts = measure((a["text"] for a in articles(path, limit)), dropped, residue)
        report(name, counts)
    shown = min(args.sample, len(dropped))
    print(f"\n== {shown} of {len(dropped)} dropped spans (seed {args.seed})")
    for span, line in rng.sample(dropped, min(args.sample, len(dropped))):
        shown = line if len(line) <= 240 else line[:237] + "..."
        print(f"- DROPPED {span[:160]!r}\n    LINE {shown!r}")
    flagged = min(args.residue, len(residue))
    print(f"\n== {flagged} of {len(residue)} quotable sentences the detector still flags")
    for sentence in rng.sample(residue, min(args.residue, len(residue))):
        print(f"- {sentence[:240]!r}")


if __name__ == "__main__":
    main()
