"""Loaders: every input format and every kind of bad input, on real files and a real server."""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.sources.fetch import Fetcher
from chatbot.sources.formats import clean_text, parse_date
from chatbot.sources.loaders import iter_articles, load_bytes
from chatbot.vocabulary import Article, LoadFailure
from tests.http_fixtures import LocalServer, article_html
from tests.paths import example_article, shared_evaldata

# The example article ships in the package (the same text as ../shared/seed); the eval data is
# read from ../shared beside the repository, wherever the repository is.
SEED = example_article()
REALTIMEQA = shared_evaldata() / "realtimeqa-dev" / "articles.jsonl"

BODY = (
    "The regional parliament passed the water bill late on Monday after a long debate. "
    "Supporters said the law would protect rivers from industrial waste for decades.\n\n"
    "Critics argued that farmers would bear most of the cost and asked for a transition period "
    "of at least five years before the new limits apply to small farms in the region."
)


def fetcher(**overrides: Any) -> Fetcher:
    options: dict[str, Any] = {"timeout": 5.0, "max_bytes": 2_000_000, "allow_private": True}
    options.update(overrides)
    return Fetcher(**options)


def load(*items: Any, max_file_bytes: int = 5_000_000, **fetch_opts: Any) -> list[Any]:
    return list(iter_articles(items, fetcher=fetcher(**fetch_opts), max_file_bytes=max_file_bytes))


def articles(results: list[Any]) -> list[Article]:
    return [r for r in results if isinstance(r, Article)]


def failures(results: list[Any]) -> list[LoadFailure]:
    return [r for r in results if isinstance(r, LoadFailure)]


def only_article(results: list[Any]) -> Article:
    assert failures(results) == []
    assert len(results) == 1
    return results[0]


def only_failure(results: list[Any]) -> LoadFailure:
    assert len(results) == 1 and isinstance(results[0], LoadFailure), results
    return results[0]


# --------------------------------------------------------------------------- text files


def test_seed_file() -> None:
    article = only_article(load(SEED))
    assert article.published_at == datetime(2025, 2, 27, tzinfo=UTC)
    assert article.source == "ANI"
    assert article.text.startswith("Moscow [Russia], February 27 (ANI): Russian President")
    assert "date 2025-02-27" not in article.text
    assert article.title.startswith("Russian President Vladimir Putin said")
    assert len(article.title) <= 120
    assert "\n\n" in article.text  # paragraphs kept
    assert article.url is None


def test_txt_with_metadata_header(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text(
        "Title: Water bill passes\nDATE: 2025-01-15T09:30:00+02:00\nSource: Daily Planet\n"
        "URL: https://example.com/water?utm_source=x\nAuthors: Lois Lane, Clark Kent\n\n" + BODY
    )
    article = only_article(load(path))
    assert article.title == "Water bill passes"
    assert article.published_at == datetime(2025, 1, 15, 7, 30, tzinfo=UTC)
    assert article.source == "Daily Planet"
    assert article.url == "https://example.com/water?utm_source=x"
    assert article.authors == ("Lois Lane", "Clark Kent")
    assert article.text == BODY
    # The id comes from the canonical URL, so another link to the same article matches.
    same = only_article(load({"url": "https://example.com/water/", "text": "other"}))
    assert same.id == article.id


def test_txt_title_is_first_line_and_dateline_source(tmp_path: Path) -> None:
    path = tmp_path / "wire.txt"
    path.write_text("Water bill passes\n\nBERLIN (Reuters) - " + BODY)
    article = only_article(load(path))
    assert article.title == "Water bill passes"
    assert article.source == "Reuters"
    assert article.published_at is None
    assert article.text.startswith("Water bill passes\n\nBERLIN (Reuters) - The regional")


def test_txt_long_first_line_title_cut_at_word(tmp_path: Path) -> None:
    sentence = "Officials " + "announced a very long list of measures " * 6 + "today."
    path = tmp_path / "long.txt"
    path.write_text(sentence + " Second sentence follows here.\n\nMore.")
    article = only_article(load(path))
    assert len(article.title) <= 120
    assert article.title.endswith("…")
    assert sentence.startswith(article.title[:-1])
    assert article.text.startswith(sentence)


def test_markdown_heading_and_front_matter(tmp_path: Path) -> None:
    plain = tmp_path / "a.md"
    plain.write_text("# Water bill passes\n\n" + BODY)
    assert only_article(load(plain)).title == "Water bill passes"
    front = tmp_path / "b.md"
    front.write_text("---\ntitle: From front matter\ndate: 2024-12-31\n---\n\n## Heading\n" + BODY)
    article = only_article(load(front))
    assert article.title == "From front matter"
    assert article.published_at == datetime(2024, 12, 31, tzinfo=UTC)


def test_clean_text() -> None:
    raw = "Line one\r\nline\x07 two\x00\r\r\n\n\n\nPara\ttwo  \n\n\n"
    assert clean_text(raw) == "Line one\nline two\n\nPara\ttwo"


def test_non_utf8_text_loads(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.txt"
    path.write_bytes("Café société – “quoted” déjà vu\n\n".encode("cp1252") + BODY.encode())
    article = only_article(load(path))
    assert article.title == "Café société – “quoted” déjà vu"
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfTitle line\n\n" + BODY.encode())
    assert only_article(load(bom)).title == "Title line"
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(("Sixteen bits\n\n" + BODY).encode("utf-16"))
    assert only_article(load(utf16)).title == "Sixteen bits"


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_each_fail_clearly_and_the_rest_loads(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Good one\n\n" + BODY)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 3)
    png = tmp_path / "noise.md"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    unknown = tmp_path / "report.docx"
    unknown.write_bytes(b"PK\x03\x04")
    stub = tmp_path / "stub.pdf"  # a PDF header and nothing else
    stub.write_bytes(b"%PDF-1.4")
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 2_000)
    header_only = tmp_path / "header.txt"
    header_only.write_text("Title: Nothing else\nDate: 2025-01-01\n")
    missing = tmp_path / "missing.txt"
    results = load(
        empty, binary, png, unknown, stub, huge, header_only, missing, good, max_file_bytes=1_000
    )
    reasons = {Path(f.item).name: f.reason for f in failures(results)}
    assert reasons["empty.txt"] == "file is empty"
    assert reasons["binary.txt"].startswith("binary file")
    assert reasons["noise.md"].startswith("binary file")
    assert reasons["report.docx"].startswith("unsupported file type (.docx)")
    assert reasons["stub.pdf"].startswith("not a readable PDF")
    assert "over the limit of 1000 bytes" in reasons["huge.txt"]
    assert "CHATBOT_MAX_FILE_BYTES" in reasons["huge.txt"]
    assert "no article text" in reasons["header.txt"]
    assert reasons["missing.txt"] == "no such file or folder"
    assert [a.title for a in articles(results)] == ["Good one"]
    assert isinstance(results[-1], Article)  # order kept, failures did not stop the batch


def test_huge_file_is_refused_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file that cannot be read record by record (JSON and JSON Lines stream: see
    # test_streamed_input.py) is refused from its size alone.
    huge = tmp_path / "huge.html"
    with huge.open("wb") as handle:  # sparse: 50 MB on paper, nothing on disk
        handle.seek(50_000_000)
        handle.write(b"\n")

    def no_open(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a file over the limit must not be opened")

    monkeypatch.setattr(Path, "open", no_open)
    failure = only_failure(load(huge, max_file_bytes=1_000_000))
    assert "50000001 bytes, over the limit of 1000000 bytes" in failure.reason


def test_unsupported_items() -> None:
    results = list(
        iter_articles(
            [42, "ftp://example.com/x.txt"],  # type: ignore[list-item]
            fetcher=fetcher(),
            max_file_bytes=1000,
        )
    )
    reasons = [f.reason for f in failures(results)]
    assert reasons[0].startswith("unsupported item type")
    assert reasons[1] == "unsupported URL scheme ftp:// (use http or https)"


# --------------------------------------------------------------------------- folders


def test_folder_recursive_sorted_known_types_no_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "b" / "2.txt").write_text("Second\n\n" + BODY)
    (tmp_path / "a.md").write_text("# First\n\n" + BODY)
    (tmp_path / "c.HTML").write_text(article_html("Third", BODY.split("\n\n")))
    (tmp_path / ".hidden.txt").write_text("Hidden\n\n" + BODY)
    (tmp_path / ".git" / "x.txt").write_text("Hidden too\n\n" + BODY)
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    results = load(tmp_path)
    assert [a.title for a in articles(results)] == ["First", "Second", "Third"]
    assert failures(results) == []


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n")
    assert "no files of a supported type" in only_failure(load(tmp_path)).reason


def test_single_item_not_iterated_as_characters(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("Only one\n\n" + BODY)
    results = list(iter_articles(str(path), fetcher=fetcher(), max_file_bytes=10_000))
    assert [a.title for a in articles(results)] == ["Only one"]


# --------------------------------------------------------------------------- HTML


def test_html_file_main_text_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    paragraphs = BODY.split("\n\n")
    path.write_text(
        article_html("Water bill passes", paragraphs, canonical="https://gazette.example/water")
    )
    article = only_article(load(path))
    assert article.title == "Water bill passes"
    assert "regional parliament passed the water bill" in article.text
    assert "Copyright" not in article.text and "Privacy" not in article.text
    assert article.source == "Local Gazette"
    assert article.authors == ("Jane Doe",)
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == "2025-03-04"
    assert article.url == "https://gazette.example/water"


def test_html_without_article_text(tmp_path: Path) -> None:
    path = tmp_path / "nav.htm"
    path.write_text("<html><head><title>Menu</title></head><body><nav></nav></body></html>")
    assert only_failure(load(path)).reason == "no article text found in the HTML page"


def test_deeply_nested_html(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    depth = 20_000
    path.write_text("<html><body>" + "<div>" * depth + BODY + "</div>" * depth + "</body></html>")
    start = time.monotonic()
    results = load(path)
    assert len(results) == 1  # an article or a clear failure, never an exception
    assert time.monotonic() - start < 20


# --------------------------------------------------------------------------- JSON / JSONL


def test_json_shapes(tmp_path: Path) -> None:
    newsapi = {
        "status": "ok",
        "articles": [
            {
                "source": {"id": None, "name": "BBC News"},
                "author": "By Ann Smith and Bob Jones",
                "title": "Water bill passes",
                "url": "https://bbc.example/news/1",
                "publishedAt": "2025-01-15T09:30:00Z",
                "content": "<p>" + BODY.replace("\n\n", "</p><p>") + "</p>",
            },
            "not an object",
            {"title": "No text here"},
        ],
    }
    path = tmp_path / "newsapi.json"
    path.write_text(json.dumps(newsapi))
    results = load(path)
    article = articles(results)[0]
    assert article.source == "BBC News"
    assert article.authors == ("Ann Smith", "Bob Jones")
    assert article.published_at == datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    assert "<p>" not in article.text and "\n\n" in article.text
    reasons = {f.item: f.reason for f in failures(results)}
    assert reasons[f"{path}[1]"] == "expected a JSON object, got a string"
    assert reasons[f"{path}[2]"].startswith("no article text (expected one of the fields: text")

    single = tmp_path / "single.json"
    single.write_text(
        json.dumps({"headline": "H", "body": BODY, "byline": ["A. Writer"], "date": "2025-02-03"})
    )
    one = only_article(load(single))
    assert (one.title, one.authors, one.source, one.url) == ("H", ("A. Writer",), "", None)
    assert one.published_at == datetime(2025, 2, 3, tzinfo=UTC)

    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"name": "N", "maintext": BODY, "link": "https://x.org/a"}]))
    listed_article = only_article(load(listed))
    assert listed_article.source == "x.org"


def test_json_id_from_url_not_external_id(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text(
        json.dumps(
            {
                "items": [
                    {"id": "ext-1", "title": "T", "text": BODY, "url": "https://x.org/a?utm_x=1"},
                    {"id": "ext-2", "title": "T", "text": BODY},
                ]
            }
        )
    )
    first, second = load(path)
    assert first.id == only_article(load({"url": "https://X.org/a", "text": "t"})).id
    assert second.id not in ("ext-1", "ext-2")
    assert second.id == only_article(load({"title": "T", "text": BODY})).id


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"title": "x", ')
    assert only_failure(load(path)).reason.startswith("invalid JSON: ")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in only_failure(load(deep)).reason


def test_jsonl_bad_line_continues(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    lines = [
        json.dumps({"title": "One", "text": BODY}),
        "{not json",
        "",
        "[1, 2]",
        json.dumps({"title": "Two", "text": BODY, "pubDate": "Tue, 04 Mar 2025 07:30:00 GMT"}),
    ]
    path.write_text("\n".join(lines))
    results = load(path)
    assert [a.title for a in articles(results)] == ["One", "Two"]
    assert articles(results)[1].published_at == datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
    bad = failures(results)
    assert bad[0].item == f"{path}:2" and bad[0].reason.startswith("invalid JSON on line 2: ")
    assert bad[1].item == f"{path}:4" and "expected a JSON object on line 4" in bad[1].reason


@pytest.mark.skipif(not REALTIMEQA.exists(), reason="shared eval data not present")
def test_realtimeqa_jsonl() -> None:
    start = time.monotonic()
    results = load(REALTIMEQA, max_file_bytes=200_000_000)
    assert failures(results) == []
    loaded = articles(results)
    assert len(loaded) == 1813
    assert all(a.published_at is not None and a.published_at.tzinfo is not None for a in loaded)
    assert all(a.published_at.hour == 0 for a in loaded if a.published_at)
    first = json.loads(REALTIMEQA.open(encoding="utf-8").readline())
    assert loaded[0].title == first["title"]
    assert loaded[0].source == first["source"]
    assert loaded[0].url == first["url"]
    assert loaded[0].published_at == datetime.fromisoformat(first["published_at"]).replace(
        tzinfo=UTC
    )
    assert time.monotonic() - start < 15


# --------------------------------------------------------------------------- Python objects


def test_mappings_and_articles_passed_directly() -> None:
    given_article = Article.create(title="Given", text=BODY)
    results = load(
        given_article,
        {"title": "Mapped", "text": BODY, "published_at": datetime(2025, 1, 1, 12)},
        {"title": "Empty"},
    )
    assert results[0] is given_article
    assert results[1].title == "Mapped"
    assert results[1].published_at == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert (
        results[2] == LoadFailure("Empty", results[2].reason)
        and "no article text" in results[2].reason
    )


def test_parse_date_shapes() -> None:
    assert parse_date("2025-02-27") == datetime(2025, 2, 27, tzinfo=UTC)
    assert parse_date("2025-02-27T10:00:00Z") == datetime(2025, 2, 27, 10, tzinfo=UTC)
    assert parse_date("2025-02-27 10:00") == datetime(2025, 2, 27, 10, tzinfo=UTC)
    assert parse_date("Thu, 27 Feb 2025 10:00:00 +0100") == datetime(2025, 2, 27, 9, tzinfo=UTC)
    assert parse_date(1_740_614_400) == datetime(2025, 2, 27, tzinfo=UTC)
    assert parse_date(1_740_614_400_000) == datetime(2025, 2, 27, tzinfo=UTC)
    assert parse_date("not a date") is None
    assert parse_date("") is None
    assert parse_date(None) is None


# --------------------------------------------------------------------------- URLs and feeds


def test_url_html_page(http_server: LocalServer) -> None:
    article = only_article(load(http_server.url("/redirect")))
    assert article.title == "Council approves tram plan"
    assert article.url == http_server.url("/article.html")  # final URL after the redirect
    assert article.source == "Local Gazette"


def test_url_plain_text_and_json(http_server: LocalServer) -> None:
    plain = only_article(load(http_server.url("/plain.txt")))
    assert plain.title == "Plain wire story"
    assert plain.url == http_server.url("/plain.txt")
    data = only_article(load(http_server.url("/data.json")))
    assert data.title == "JSON story" and data.url == "https://example.org/json-story"


def test_url_failures(http_server: LocalServer) -> None:
    urls = [http_server.url(p) for p in ("/404", "/500", "/slow", "/image.png", "/empty.html")]
    results = load(*urls, http_server.url("/article.html"), timeout=0.5)
    reasons = [f.reason for f in failures(results)]
    assert reasons[0] == "HTTP 404 Not Found"
    assert reasons[1] == "HTTP 500 Internal Server Error"
    assert reasons[2] == "timed out after 0.5s"
    assert reasons[3].startswith("unsupported content type 'image/png'")
    assert reasons[4].startswith("no article text found in the HTML page")
    assert [f.item for f in failures(results)] == urls
    assert isinstance(results[-1], Article)


def test_url_refused_without_allow_private(http_server: LocalServer) -> None:
    failure = only_failure(load(http_server.url("/article.html"), allow_private=False))
    assert "CHATBOT_ALLOW_PRIVATE_URLS=true" in failure.reason


def test_rss_feed_fetches_entry_links(http_server: LocalServer) -> None:
    results = load(http_server.url("/feed.rss"))
    loaded = articles(results)
    assert [a.title for a in loaded] == ["Trams approved", "Budget talks stall"]
    first = loaded[0]
    assert first.url == http_server.url("/news/1.html")
    assert first.published_at == datetime(2025, 3, 4, 7, 30, tzinfo=UTC)  # the feed's date
    assert "three tram lines" in first.text
    assert first.source == "Local Gazette"
    (orphan,) = failures(results)
    assert "Orphan entry" in orphan.reason
    assert http_server.url("/feed.rss") in orphan.reason
    assert "no link" in orphan.reason


def test_atom_feed_full_content_not_fetched(http_server: LocalServer) -> None:
    before = len(http_server.hits())
    results = load(http_server.url("/feed.atom"))
    loaded = articles(results)
    assert failures(results) == []
    assert [a.title for a in loaded] == ["Harbour expansion", "Airport noise rules"]
    assert loaded[0].source == "Wire Atom"
    assert loaded[0].authors == ("Ann Writer",)
    assert loaded[0].url == http_server.url("/unused/harbour.html")
    assert loaded[1].url is None
    assert loaded[1].published_at == datetime(2025, 3, 7, 9, tzinfo=UTC)
    assert "<p>" not in loaded[0].text
    assert "/unused/harbour.html" not in http_server.hits()[before:]  # content was enough


def test_feed_sniffed_despite_html_content_type(http_server: LocalServer) -> None:
    assert len(articles(load(http_server.url("/feed-as-html")))) == 2


def test_not_a_feed(http_server: LocalServer, tmp_path: Path) -> None:
    assert only_failure(load(http_server.url("/notfeed.xml"))).reason.startswith(
        "not an RSS/Atom feed"
    )
    local = tmp_path / "feed.rss"
    local.write_text('{"this": "is json"}')
    assert only_failure(load(local)).reason.startswith("not an RSS/Atom feed")
    html = tmp_path / "page.xml"
    html.write_text("<html><body><p>Hello</p></body></html>")
    assert only_failure(load(html)).reason.startswith("not an RSS/Atom feed")


def test_local_feed_file_with_links(http_server: LocalServer, tmp_path: Path) -> None:
    path = tmp_path / "local.atom"
    path.write_text(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>L</title>'
        f'<entry><title>Linked</title><link href="{http_server.url("/article.html")}"/></entry>'
        f'<entry><title>Broken</title><link href="{http_server.url("/404")}"/></entry>'
        "</feed>"
    )
    results = load(path)
    assert [a.title for a in articles(results)] == ["Linked"]
    (broken,) = failures(results)
    assert broken.item == http_server.url("/404")
    assert broken.reason == f"entry 'Broken' of feed {path}: HTTP 404 Not Found"


def test_entry_linking_to_a_feed_is_not_followed(http_server: LocalServer, tmp_path: Path) -> None:
    path = tmp_path / "loop.rss"
    path.write_text(
        '<rss version="2.0"><channel><title>Loop</title>'
        f"<item><title>Feed</title><link>{http_server.url('/feed.atom')}</link></item>"
        "</channel></rss>"
    )
    failure = only_failure(load(path))
    assert failure.reason == "the link is a feed, not an article page"


def test_external_dtd_allowed_but_never_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY nbsp "EXPANDED-FROM-DTD">')
    path = tmp_path / "old.rss"
    path.write_text(
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "{dtd.as_uri()}">'
        '<rss version="0.91"><channel><title>Old&nbsp;feed</title><link>http://x.org/</link>'
        f"<item><title>One</title><description>{BODY}</description></item></channel></rss>"
    )
    article = only_article(load(path))
    assert article.source == "Old feed"
    assert "EXPANDED-FROM-DTD" not in article.text + article.title
    parameter = tmp_path / "pe.xml"
    parameter.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]><rss/>'
    )
    assert "possible XML bomb" in only_failure(load(parameter)).reason


def _max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_xml_bomb_refused_fast(http_server: LocalServer, tmp_path: Path) -> None:
    levels = "".join(
        f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(1, 12)
    )  # 10**11 expansions
    bomb = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{levels}]><rss><c>&l11;</c></rss>'
    path = tmp_path / "bomb.rss"
    path.write_text(bomb)
    external = tmp_path / "xxe.xml"
    external.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<rss><channel><title>&x;</title></channel></rss>"
    )
    before = _max_rss_kib()
    start = time.monotonic()
    results = load(path, external, http_server.url("/bomb.xml"))
    assert time.monotonic() - start < 5
    assert _max_rss_kib() - before < 50_000  # no expansion happened
    assert len(results) == 3
    for failure in failures(results):
        assert "possible XML bomb" in failure.reason
        assert "passwd" not in failure.reason and "root:" not in failure.reason


def test_load_bytes_for_uploads() -> None:
    (article,) = list(load_bytes(("Upload\n\n" + BODY).encode(), name="up.txt", kind="txt"))
    assert isinstance(article, Article) and article.title == "Upload"
    (failure,) = list(load_bytes(b"", name="up.json", kind=".json"))
    assert failure == LoadFailure("up.json", "file is empty")


# --------------------------------------------------------------------------- properties

_PROPERTY = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY
@given(data=st.one_of(st.binary(max_size=2_000), st.text(max_size=2_000).map(str.encode)))
def test_text_loader_never_raises(data: bytes) -> None:
    for kind in (".txt", ".md"):
        for result in load_bytes(data, name="x", kind=kind):
            assert isinstance(result, Article | LoadFailure)
            if isinstance(result, Article):
                assert result.text.strip() and "\r" not in result.text


@_PROPERTY
@given(
    data=st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=2_000).map(str.encode),
        st.lists(
            st.sampled_from(["<p>", "</p>", "<div>", "<html>", "<title>", "&amp;", "text ", "<"]),
            max_size=300,
        ).map(lambda parts: "".join(parts).encode()),
    )
)
def test_html_loader_never_raises(data: bytes) -> None:
    for result in load_bytes(data, name="x", kind=".html"):
        assert isinstance(result, Article | LoadFailure)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["title", "text", "content", "date", "url", "authors", "source", "x"]),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@_PROPERTY
@given(value=_JSON, junk=st.binary(max_size=200))
def test_json_loaders_never_raise(value: Any, junk: bytes) -> None:
    encoded = json.dumps(value).encode()
    for data in (encoded, junk, encoded + b"\n" + junk):
        for kind in (".json", ".jsonl"):
            for result in load_bytes(data, name="x", kind=kind):
                assert isinstance(result, Article | LoadFailure)


@_PROPERTY
@given(data=st.binary(max_size=1_000) | st.text(max_size=1_000).map(str.encode))
def test_feed_loader_never_raises(data: bytes) -> None:
    for result in load_bytes(b"<rss>" + data, name="x", kind=".rss"):
        assert isinstance(result, Article | LoadFailure)
