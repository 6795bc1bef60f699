"""Questions of every answer kind, made from the training articles, with the positive taken from
another report of the same story.

    python -m training.answer_kinds [--data DIR] [--sample N]   # counts and a sample to read

The public quizzes are two thirds "which X?" questions and hold almost no "how long", few
"when" and "how many": a ranker trained on them alone does not learn to weigh the kind of answer
asked for. Here a sentence that states an answer of a known kind (a person, a place, a date, a
time span, a count, an amount, a percentage) becomes a question of that kind: the answer is cut
out and the rest, shortened, follows the question word ("How long ... the talks in Istanbul
lasted?"). The positive is a sentence of *another* article of the same story (the articles one
quiz question retrieved) that states the same answer and shares the question's topic words, so
the question does not copy it. Negatives come from the same articles: sentences of the same kind
with another value (the right kind, the wrong fact), sentences sharing the question's words with
no answer of that kind, and the rest.

Kinds are found by rules written for precision (a title before a name, "said" after it, a
preposition before a place, a unit after a number); ``--sample`` prints questions with their
positives so that precision can be checked by reading.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chatbot.models.cross_encoder import ranker_text

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUM_WORDS = "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens of|hundreds of"
_UNITS = "seconds|minutes|hours|days|nights|weeks|months|years|decades"
_NAME = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_TITLES = (
    r"President|Vice President|Sen\.|Senator|Gov\.|Governor|Rep\.|Dr\.|Judge|Justice|"
    r"Prime Minister|Secretary|Mayor|Chancellor|King|Queen|Pope|Prince|Princess|coach|CEO|"
    r"Chairman|Chairwoman|General|Gen\.|Attorney General|Speaker|Minister|Commissioner"
)
_NOT_PLACE = frozenset(
    (_MONTHS + "|" + _WEEKDAYS).split("|")
    + "The A An This That It He She They We I His Her Their Our My Congress Parliament "
    "Court Senate House Instagram Twitter Facebook TikTok YouTube Netflix Google Apple "
    "Amazon Microsoft Meta CNN USA TODAY English Spanish French Christmas Easter President "
    "Earth White New North South East West United Biden Trump Harris Obama".split()
)
# Institutions that the "X said" and "in X" rules would take for a person or a place.
_INSTITUTION = re.compile(
    r"\b(?:House|University|Department|Committee|Administration|Party|Club|Festival|Office|"
    r"Agency|Council|Association|Institute|Center|Centre|Foundation|Service|Police|Court|"
    r"Board|Bureau|Commission|Ministry|Network|News|Times|Post|Journal|Street|Avenue|Road)\b"
)
_COMPANY_SUFFIX = r"Inc\.?|Corp\.?|Co\.|Company|Group|Airlines|Motors|Bank|Holdings|Technologies"

# Each kind: a pattern whose group "a" is the answer, and the question words put before the rest.
KINDS: dict[str, tuple[re.Pattern[str], Sequence[str]]] = {
    "duration": (
        re.compile(
            rf"\b(?:for|lasted|lasting|after|in|spent|took)\s+(?P<a>(?:more than |nearly |about "
            rf"|almost |over |at least )?(?:\d+|{_NUM_WORDS}|several|a few)\s+(?:{_UNITS}))\b"
        ),
        ("How long", "For how long", "How much time"),
    ),
    "count": (
        re.compile(
            rf"\b(?P<a>(?:more than |nearly |about |almost |over |at least )?(?:\d[\d,]*|"
            rf"{_NUM_WORDS})(?: (?:million|billion|thousand))?)\s+(?P<noun>people|"
            r"students|children|deaths|cases|workers|employees|jobs|votes|homes|houses|"
            r"buildings|passengers|victims|soldiers|troops|migrants|patients|fans|players|"
            r"games|points|goals|wins|seats|flights|vehicles|cars|guns|shots|members|"
            r"countries|states|counties|stores|schools|hospitals|tickets|copies|users|"
            r"customers|animals|dogs|sites|years old)\b"
        ),
        ("How many",),
    ),
    "amount": (
        re.compile(r"(?P<a>\$\d[\d,.]*(?: (?:million|billion|trillion))?)"),
        ("How much", "What amount"),
    ),
    "percent": (
        re.compile(r"\b(?P<a>\d[\d.]*(?:%| percent))"),
        ("What percentage", "By how much", "What share"),
    ),
    "date": (
        re.compile(
            rf"\b(?:on|since|until|by|from)\s+(?P<a>(?:{_WEEKDAYS}|(?:{_MONTHS}) \d{{1,2}}"
            rf"(?:, \d{{4}})?))\b|\bin\s+(?P<b>(?:{_MONTHS}) \d{{4}}|(?:19|20)\d\d)\b"
        ),
        ("When", "On what day", "What date"),
    ),
    "place": (
        re.compile(
            r"\b(?:in|at|near|outside)\s+(?:the\s+)?"
            rf"(?P<a>{_NAME}(?:\s+(?:{_NAME}|of))*(?:,\s+{_NAME}(?:\s+{_NAME})?)?)"
            r"(?=[\s.,;:]|$)"
        ),
        ("Where", "In which place", "In which city or country"),
    ),
    "person": (
        re.compile(
            rf"\b(?:{_TITLES})\s+(?P<a>{_NAME}(?:\s+{_NAME})?)\b|"
            rf"(?P<b>{_NAME}\s+{_NAME}),?\s+(?:said|says|told|announced|wrote|added|tweeted)\b"
        ),
        ("Who", "Which person", "Who was the person who"),
    ),
    "company": (
        re.compile(rf"(?P<a>{_NAME}(?:\s+{_NAME})*\s+(?:{_COMPANY_SUFFIX}))(?=[\s.,;:]|$)"),
        ("Which company", "What company", "Which firm"),
    ),
}
_WORD = re.compile(r"[A-Za-z0-9$%][\w'%-]*")
_STOP = frozenset(
    "the a an of in on at to for and or is was were are be been by with from that this which "
    "what who whom whose when where why how did does do has have had it its as after said says "
    "he she they his her their we our i you not but will would could can than also more".split()
)
# Attribution tails and leads that say who told the reporter, not the fact.
_ATTRIBUTION = re.compile(
    r",?\s+(?:according to [^,.]+|(?:he|she|they|officials|police|authorities|[A-Z]\w+(?: "
    r"[A-Z]\w+)?) (?:said|says|told [^,.]+|added))\s*[.!]?$"
)


@dataclass(frozen=True)
class Found:
    """An answer of ``kind`` at ``start:end`` of ``sentence``."""

    kind: str
    answer: str
    start: int
    end: int


def answers_in(sentence: str, kinds: Iterable[str] = KINDS) -> list[Found]:
    """Every answer of the given kinds the sentence states, by the rules above."""
    out = []
    for kind in kinds:
        pattern = KINDS[kind][0]
        for m in pattern.finditer(sentence):
            group = "a" if m.group("a") else "b" if "b" in pattern.groupindex else "a"
            text = m.group(group)
            if not text:
                continue
            if kind in ("place", "person") and (
                text.split()[0] in _NOT_PLACE or len(text) < 3 or _INSTITUTION.search(text)
            ):
                continue
            out.append(Found(kind, text, m.start(group), m.end(group)))
    return out


def content_words(text: str) -> list[str]:
    return [w for w in (x.lower() for x in _WORD.findall(text)) if w not in _STOP and len(w) > 1]


def key(answer: str) -> str:
    return re.sub(r"\s+", " ", answer.lower().strip(" .,;:"))


def make_question(sentence: str, found: Found, rng: random.Random, max_words: int = 12) -> str:
    """The question word of the kind, then the sentence without its answer (and the word that
    introduced it), its attribution and leading clause shortened to ``max_words``."""
    before = sentence[: found.start].rstrip()
    after = sentence[found.end :].lstrip(" ,")
    if found.kind in ("place", "date", "duration"):
        # "in Istanbul" -> "": the question word replaces the preposition too.
        before = re.sub(
            r"\s*\b(?:in|at|near|outside|from|to|on|since|until|by|for|after|lasted|"
            r"lasting|spent|took)(?:\s+the)?$",
            "",
            before,
            flags=re.I,
        )
    if found.kind == "count":
        noun = re.match(r"\s*(\w+(?: old)?)", sentence[found.end :])
        after = sentence[found.end + (noun.end() if noun else 0) :].lstrip(" ,")
        lead = f"How many {noun.group(1) if noun else ''}".strip()
    else:
        lead = rng.choice(KINDS[found.kind][1])
    rest = f"{before} {after}".strip()
    rest = _ATTRIBUTION.sub("", rest).strip(" .,;:!?\"'“”")
    words = rest.split()
    if len(words) > max_words:
        # Keep the words around where the answer was: they say what the fact is about.
        at = len(before.split())
        lo = max(0, min(at - max_words // 2, len(words) - max_words))
        words = words[lo : lo + max_words]
    if words and words[0][:1].isupper() and words[0] not in _NOT_PLACE and words[0].istitle():
        pass  # a name opening the rest stays capitalised
    elif words:
        words[0] = words[0][:1].lower() + words[0][1:]
    return f"{lead} {' '.join(words)}?".replace(" ?", "?")


@dataclass(frozen=True)
class KindSentence:
    text: str  # ranker input, segment B ("title (date): sentence")
    raw: str
    offset: int  # where ``raw`` starts in ``text``
    article: str
    answers: tuple[Found, ...]
    words: frozenset[str]


def kind_sentences(article: dict[str, Any], spans: Sequence[tuple[int, int]]) -> list[KindSentence]:
    text = article.get("text") or ""
    title, day = article.get("title") or "", article.get("published_at")
    out = []
    for s, e in spans:
        raw = text[s:e]
        if not 25 <= len(raw) <= 400 or "\n" in raw:
            continue
        b = ranker_text(raw, title, day)
        out.append(
            KindSentence(
                b,
                raw,
                len(b) - len(raw),
                article["id"],
                tuple(answers_in(raw)),
                frozenset(content_words(raw)),
            )
        )
    return out


@dataclass(frozen=True)
class KindGroup:
    question: str
    kind: str
    texts: list[str]  # the positive first, then the negatives
    span: tuple[int, int]  # the answer in texts[0]
    source_article: str
    positive_article: str


def story_groups(
    clusters: Sequence[Sequence[list[KindSentence]]],
    rng: random.Random,
    group: int = 8,
    per_story: int = 8,
    kinds: Sequence[str] = tuple(KINDS),
) -> Iterator[KindGroup]:
    """Up to ``per_story`` groups per story (a list of articles, each its sentences): a
    question made from one article's sentence, the positive from another article's."""
    for articles in clusters:
        if len(articles) < 2:
            continue
        made = 0
        all_sentences = [s for a in articles for s in a]
        by_kind_key: dict[tuple[str, str], list[tuple[KindSentence, Found]]] = {}
        for s in all_sentences:
            for f in s.answers:
                by_kind_key.setdefault((f.kind, key(f.answer)), []).append((s, f))
        options = [k for k, v in by_kind_key.items() if len({s.article for s, _ in v}) >= 2]
        rng.shuffle(options)
        # Rarer kinds first, so that one story gives several kinds.
        options.sort(key=lambda k: kinds.index(k[0]) if k[0] in kinds else 99)
        used_kinds: dict[str, int] = {}
        for kind, answer in options:
            if made >= per_story or used_kinds.get(kind, 0) >= 2:
                continue
            hits = by_kind_key[kind, answer]
            source, found = rng.choice(hits)
            q_words = frozenset(content_words(source.raw)) - set(content_words(found.answer))
            # A weekday, a year or a small number is in many sentences about other facts: the
            # other report must share more of the question's topic to state the same one.
            generic = re.fullmatch(r"(?:[a-z]+day|\d{1,4}|\w+)", answer) is not None
            need = 4 if generic else 3
            positives = [
                (s, f)
                for s, f in hits
                if s.article != source.article
                and len(s.words & q_words) >= need
                and len(s.words & source.words) < 0.7 * len(s.words | source.words)
            ]
            if not positives or len(q_words) < 3:
                continue
            pos, pos_found = rng.choice(positives)
            question = make_question(source.raw, found, rng)
            akey = key(answer)
            pool = [
                s
                for s in all_sentences
                if s.raw != source.raw and akey not in key(s.raw) and s.text != pos.text
            ]
            same_kind = [s for s in pool if any(f.kind == kind for f in s.answers)]
            same_kind.sort(key=lambda s: -len(s.words & q_words))
            other_kind = [s for s in pool if not any(f.kind == kind for f in s.answers)]
            other_kind.sort(key=lambda s: -len(s.words & q_words))
            negatives: list[KindSentence] = []
            negatives += same_kind[:2]
            negatives += other_kind[:2]
            rest = [s for s in pool if s not in negatives]
            negatives += rng.sample(rest, min(group - 1 - len(negatives), len(rest)))
            texts = list(dict.fromkeys(s.text for s in negatives))
            if len(texts) < group - 1:
                continue
            offset = pos.offset
            yield KindGroup(
                question,
                kind,
                [pos.text, *texts[: group - 1]],
                (offset + pos_found.start, offset + pos_found.end),
                source.article,
                pos.article,
            )
            used_kinds[kind] = used_kinds.get(kind, 0) + 1
            made += 1


def build_kind_groups(
    questions: Sequence[dict[str, Any]],
    articles: dict[str, dict[str, Any]],
    exclude_articles: set[str],
    rng: random.Random,
    per_story: int = 8,
    limit: int | None = None,
) -> list[KindGroup]:
    """Up to ``limit`` groups from the stories of ``questions`` (each question's retrieved
    articles are one story), leaving out ``exclude_articles`` (the validation weeks')."""
    from chatbot.common.text import sentence_spans

    cache: dict[str, list[KindSentence]] = {}

    def sentences_of(aid: str) -> list[KindSentence]:
        if aid not in cache:
            text = articles[aid].get("text") or ""
            cache[aid] = kind_sentences(articles[aid], sentence_spans(text))
        return cache[aid]

    seen_stories: set[frozenset[str]] = set()
    clusters = []
    for q in questions:
        ids = [a for a in q["retrieved_article_ids"] if a in articles and a not in exclude_articles]
        story = frozenset(ids)
        if len(ids) < 2 or story in seen_stories:
            continue
        seen_stories.add(story)
        clusters.append(ids)
    rng.shuffle(clusters)  # a limit takes stories of every year, not the first weeks'
    groups: list[KindGroup] = []
    used_sources: set[tuple[str, str]] = set()
    for ids in clusters:
        if limit is not None and len(groups) >= limit:
            break
        for g in story_groups([[sentences_of(a) for a in ids]], rng, per_story=per_story):
            if (g.source_article, g.question) in used_sources:
                continue
            used_sources.add((g.source_article, g.question))
            groups.append(g)
    return groups


def main(argv: Sequence[str] | None = None) -> None:
    import json
    from collections import Counter

    from training.answer_ranker import DEFAULT_DATA, load_articles

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--questions", type=int, default=0, help="only the first N quiz stories")
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    from pathlib import Path

    data = Path(args.data)
    questions = [json.loads(line) for line in (data / "questions.jsonl").open(encoding="utf-8")]
    if args.questions:
        questions = questions[: args.questions]
    wanted = {a for q in questions for a in q["retrieved_article_ids"]}
    articles = load_articles(data / "articles.jsonl.gz", wanted)
    rng = random.Random(args.seed)
    groups = build_kind_groups(questions, articles, set(), rng)
    print(
        f"{len(groups)} groups from {len(questions)} quiz stories;",
        dict(Counter(g.kind for g in groups)),
    )
    for g in rng.sample(groups, min(args.sample, len(groups))):
        s, e = g.span
        print(f"[{g.kind}] Q: {g.question}\n   A: {g.texts[0][s:e]!r} in: {g.texts[0][:200]}\n")


if __name__ == "__main__":
    main()
