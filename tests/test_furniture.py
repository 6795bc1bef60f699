"""Page furniture is never quoted (issue 37): timestamps, share and follow prompts, bylines, photo
credits, list headings, "Read more" and newsletter lines are cut out of the sentences that
answers, summaries, briefings and timelines quote, while every span still indexes the stored
text exactly."""

from __future__ import annotations

import pytest

from chatbot.answering.centrality import candidate_sentences
from chatbot.answering.support import SupportChecker
from chatbot.common.furniture import furniture_spans, is_furniture, quotable_spans
from chatbot.common.text import sentence_spans
from tests.fakes import HashingEmbedder

LIVE_BLOG = (
    "10:49 pm ET June 16, 2026 Share this update Messi ties men's World Cup goal-scoring record "
    "Victoria Hernandez and Seth Vertelney After scoring an incredible hat trick on Tuesday "
    "night, Lionel Messi is now tied as the top all-time leading scorer at the men's World Cup. "
    "He has 16 goals."
)


def quotes(text: str) -> list[str]:
    return [text[s:e] for s, e in quotable_spans(text)]


def assert_exact(text: str) -> None:
    """Every quotable span indexes the text, is trimmed, lies inside one sentence and holds no
    furniture."""
    sentences = sentence_spans(text)
    furniture = furniture_spans(text)
    for s, e in quotable_spans(text):
        assert 0 <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        assert any(a <= s and e <= b for a, b in sentences)
        assert not any(fs < e and s < fe for fs, fe in furniture)


# --- furniture lines of each kind -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # timestamps
        "10:49 pm ET June 16, 2026",
        "Updated June 22, 2026, 5:23 p.m. ET",
        "Published 4:40 p.m. ET June 22, 2026",
        "June 22, 2026, 4:40 p.m. ET",
        "Updated 11:39 p.m. ET / Ariel Edwards-Levy",
        "(3:45 p.m.)",
        # share, follow, newsletter, "Read more", click prompts
        "Share this update",
        "Share Facebook Twitter Email",
        "Follow us on Twitter @usatoday",
        "Follow Mike Snider on X and Threads: @mikesnider",
        "Sign up for our newsletter",
        "Sign up for USA TODAY's On Politics newsletter.",
        "Need a break? Play the USA TODAY Daily Crossword Puzzle.",
        "Read more:",
        "Read more here.",
        "More: Supreme Court's conservatives appear poised to expand gun rights",
        "READ MORE: New FDA limits on arsenic levels draw criticism",
        "Click here to read the full story.",
        "For the latest news, click here.",
        "Keep refreshing this page for the latest news.",
        # bylines and signatures
        "By Jane Doe, USA TODAY",
        "By Channon Hodge, Ken Borland and Frank Fenimore, CNN",
        "By RANDALL CHASE AP Business Writer",
        "– Joey Garrison",
        "-- Associated Press",
        "Contributing: Reuters",
        "From USA TODAY Network and wire reports",
        "CNN's Pete Muntean and Raja Razek contributed to this report.",
        "Reach Joey Garrison on X @joeygarrison.",
        # photo credits
        "(Photo: Getty Images)",
        "Jane Doe/AP",
        "Corey Sipkin/AFP/Getty Images",
        "Photo by John Smith",
        "(Image credit: Atif Aryan/AFP via Getty Images)",
        "Courtesy Hasbro",
        # player and advertising junk
        "Video player was slow to load content Video content never loaded Ad froze or did not "
        "finish loading Video content did not start after ad Audio on ad was too loud Other issues",
        "Video Ad Feedback Big blow to Putin as Russia orders to withdraw from Kherson 02:30 - "
        "Source: CNN",
        "Advertisement",
        "(This story was updated to add new information.)",
        "We occasionally recommend interesting products and services. If you make a purchase by "
        "clicking one of the links, we may earn an affiliate fee.",
    ],
)
def test_a_furniture_line_is_never_quoted(line: str) -> None:
    text = f"The council approved the budget on Monday.\n{line}\nThe vote was 7 to 2."
    assert quotes(text) == ["The council approved the budget on Monday.", "The vote was 7 to 2."]
    assert is_furniture(line)


def test_a_line_of_only_names_is_a_byline_next_to_furniture() -> None:
    text = (
        "Share this update\nMessi ties men's World Cup goal-scoring record\n"
        "Victoria Hernandez and Seth Vertelney\nAfter scoring a hat trick, Messi is now tied."
    )
    assert quotes(text) == [
        "Messi ties men's World Cup goal-scoring record",
        "After scoring a hat trick, Messi is now tied.",
    ]
    byline = "Kim Hjelmgaard and Gary Strauss\nUSA TODAY\nThe talks ended on Friday."
    assert quotes(byline) == ["The talks ended on Friday."]


def test_a_teaser_question_goes_with_its_prompt() -> None:
    text = (
        "Keep refreshing this page for the latest news. Want more? Sign up for USA TODAY's free "
        "Coronavirus Watch newsletter to receive updates directly to your inbox.\n"
        "Cases rose 4% on Monday."
    )
    assert quotes(text) == ["Cases rose 4% on Monday."]


def test_an_authors_bio_goes_with_the_contact_line() -> None:
    text = (
        "Barbara Rodriguez covers health care and politics for the Register. She can be reached "
        "by email at bcrodriguez@registermedia.com or by phone at 515-284-8011.\n"
        "The bill passed the Senate 30 to 18."
    )
    assert quotes(text) == ["The bill passed the Senate 30 to 18."]


# --- furniture glued to a sentence ----------------------------------------------------------------


def test_the_issue_example_is_split_and_its_furniture_dropped() -> None:
    assert quotes(LIVE_BLOG) == [
        "Messi ties men's World Cup goal-scoring record",
        "After scoring an incredible hat trick on Tuesday night, Lionel Messi is now tied as the "
        "top all-time leading scorer at the men's World Cup.",
        "He has 16 goals.",
    ]
    assert [LIVE_BLOG[s:e] for s, e in furniture_spans(LIVE_BLOG)] == [
        "10:49 pm ET June 16, 2026",
        "Share this update",
        "Victoria Hernandez and Seth Vertelney",
    ]
    assert_exact(LIVE_BLOG)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "3:59 a.m. (8:59 p.m. ET, Wednesday): Livestream video from a border crossing showed "
            "tanks moving north.",
            "Livestream video from a border crossing showed tanks moving north.",
        ),
        (
            "Updated 5:23 p.m. ET June 22, 2026 | Greenspan died at 99, his family said.",
            "Greenspan died at 99, his family said.",
        ),
        (
            "Corey Sipkin/AFP/Getty Images Serena Williams celebrates after defeating Anett "
            "Kontaveit in the second round.",
            "Serena Williams celebrates after defeating Anett Kontaveit in the second round.",
        ),
        (
            "Maxar/Getty Images Maxar/Getty Images Satellite images show the island before and "
            "after the eruption.",
            "Satellite images show the island before and after the eruption.",
        ),
        (
            "The Discord app as seen on an iPhone Jaap Arriens/NurPhoto/Getty Images",
            "The Discord app as seen on an iPhone",
        ),
        (
            "Boys in Afghanistan shovel snow after a wave of freezing temperatures (Image credit: "
            "Atif Aryan/AFP via Getty Images)",
            "Boys in Afghanistan shovel snow after a wave of freezing temperatures",
        ),
        (
            "Tweet Facebook Email Email this story Share Share this story Patsy Wright sees so "
            "much love at work.",
            "Patsy Wright sees so much love at work.",
        ),
        (
            "By Jane Doe, USA TODAY The Senate voted 51 to 49 on Tuesday.",
            "The Senate voted 51 to 49 on Tuesday.",
        ),
        (
            "The eclipse ends by 3 p.m. Click here to get precise eclipse times for your location.",
            "The eclipse ends by 3 p.m.",
        ),
    ],
)
def test_glued_furniture_is_split_off(text: str, kept: str) -> None:
    assert quotes(text) == [kept]
    assert_exact(text)


def test_a_credit_between_gallery_captions_is_cut_out() -> None:
    text = (
        "Photos: Serena Williams' final act Al Bello/Getty Images Williams reacts after winning "
        "the first set tiebreaker on Wednesday.\n"
        "Mikhail Khodorkovsky, left, is seen in a courtroom in Moscow on July 12, 2004. "
        "Alexander Zemlianichenko/AP"
    )
    assert quotes(text) == [
        "Williams reacts after winning the first set tiebreaker on Wednesday.",
        "Mikhail Khodorkovsky, left, is seen in a courtroom in Moscow on July 12, 2004.",
    ]
    assert_exact(text)


# --- real sentences that look similar -------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "The quake struck at 7:24 p.m. ET on June 16, 2026, the USGS said.",
        "On June 22, 2026, the Fed held rates steady.",
        "June 16, 2026 was the hottest day on record in Phoenix, officials said.",
        "11 p.m. Tuesday, Nov. 5: Will add ballots received from ballot boxes Tuesday morning.",
        "By the end of the year, prices had risen 3%.",
        "By Monday, the fire had spread to 52,600 acres.",
        "By December, Biden was warning Netanyahu that Israel was losing support.",
        "Follow-up talks are planned for next week.",
        "Follow the money, the prosecutor told the jury.",
        '"Share this with everyone you know," she said.',
        '"Click here to claim your refund," the scam text read, according to police.',
        "Sign up for cornhole, pickleball and volleyball leagues begins in May.",
        "The company said its updated app would let users share posts more easily.",
        "CNN Chief Medical Correspondent Sanjay Gupta said the vaccine works.",
        "A Reuters/Ipsos poll found 40% of Americans approve.",
        "Photos by the agency showed the damage to the bridge.",
        "3) The defendant shall pay restitution to the victims.",
        "Contact the sheriff's office at 555-0100 with any information.",
        "He contributed to the report, which the panel released on Friday.",
        "Getty Images said it would license the photos to news outlets.",
        "Contact Jane Roe at 402-471-5547 or jane.roe@nebraska.gov for more information.",
        'Follow me on Threads, if you like," the author wrote.',
        # a correction note glued to a fact by a missed sentence end stays whole
        "This article has been updated to correct the owner of Pilot Flying J. FJ Management sold"
        " its stake in 2023.",
    ],
)
def test_a_real_sentence_is_kept_whole(sentence: str) -> None:
    text = f"{sentence}\nThe vote was 7 to 2."
    assert quotes(text) == [sentence, "The vote was 7 to 2."]
    assert not is_furniture(sentence)


def test_a_date_after_a_sentence_belongs_to_it() -> None:
    text = (
        "50. Tim Hardaway shoots 0-of-17 from the field, but the Warriors still win. (Dec. 27, "
        "1991)\nThe horror comedy screens at the library. 2:30 p.m. Oct. 21."
    )
    assert furniture_spans(text) == []


def test_a_list_heading_is_dropped_but_a_list_of_results_is_news() -> None:
    digest = (
        "2) Video game roundup: 'Grand Theft Auto V,' 'NCAA Football 14'\n"
        "Rockstar said the game will sell for $59.99 when it launches in September.\n"
        "14. Counties bigger than states\n"
        "San Bernardino County, California, is larger than nine states."
    )
    assert quotes(digest) == [
        "Rockstar said the game will sell for $59.99 when it launches in September.",
        "San Bernardino County, California, is larger than nine states.",
    ]
    results = "9. (44) Lewis Hamilton, Mercedes\n10. (27) Nico Hulkenberg, Haas\n"
    assert furniture_spans(results) == []
    assert furniture_spans("(7) Creighton 63 Game 51: (1) USC 73, vs. (8) Kansas 55") == []


def test_a_list_of_nominees_is_not_a_byline() -> None:
    text = (
        "Best Scenic Design of a Musical\nDane Laffrey and George Reeve, Maybe Happy Ending\n"
        "Derek McLane, Death Becomes Her"
    )
    assert "Dane Laffrey and George Reeve, Maybe Happy Ending" in quotes(text)


# --- spans --------------------------------------------------------------------------------------


def test_spans_index_the_stored_text_exactly() -> None:
    text = (
        "Updated June 22, 2026, 5:23 p.m. ET\n\n"
        "WASHINGTON – Alan Greenspan, who led the Fed for 18 years, died on Monday. He was 99.\n"
        "Jane Doe/AP\n"
        "Share this update Markets paused at noon. Read more here.\n"
        "2) Video game roundup: 'Grand Theft Auto V,' 'NCAA Football 14'\n"
        "Rockstar said the game will sell for $59.99 when it launches in September.\n"
    )
    assert quotes(text) == [
        "WASHINGTON – Alan Greenspan, who led the Fed for 18 years, died on Monday.",
        "He was 99.",
        "Markets paused at noon.",
        "Rockstar said the game will sell for $59.99 when it launches in September.",
    ]
    assert_exact(text)
    # A range of the text (a passage of an article) keeps the article's offsets.
    start = text.index("WASHINGTON")
    assert quotable_spans(text, start) == quotable_spans(text)


def test_text_without_furniture_splits_as_before() -> None:
    text = "The Senate met on Monday. It voted 51 to 49.\nThe House meets on Tuesday."
    assert quotable_spans(text) == sentence_spans(text)
    assert furniture_spans(text) == []


# --- where quotes are chosen --------------------------------------------------------------------


def test_summaries_and_briefings_never_pick_furniture() -> None:
    spans, sentences = candidate_sentences(LIVE_BLOG, 40)
    assert [LIVE_BLOG[s:e] for s, e in spans] == quotes(LIVE_BLOG)
    assert not any("Share this update" in s or "10:49 pm" in s for s in sentences)


def test_a_citation_quotes_the_sentence_without_its_furniture() -> None:
    checker = SupportChecker(HashingEmbedder(), method="lexical")
    claim = (
        "After scoring an incredible hat trick on Tuesday night, Lionel Messi is now tied as "
        "the top all-time leading scorer at the men's World Cup."
    )
    score, (start, end) = checker.score(claim, LIVE_BLOG)
    assert score >= checker.threshold
    assert LIVE_BLOG[start:end] == claim
    # Two sentences are never quoted together across furniture left out between them.
    text = "Markets fell on Monday.\nJane Doe/AP\nThe Dow lost 2%."
    _, (start, end) = checker.score("Markets fell on Monday and the Dow lost 2%.", text)
    assert "Jane Doe/AP" not in text[start:end]
