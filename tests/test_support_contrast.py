"""The support checker on a hand-built contrast set, and on bad inputs.

Each case is a real sentence from a real article (the packaged example article, ANI 2025-02-27,
and RealTimeQA news pages) and claims built from it by hand: a faithful rewording that must pass,
and minimal edits that must fail - a changed number, date, name, place, or a negation. The
evidence is the whole paragraph (or article) the sentence comes from, as a cited passage would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatbot.answering.citations import SupportChecker, check_answer
from chatbot.answering.support import Support
from chatbot.models.embeddings import Embedder
from chatbot.vocabulary import Passage
from tests.paths import REPO, shared_evaldata

EXAMPLE = next((Path(__file__).resolve().parents[1] / "chatbot" / "examples").glob("*.txt"))


def _paragraph(text: str, starts_with: str) -> str:
    start = text.index(starts_with)
    end = text.find("\n", start)
    return text[start : end if end >= 0 else len(text)]


@pytest.fixture(scope="module")
def article() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def checker(embedder: Embedder) -> SupportChecker:
    return SupportChecker(embedder)


# A second real page (RealTimeQA, USA Today, 2025-06-29), read from ../shared/evaldata at test
# time (evaluation data is never copied into the repository): figures, names, dates, places.
RTQA = shared_evaldata() / "realtimeqa-dev"
TARIFFS_ID = "b92264ba3af88fce"


@pytest.fixture(scope="module")
def tariffs() -> str:
    """Four paragraphs: from "Tariffs would cut" to "after the pause was announced."."""
    path = RTQA / "articles.jsonl"
    if not path.is_file():
        pytest.skip(f"evaluation data missing: {path}")
    with path.open(encoding="utf-8") as fh:
        text = next(r["text"] for r in map(json.loads, fh) if r["id"] == TARIFFS_ID)
    start = text.index("Tariffs would cut federal deficits")
    end = text.index("after the pause was announced.") + len("after the pause was announced.")
    return text[start:end]


# (paragraph start in the example article, or None for the tariffs page; claim; what it tests)
SUPPORTED = [
    (
        "Earlier today",
        "Delegations from Russia and the US held more than six hours of talks in Istanbul.",
        "paraphrase",
    ),
    (
        "Between February",
        "The United States declared 14 Russian diplomats personae non gratae "
        "between February and March 2022.",
        "reordered",
    ),
    (
        "Vladimir Putin and Donald Trump",
        "Putin and Trump spoke by phone on February 12.",
        "shortened",
    ),
    ("On February 18", "Russian and US delegations met in Riyadh on February 18.", "shortened"),
    (
        "Further, in his address",
        "Putin said Russia has never refused to resolve the Ukraine conflict by peaceful means.",
        "negation kept",
    ),
    (
        None,
        "Tariffs would reduce economic output by 0.6%, according to the Congressional Budget "
        "Office.",
        "shortened",
    ),
    (
        None,
        "The Yale Budget Lab found that tariffs will raise consumer prices by 1.5% in the short "
        "run.",
        "paraphrase",
    ),
    (
        None,
        "Ryan Sweet of Oxford Economics said his recession estimate dropped from 50% to 35%.",
        "paraphrase",
    ),
]

CONTRADICTED = [
    (
        "Earlier today",
        "Delegations from both countries concluded more than nine hours of talks.",
        "number",
    ),
    (
        "Between February",
        "Between February and March 2022, the United States declared 41 "
        "Russian diplomats personae non gratae.",
        "number",
    ),
    (
        "Vladimir Putin and Donald Trump",
        "Vladimir Putin and Donald Trump spoke over the phone on "
        "February 21, 23 days after Trump's inauguration.",
        "date",
    ),
    (
        "In retaliation",
        "In October 2021, Washington ordered two more Russian diplomats to leave the country.",
        "date (year)",
    ),
    (
        "On February 18",
        "On February 18, high-level Russian and US delegations met in Geneva.",
        "place",
    ),
    (
        "Earlier today",
        "The talks were held at the Istanbul residence of the French consul general.",
        "name (country)",
    ),
    (
        "The US was represented",
        "The US was represented by US Secretary of State Antony Blinken.",
        "name (person)",
    ),
    (
        "Further, in his address",
        "Putin said that Russia has refused to resolve the Ukraine conflict by peaceful means.",
        "negation removed",
    ),
    (
        "Addressing the annual",
        "Putin said that initial contacts with the Donald Trump "
        "administration have not given rise to hope.",
        "negation added",
    ),
    (
        None,
        "Tariffs would cut federal deficits by $3.8 trillion over the next 10 years.",
        "number (money)",
    ),
    (
        None,
        "Economists lowered their recession odds after China and the U.S. on May 21 agreed to "
        "lower tariff rates.",
        "date (day)",
    ),
    (
        None,
        "Ryan Sweet, chief U.S. economist of Moody's Analytics, said his estimate dropped from "
        "50% to 35%.",
        "name (organisation)",
    ),
    (
        None,
        "Economists lowered their recession odds this year after Japan and the U.S. on May 12 "
        "agreed to lower tariff rates.",
        "place (country)",
    ),
    (None, "Food prices are not expected to increase in the long run.", "negation"),
]


@pytest.fixture(scope="module")
def evidence_of(article: str, tariffs: str):
    return lambda start: tariffs if start is None else _paragraph(article, start)


@pytest.mark.parametrize(("start", "claim", "kind"), SUPPORTED, ids=[c[2] for c in SUPPORTED])
def test_faithful_rewordings_pass(
    checker: SupportChecker, evidence_of, start: str | None, claim: str, kind: str
) -> None:
    result = checker.score(claim, evidence_of(start))
    assert checker.supported(result.score), (kind, result.score, result.reason)
    assert result.reason.startswith("supported")


@pytest.mark.parametrize(("start", "claim", "kind"), CONTRADICTED, ids=[c[2] for c in CONTRADICTED])
def test_changed_facts_fail(
    checker: SupportChecker,
    article: str,
    evidence_of,
    start: str | None,
    claim: str,
    kind: str,
) -> None:
    evidence = evidence_of(start)
    result = checker.score(claim, evidence)
    assert not checker.supported(result.score), (kind, result.score, result.reason)
    assert not result.reason.startswith("supported")
    # Against the whole article too: another paragraph must not rescue the changed fact.
    if start is not None:
        assert not checker.supported(checker.score(claim, article).score)


def test_a_changed_number_is_named_in_the_reason(checker: SupportChecker, article: str) -> None:
    evidence = _paragraph(article, "Between February")
    result = checker.score(
        "Between February and March 2022, the United States declared 41 Russian diplomats "
        "personae non gratae.",
        evidence,
    )
    assert result.reason == "contradicts the source: 41 vs 14"


def test_a_claim_about_something_else_says_what_is_missing(
    checker: SupportChecker, tariffs: str
) -> None:
    result = checker.score("The Bank of England raised interest rates in London.", tariffs)
    assert not checker.supported(result.score)
    assert result.reason.startswith("not found in the source: ")
    assert "england" in result.reason


def test_results_stay_tuples(checker: SupportChecker, tariffs: str) -> None:
    result = checker.score("Ryan Sweet lowered his recession estimate.", tariffs)
    assert isinstance(result, Support)
    score, span = result
    assert (score, span) == (result.score, result.span)
    assert "Ryan Sweet" in tariffs[span[0] : span[1]]


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("evidence", ["", "   \n\n ", "...", "[1]"])
def test_empty_evidence_supports_nothing(checker: SupportChecker, evidence: str) -> None:
    result = checker.score("Tariffs would cut federal deficits by $2.8 trillion.", evidence)
    assert result.score < checker.threshold
    assert result.reason


def test_very_long_evidence_is_checked_in_bounded_time(
    checker: SupportChecker, tariffs: str
) -> None:
    # About 2 MB of other real news pages (some 15,000 distinct sentences), then the passage.
    with (RTQA / "articles.jsonl").open(encoding="utf-8") as fh:
        pages = [json.loads(line)["text"] for _, line in zip(range(400), fh, strict=False)]
    filler = "\n\n".join(p for p in pages if "Ryan Sweet" not in p)
    evidence = filler + "\n\n" + tariffs
    assert len(evidence) > 1_500_000
    started = time.perf_counter()
    supported = checker.score("Ryan Sweet said his estimate dropped from 50% to 35%.", evidence)
    unsupported = checker.score("Ryan Sweet said his estimate dropped from 50% to 25%.", evidence)
    seconds = time.perf_counter() - started
    assert checker.supported(supported.score), supported.reason
    assert evidence[slice(*supported.span)].startswith("Ryan Sweet")
    assert not checker.supported(unsupported.score)
    # At most 200 sentences per evidence text are embedded: seconds, not the minutes that
    # embedding every sentence would take on two cores.
    assert seconds < 120


def test_lower_case_evidence_without_capitals_is_still_split_into_sentences(
    checker: SupportChecker, article: str
) -> None:
    evidence = article.lower()
    result = checker.score("putin and trump spoke by phone on february 12.", evidence)
    assert checker.supported(result.score), result.reason
    assert result.span[1] - result.span[0] < 400  # one sentence, not the whole article


@pytest.mark.parametrize(
    ("claim", "evidence", "supported"),
    [
        (
            "Die Zentralbank senkte den Leitzins um 0,25 Prozentpunkte.",
            "Die Zentralbank senkte am Mittwoch den Leitzins um 0,25 Prozentpunkte. Die "
            "Entscheidung fiel einstimmig.",
            True,
        ),
        (
            "Die Zentralbank senkte den Leitzins um 0,75 Prozentpunkte.",
            "Die Zentralbank senkte am Mittwoch den Leitzins um 0,25 Prozentpunkte. Die "
            "Entscheidung fiel einstimmig.",
            False,
        ),
        ("中央银行周三下调了利率。", "中央银行周三下调了利率。这一决定是一致通过的。", True),
        ("Путин провёл переговоры в Стамбуле.", "The Fed cut its rate on Wednesday.", False),
    ],
    ids=["german", "german-number", "chinese", "russian-vs-english"],
)
def test_non_english_text(
    checker: SupportChecker, claim: str, evidence: str, supported: bool
) -> None:
    result = checker.score(claim, evidence)
    assert 0.0 <= result.score <= 1.0
    assert checker.supported(result.score) is supported, result.reason


def test_checked_answers_carry_the_reasons(checker: SupportChecker, article: str) -> None:
    text = _paragraph(article, "Between February")
    start = article.index(text)
    passage = Passage(
        chunk_id="example:0",
        article_id="example",
        n=0,
        text=text,
        char_start=start,
        char_end=start + len(text),
        title="Putin hopeful on US contacts",
        source="ANI",
        published_at=None,
        url=None,
    )
    answer = (
        "The United States declared 14 Russian diplomats personae non gratae [1]. "
        "The United States declared 41 Russian diplomats personae non gratae [1]."
    )
    checked = check_answer(answer, [passage], checker)
    right, wrong = checked.sentences
    assert (right.supported, right.reason) == (True, "supported")
    assert (wrong.supported, wrong.reason) == (False, "contradicts the source: 41 vs 14")
    (citation,) = checked.citations
    assert citation.reason == "supported"
    assert article[citation.char_start : citation.char_end] == citation.quote


# --------------------------------------------------------------------------------------------
# The evaluation reads any file in the QAGS format
# --------------------------------------------------------------------------------------------


def test_the_support_eval_reads_any_qags_format_file(
    tmp_path: Path, article: str, tariffs: str
) -> None:
    # The eval is run as its users run it (``python -m evals.support_checker --data FILE``):
    # tests never import evals.
    def row(sentence: str, votes: list[str]) -> dict:
        return {"sentence": sentence, "responses": [{"response": v} for v in votes]}

    data = tmp_path / "mine.jsonl"
    rows = [
        {
            "article": article,
            "summary_sentences": [
                row("Putin and Trump spoke by phone on February 12.", ["yes", "yes", "no"]),
                row("Putin and Trump met in Geneva on February 21.", ["no", "no", "yes"]),
            ],
        },
        {
            "article": tariffs,
            "summary_sentences": [row("Tariffs would cut federal deficits.", ["Yes ", "yes"])],
        },
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    out = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evals.support_checker",
            "--data",
            str(data),
            "--out",
            str(out),
            "--cost",
            "0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["examples"], report["supported_by_majority"]) == (3, 2)
    results = report["methods"]
    hybrid = results["hybrid"]
    assert hybrid["roc_auc"] == 1.0
    assert hybrid["balanced_accuracy"] == 1.0
    assert set(results) == {"embedding", "lexical", "hybrid", "trained"}
