"""PDF reports: real PDFs made here (fpdf2; encrypted with pypdf), loaded from files, folders,
uploads, URLs on a real local server and the HTTP API; page numbers kept from the chunks to the
citations of an answer; scanned, encrypted and damaged files named with the reason."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter

from chatbot.bot import Chatbot
from chatbot.codecs import citation_from_dict, citation_to_dict
from chatbot.index.chunking import Chunker
from chatbot.index.keyword_segments import passage_of, passage_row
from chatbot.models.embeddings import Embedder
from chatbot.presentation.text import answer_to_text
from chatbot.sources.fetch import Fetcher
from chatbot.sources.loaders import iter_articles, load_bytes
from chatbot.sources.pdf import article_from_pdf
from chatbot.surfaces import hosting, service
from chatbot.surfaces.service.shapes import citation_json, source_json
from chatbot.surfaces.web import handlers as ui
from chatbot.vocabulary import Answer, Article, Citation, LoadFailure
from tests.http_fixtures import ChangingServer, Response
from tests.store_fixtures import settings_in

TITLE = "Central bank keeps the key rate at 21 percent"
CREATED = datetime(2025, 2, 27, 14, 30, tzinfo=UTC)
# One report, three pages, one distinctive fact per page. The sentences are longer than a line
# of the page, so the PDF breaks them across visual lines.
PAGES = [
    "Monetary policy decision\n"
    "The board of directors of the central bank met in Moscow on Thursday and decided to keep "
    "the key interest rate at 21 percent per annum, citing persistent price pressure in the "
    "consumer market and a tight labour market across most regions of the country.",
    "Inflation outlook\n"
    "Annual inflation slowed to 9.5 percent in January according to the statistics service, "
    "while the bank's economists expect it to return to the four percent target during the "
    "course of the following year if credit growth continues to cool down.",
    "Next steps\n"
    "The governor said the next board meeting on monetary policy will take place in the city "
    "of Vladivostok on 21 March, right after the regional economic forum closes its doors.",
]
WRAPPED = (  # a sentence that spans visual lines in the PDF: one line of text once loaded
    "The governor said the next board meeting on monetary policy will take place in the city "
    "of Vladivostok on 21 March, right after the regional economic forum closes its doors."
)


def make_pdf(
    pages: list[str],
    *,
    title: str | None = TITLE,
    author: str | None = "Press Service",
    created: datetime | None = CREATED,
    image_only: bool = False,
) -> bytes:
    """A real PDF: one page per text (Helvetica, wrapped lines), metadata as given."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if created:
        pdf.set_creation_date(created)
    for text in pages:
        pdf.add_page()
        if image_only:  # what a scanner makes: a picture of the page, no text layer
            pdf.image(Image.new("RGB", (400, 560), (235, 235, 228)), x=10, y=10, w=190)
        else:
            pdf.multi_cell(0, 6, text)
    data = bytes(pdf.output())
    if created is None:  # fpdf2 always dates its files: take the document information away
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.metadata = None
        data = _written(writer)
    return data


def encrypted(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def load(*items: object, max_file_bytes: int = 5_000_000) -> list[Article | LoadFailure]:
    fetcher = Fetcher(timeout=5.0, max_bytes=2_000_000, allow_private=True)
    return list(iter_articles(list(items), fetcher=fetcher, max_file_bytes=max_file_bytes))


def reasons_by_name(results: list[Article | LoadFailure]) -> dict[str, str]:
    return {Path(r.item).name: r.reason for r in results if isinstance(r, LoadFailure)}


# --- the loader -------------------------------------------------------------------------------


def test_text_pages_and_metadata_become_the_article(tmp_path: Path) -> None:
    path = tmp_path / "decision.pdf"
    path.write_bytes(make_pdf(PAGES))
    [article] = load(path)
    assert isinstance(article, Article), article
    assert article.title == TITLE
    assert article.published_at == CREATED
    assert article.authors == ("Press Service",)
    assert len(article.pages) == 3
    for (page, start, end), text in zip(article.page_spans(), PAGES, strict=True):
        heading = text.split("\n", 1)[0]
        assert article.text[start:end].startswith(heading), (page, article.text[start:end])
    # The line breaks of the page layout are gone: a sentence is one line again.
    assert WRAPPED in article.text
    assert "Vladivostok" in article.text[article.pages[2] :]
    assert "Vladivostok" not in article.text[: article.pages[2]]


def test_without_metadata_title_and_date_come_from_the_text(tmp_path: Path) -> None:
    first = "Title: Court upholds the port ban\nDate: 2025-02-20\n\n" + PAGES[0].split("\n", 1)[1]
    data = make_pdf([first, PAGES[1]], title=None, author=None, created=None)
    assert PdfReader(io.BytesIO(data)).metadata is None  # really no document information
    article = article_from_pdf(data, name="ruling.pdf", url=None)
    assert isinstance(article, Article), article
    assert article.title == "Court upholds the port ban"
    assert article.published_at == datetime(2025, 2, 20, tzinfo=UTC)
    # A word processor's leftover title is no title: the first line is used instead.
    junk = make_pdf(PAGES, title="Microsoft Word - draft_v3.docx", created=None)
    article = article_from_pdf(junk, name="x.pdf", url=None)
    assert isinstance(article, Article)
    assert article.title == "Monetary policy decision"


def test_pdf_dates_in_the_document_information_are_read_with_their_offset() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PAGES, created=None))))
    writer.add_metadata({"/ModDate": "D:20250301093000+03'00'", "/Title": "Amended ruling"})
    article = article_from_pdf(_written(writer), name="x.pdf", url=None)
    assert isinstance(article, Article)
    assert article.title == "Amended ruling"
    assert article.published_at == datetime(2025, 3, 1, 6, 30, tzinfo=UTC)


def test_chunks_stay_within_one_page_and_record_it() -> None:
    long_pages = [" ".join([p] * 6) for p in PAGES]  # several chunks per page
    article = article_from_pdf(make_pdf(long_pages), name="long.pdf", url=None)
    assert isinstance(article, Article)
    chunks = Chunker(size=64, overlap=16).chunk(article)
    spans = {page: (start, end) for page, start, end in article.page_spans()}
    assert {c.page for c in chunks} == {1, 2, 3}
    for c in chunks:
        assert c.page is not None
        start, end = spans[c.page]
        assert start <= c.char_start < c.char_end <= end, c  # never across a page boundary
        assert article.text[c.char_start : c.char_end] == c.text
    assert [c.n for c in chunks] == list(range(len(chunks)))
    # Articles without pages chunk as before, with no page.
    plain = Article.create(title="t", text=article.text)
    assert {c.page for c in Chunker(size=64, overlap=16).chunk(plain)} == {None}
    with pytest.raises(ValueError, match="pages"):
        Article.create(title="t", text="short", pages=[0, 99])


def test_scanned_encrypted_and_damaged_pdfs_fail_with_reason_and_next_step(
    tmp_path: Path,
) -> None:
    good = make_pdf(PAGES)
    files = {
        "scan.pdf": make_pdf(PAGES, image_only=True),
        "locked.pdf": encrypted(good, "reader-secret"),
        "broken.pdf": good[: len(good) // 2],
        "fake.pdf": b"<html><body>Not found</body></html>",
        "restricted.pdf": encrypted(good, ""),  # no password to open: only copying restricted
        "notes.txt": "Board notes\n\nThe board met again on Friday to discuss the budget.",
    }
    folder = tmp_path / "reports"
    folder.mkdir()
    for name, content in files.items():
        target = folder / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    results = load(folder)
    reasons = reasons_by_name(results)
    assert set(reasons) == {"scan.pdf", "locked.pdf", "broken.pdf", "fake.pdf"}
    assert "no text layer (a scanned image?)" in reasons["scan.pdf"]
    assert "run OCR on it first" in reasons["scan.pdf"]
    assert "encrypted (password-protected)" in reasons["locked.pdf"]
    assert "without the password" in reasons["locked.pdf"]
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert "download or export it again" in reasons["broken.pdf"]
    assert reasons["fake.pdf"].startswith("not a PDF file")
    loaded = [r for r in results if isinstance(r, Article)]
    assert sorted(a.title for a in loaded) == ["Board notes", TITLE]
    # Failures are named by their file, in folder order, between the articles that loaded.
    failed = [Path(r.item).name for r in results if isinstance(r, LoadFailure)]
    assert failed == ["broken.pdf", "fake.pdf", "locked.pdf", "scan.pdf"]


def test_a_pdf_in_memory_loads_like_a_file() -> None:
    [article] = load_bytes(make_pdf(PAGES), name="upload.pdf", kind="pdf")
    assert isinstance(article, Article) and article.title == TITLE and len(article.pages) == 3
    [failure] = load_bytes(b"%PDF-1.7\n", name="stub.pdf", kind=".pdf")
    assert isinstance(failure, LoadFailure) and failure.item == "stub.pdf"
    assert failure.reason.startswith("not a readable PDF")


# --- into the store and out as cited answers ----------------------------------------------------


@pytest.fixture
def pdf_bot(tmp_path: Path, embedder: Embedder) -> Iterator[Chatbot]:
    bot = Chatbot(settings_in(tmp_path, allow_private_urls=True), embedder=embedder)
    try:
        yield bot
    finally:
        bot.close()


def _page_three_citation(bot: Chatbot) -> tuple[Answer, Citation]:
    answer = bot.ask("Where will the next board meeting on monetary policy take place?")
    cited = [c for c in answer.citations if "Vladivostok" in c.quote]
    assert cited, answer_to_text(answer)
    return answer, cited[0]


def test_folder_ingest_keeps_pages_and_answers_cite_them(pdf_bot: Chatbot, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "decision.pdf").write_bytes(make_pdf(PAGES))
    (folder / "scan.pdf").write_bytes(make_pdf(PAGES, image_only=True))
    (folder / "truncated.pdf").write_bytes(make_pdf(PAGES)[:900])
    report = pdf_bot.ingest([folder])
    assert len(report.added) == 1, report.summary()
    failed = {Path(item).name: reason for item, reason in report.failed}
    assert set(failed) == {"scan.pdf", "truncated.pdf"}
    assert "run OCR" in failed["scan.pdf"]
    [article_id] = report.added

    # The stored chunks carry their page, and so does the article read back.
    chunks = [p for p in pdf_bot.store.iter_chunks() if p.article_id == article_id]
    assert {p.page for p in chunks} == {1, 2, 3}
    stored = pdf_bot.article(article_id)
    assert stored is not None and len(stored.pages) == 3
    for p in chunks:
        assert p.page is not None
        _, start, end = stored.page_spans()[p.page - 1]
        assert start <= p.char_start < p.char_end <= end

    answer, citation = _page_three_citation(pdf_bot)
    assert citation.page == 3
    assert citation.title == TITLE
    text = answer_to_text(answer)
    assert f"“{TITLE}” — unknown outlet, 2025-02-27 14:30 UTC, p. 3" in text
    # Every form a citation takes keeps its page.
    assert citation_from_dict(citation_to_dict(citation)) == citation
    assert citation_json(citation)["page"] == 3
    source = answer.sources[citation.n - 1]
    assert source_json(1, source)["page"] == 3
    assert passage_of(passage_row(source)).page == 3

    # Again: nothing changes, nothing is stored twice, the failures are named again.
    chunk_count = pdf_bot.store.count_chunks()
    again = pdf_bot.ingest([folder])
    assert again.unchanged == [article_id] and not again.added and len(again.failed) == 2
    assert pdf_bot.store.count_chunks() == chunk_count

    # Re-embedding (chatbot reindex) keeps the pages.
    pdf_bot.reindex()
    chunks = [p for p in pdf_bot.store.iter_chunks() if p.article_id == article_id]
    assert {p.page for p in chunks} == {1, 2, 3}


def test_upload_through_the_web_handlers_and_the_source_card_shows_the_page(
    pdf_bot: Chatbot, tmp_path: Path
) -> None:
    assert ".pdf" in hosting.UPLOAD_EXTENSIONS
    assert hosting.safe_upload_name("Decision 27 Feb.PDF") == "Decision_27_Feb.pdf"
    upload = tmp_path / "decision.pdf"
    upload.write_bytes(make_pdf(PAGES))
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted(make_pdf(PAGES), "secret"))
    rows, summary = ui.ingest_items(pdf_bot, [str(upload), str(locked)], "", None)
    by_item = {row[0]: (row[1], row[2]) for row in rows}
    assert by_item["locked.pdf"][0] == "failed"
    assert "password-protected" in by_item["locked.pdf"][1]
    assert [r[1] for r in rows].count("added") == 1, rows
    assert "1 added" in summary
    steps = list(ui.chat_turn(pdf_bot, None, "Where will the next board meeting take place?"))
    _, _, panel = steps[-1]
    assert '<span class="cb-page">p. 3</span>' in panel, panel
    quotes = [html.unescape(q) for q in re.findall(r'<mark class="cb-quote">(.*?)</mark>', panel)]
    assert any("Vladivostok" in q for q in quotes)


# --- URLs and the HTTP API ----------------------------------------------------------------------


@pytest.fixture
def pdf_server(changing_server: ChangingServer) -> str:
    """A real HTTP server on 127.0.0.1 serving PDFs as servers do (right and generic types)."""
    good = make_pdf(PAGES, created=None, title=None)
    for path, body, kind in (
        ("/reports/decision", good, "application/pdf"),
        ("/files/decision.pdf", good, "application/octet-stream"),
        ("/blob", good, "application/octet-stream"),  # no .pdf in the path: refused
        ("/reports/cut", good[: len(good) // 3], "application/pdf"),
    ):
        changing_server.set(path, Response(body=body, content_type=kind))
    return changing_server.url("")


def test_pdf_urls_load_and_bad_ones_fail_with_reason(pdf_server: str) -> None:
    urls = [f"{pdf_server}{p}" for p in ("/reports/decision", "/files/decision.pdf")]
    bad = [f"{pdf_server}{p}" for p in ("/blob", "/reports/cut")]
    results = load(*urls, *bad)
    for url, article in zip(urls, results[:2], strict=True):
        assert isinstance(article, Article), article
        assert article.url == url and len(article.pages) == 3
        assert article.title == "Monetary policy decision"  # no metadata: the first line
        assert article.source == "127.0.0.1"
    blob, cut = results[2:]
    assert isinstance(blob, LoadFailure) and blob.item == bad[0]
    assert "unsupported content type 'application/octet-stream'" in blob.reason
    assert isinstance(cut, LoadFailure) and cut.item == bad[1]
    assert cut.reason.startswith("not a readable PDF")


def test_api_ingests_uploaded_and_linked_pdfs_and_cites_pages(
    tmp_path: Path, embedder: Embedder, pdf_server: str
) -> None:
    key = "sk-test-pdf-key-0123456789"
    settings = settings_in(tmp_path, api_keys=key, allow_private_urls=True, api_rate_limit=0)
    bot = Chatbot(settings, embedder=embedder)
    running = service.serve(bot, "127.0.0.1", 0, block=False, ui=False, announce=lambda _: None)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=running.url, headers=headers, timeout=120) as http:
            other = make_pdf(["Harbour report\n" + PAGES[1]], title="Harbour report")
            files = [
                ("files", ("decision.pdf", make_pdf(PAGES), "application/pdf")),
                ("files", ("scan.pdf", make_pdf(PAGES, image_only=True), "application/pdf")),
                ("files", ("harbour.pdf", other, "application/pdf")),
            ]
            data = {"urls": [f"{pdf_server}/reports/decision"]}
            r = http.post("/api/ingest", files=files, data=data)
            assert r.status_code == 200, r.text
            report = r.json()
            assert len(report["added"]) == 3, report
            [failure] = report["failed"]
            assert failure["item"] == "scan.pdf" and "no text layer" in failure["reason"]
            completion = http.post(
                "/v1/chat/completions",
                json={
                    "model": "news-desk",
                    "messages": [{"role": "user", "content": "Where is the next board meeting?"}],
                },
            )
            assert completion.status_code == 200, completion.text
            body = completion.json()
            cited = [c for c in body["citations"] if "Vladivostok" in c["quote"]]
            assert cited and all(c["page"] == 3 for c in cited), body["citations"]
            assert all(s["page"] in (1, 2, 3) for s in body["sources"])
    finally:
        running.stop()
        bot.close()


def test_twenty_page_pdf_keeps_every_page(pdf_bot: Chatbot, tmp_path: Path) -> None:
    pages = [f"Page {i} of the annual report\n" + " ".join([PAGES[i % 3].split("\n")[1]] * 3)
             for i in range(1, 21)]  # fmt: skip
    path = tmp_path / "annual.pdf"
    path.write_bytes(make_pdf(pages))
    report = pdf_bot.ingest([path])
    assert report.ok and len(report.added) == 1
    assert {p.page for p in pdf_bot.store.iter_chunks()} == set(range(1, 21))
