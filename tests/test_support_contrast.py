"""The support checker on a hand-built contrast set, and on bad inputs.

Each case is a real sentence from a real article (the packaged example article, ANI 2025-02-27,
and RealTimeQA news pages) and claims built from it by hand: a faithful rewording that must pass,
and minimal edits that must fail - a changed number, date, name, place, or a negation. The
evidence is the whole paragraph (or article) the sentence comes from, as a cited passage would be.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chatbot.citations import Support, SupportChecker, check_answer
from chatbot.embeddings import Embedder
from chatbot.models import Passage

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


# A passage of another kind of news (a RealTimeQA page, Sept 2025): prices, names, places.
FED = (
    "The Federal Reserve cut its benchmark interest rate by a quarter percentage point on "
    "Wednesday, the first reduction since December, lowering it to a range of 4% to 4.25%. "
    "Fed Chair Jerome Powell told reporters in Washington that the labor market had softened. "
    "Stephen Miran, who joined the board this week, was the only official to vote against the "
    "decision; he wanted a half-point cut. The central bank's officials projected two more cuts "
    "this year."
)

# (paragraph start in the example article or None for FED, claim, what it tests)
SUPPORTED = [
    ("Earlier today", "Delegations from Russia and the US held more than six hours of talks in "
     "Istanbul.", "paraphrase"),
    ("Between February", "The United States declared 14 Russian diplomats personae non gratae "
     "between February and March 2022.", "reordered"),
    ("Vladimir Putin and Donald Trump", "Putin and Trump spoke by phone on February 12.",
     "shortened"),
    ("On February 18", "Russian and US delegations met in Riyadh on February 18.", "shortened"),
    ("Further, in his address", "Putin said Russia has never refused to resolve the Ukraine "
     "conflict by peaceful means.", "negation kept"),
    (None, "The Fed lowered its benchmark rate by a quarter point to a range of 4% to 4.25%.",
     "paraphrase"),
    (None, "Stephen Miran voted against the decision because he wanted a half-point cut.",
     "paraphrase"),
]

CONTRADICTED = [
    ("Earlier today", "Delegations from both countries concluded more than nine hours of talks.",
     "number"),
    ("Between February", "Between February and March 2022, the United States declared 41 "
     "Russian diplomats personae non gratae.", "number"),
    ("Vladimir Putin and Donald Trump", "Vladimir Putin and Donald Trump spoke over the phone on "
     "February 21, 23 days after Trump's inauguration.", "date"),
    ("In retaliation", "In October 2021, Washington ordered two more Russian diplomats to leave "
     "the country.", "date (year)"),
    ("On February 18", "On February 18, high-level Russian and US delegations met in Geneva.",
     "place"),
    ("Earlier today", "The talks were held at the Istanbul residence of the French consul "
     "general.", "name (country)"),
    ("The US was represented", "The US was represented by US Secretary of State Antony Blinken.",
     "name (person)"),
    ("Further, in his address", "Putin said that Russia has refused to resolve the Ukraine "
     "conflict by peaceful means.", "negation removed"),
    ("Addressing the annual", "Putin said that initial contacts with the Donald Trump "
     "administration have not given rise to hope.", "negation added"),
    (None, "The Federal Reserve cut its benchmark interest rate by a quarter percentage point on "
     "Wednesday, lowering it to a range of 3.5% to 3.75%.", "number (rate)"),
    (None, "Fed Chair Jerome Powell told reporters in New York that the labor market had "
     "softened.", "place"),
    (None, "Lisa Cook, who joined the board this week, was the only official to vote against "
     "the decision.", "name (person)"),
    (None, "The central bank's officials projected no more cuts this year.", "negation"),
]


def _evidence(article: str, start: str | None) -> str:
    return FED if start is None else _paragraph(article, start)


@pytest.mark.parametrize(("start", "claim", "kind"), SUPPORTED, ids=[c[2] for c in SUPPORTED])
def test_faithful_rewordings_pass(
    checker: SupportChecker, article: str, start: str | None, claim: str, kind: str
) -> None:
    result = checker.score(claim, _evidence(article, start))
    assert checker.supported(result.score), (kind, result.score, result.reason)
    assert result.reason.startswith("supported")


@pytest.mark.parametrize(
    ("start", "claim", "kind"), CONTRADICTED, ids=[c[2] for c in CONTRADICTED]
)
def test_changed_facts_fail(
    checker: SupportChecker, article: str, start: str | None, claim: str, kind: str
) -> None:
    evidence = _evidence(article, start)
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


def test_a_claim_about_something_else_says_what_is_missing(checker: SupportChecker) -> None:
    result = checker.score("The Bank of England raised rates in London.", FED)
    assert not checker.supported(result.score)
    assert result.reason.startswith("not found in the source: ")
    assert "england" in result.reason


def test_results_stay_tuples(checker: SupportChecker) -> None:
    result = checker.score("The Fed cut its rate.", FED)
    assert isinstance(result, Support)
    score, span = result
    assert (score, span) == (result.score, result.span)
    assert FED[span[0] : span[1]].startswith("The Federal Reserve cut")


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("evidence", ["", "   \n\n ", "...", "[1]"])
def test_empty_evidence_supports_nothing(checker: SupportChecker, evidence: str) -> None:
    result = checker.score("The Fed cut its rate by a quarter point.", evidence)
    assert result.score < checker.threshold
    assert result.reason


def test_very_long_evidence_is_checked_in_bounded_time(
    checker: SupportChecker, article: str
) -> None:
    # ~1.3 MB: the example article 200 times over, then the sentence that supports the claim.
    filler = (article + "\n") * 200
    evidence = filler + FED
    started = time.perf_counter()
    supported = checker.score("Stephen Miran voted against the decision.", evidence)
    unsupported = checker.score("Lisa Cook voted against the decision.", evidence)
    seconds = time.perf_counter() - started
    assert checker.supported(supported.score), supported.reason
    assert evidence[slice(*supported.span)].startswith("Stephen Miran")
    assert not checker.supported(unsupported.score)
    assert seconds < 60  # the same sentences repeat: bounded by distinct text, not by length


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
    tmp_path: Path, article: str, embedder: Embedder
) -> None:
    from evals.support_checker import evaluate, load

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
        {"article": FED, "summary_sentences": [row("The Fed cut rates.", ["Yes ", "yes"])]},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    examples = load(data)
    assert [e.supported for e in examples] == [True, False, True]
    results = evaluate(examples, embedder)
    hybrid = results["hybrid"]
    assert isinstance(hybrid, dict)
    assert hybrid["roc_auc"] == 1.0
    assert hybrid["balanced_accuracy"] == 1.0
    assert set(results) == {"embedding", "lexical", "hybrid"}
