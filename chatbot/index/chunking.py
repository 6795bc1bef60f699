"""Article -> token-bounded chunks that keep their exact character span in the article text."""

from __future__ import annotations

from chatbot.common.text import sentence_spans
from chatbot.common.tokens import cl100k
from chatbot.vocabulary import Article, Chunk

# How chunk vectors are made, recorded on the store: "title-1" = the article's title on a line of
# its own, then the chunk (a contextual header: a chunk that only says "he" or "the company" is
# found by the names in the title). Stores written before have no record ("plain").
CHUNK_FORMAT = "title-1"
# How pages became articles, recorded on the store: "entries-1" = a live blog is one article per
# entry, at its own time (chatbot.sources.live_blogs). Stores written before have no record
# ("pages": a live blog is one article); `chatbot reindex` splits their live blogs.
TEXT_FORMAT = "entries-1"


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a chunk; the stored and quoted text stays the chunk itself."""
    title = " ".join(title.split())
    return f"{title}\n{text}" if title else text


class Chunker:
    """Packs whole sentences into chunks of at most ``size`` tokens, overlapping by whole
    sentences of up to ``overlap`` tokens. A sentence longer than ``size`` is cut on token
    boundaries (the only case where a chunk does not end at a sentence end)."""

    def __init__(self, size: int = 256, overlap: int = 32) -> None:
        if overlap >= size:
            raise ValueError("overlap must be smaller than size")
        self.size = size
        self.overlap = overlap

    def chunk(self, article: Article) -> list[Chunk]:
        chunks: list[Chunk] = []
        if not article.pages:
            self._pack(article, self._pieces(article.text), None, chunks)
            return chunks
        # A paged document (PDF) is chunked page by page: a chunk never spans two pages, so that
        # every citation names the one page its quote is on. Pages without text get no chunk.
        for page, start, end in article.page_spans():
            self._pack(article, self._pieces(article.text, start, end), page, chunks)
        return chunks

    def _pack(
        self,
        article: Article,
        pieces: list[tuple[int, int, int]],
        page: int | None,
        chunks: list[Chunk],
    ) -> None:
        """Append the chunks that ``pieces`` (sentences of one page, or of all) pack into."""
        text = article.text
        i = 0
        while i < len(pieces):
            total, j = 0, i
            while j < len(pieces) and (j == i or total + pieces[j][2] <= self.size):
                total += pieces[j][2]
                j += 1
            start, end = pieces[i][0], pieces[j - 1][1]
            chunks.append(Chunk(article.id, len(chunks), text[start:end], start, end, page))
            if j >= len(pieces):
                break
            # Step back over trailing sentences that fit in the overlap, but always advance.
            back, k = 0, j
            while k - 1 > i and back + pieces[k - 1][2] <= self.overlap:
                back += pieces[k - 1][2]
                k -= 1
            i = k

    def _pieces(self, text: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int, int]]:
        """(start, end, tokens) per sentence of ``text[lo:hi]``; over-long sentences split into
        token windows."""
        enc = cl100k()
        pieces: list[tuple[int, int, int]] = []
        for start, end in sentence_spans(text, lo, hi):
            tokens = enc.encode(text[start:end], disallowed_special=())
            if len(tokens) <= self.size:
                pieces.append((start, end, len(tokens)))
                continue
            offset = start
            for w in range(0, len(tokens), self.size):
                window = enc.decode(tokens[w : w + self.size])
                # decode() may not round-trip byte-split characters; re-anchor on the text.
                stop = min(end, offset + len(window)) if w + self.size < len(tokens) else end
                if stop > offset:
                    pieces.append((offset, stop, len(tokens[w : w + self.size])))
                offset = stop
        return pieces
