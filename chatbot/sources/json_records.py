"""JSON Lines and JSON arrays read record by record, so a dump of any size loads in bounded memory.

Each record may be at most ``max_record_bytes``; a longer one is reported (by line or index)
and skipped, and the rest of the file still loads. Records are yielded as ``(name, value,
where)`` (``where``: "on line 3", "at index 3"), problems as a :class:`RecordProblem`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

_CHUNK = 1 << 20  # bytes read at a time from a JSON array
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class RecordProblem:
    name: str
    reason: str


Record = tuple[str, Any, str] | RecordProblem


def jsonl_records(
    handle: IO[bytes],
    name: str,
    max_record_bytes: int,
    decode: Callable[[bytes], str | RecordProblem] = lambda line: line.decode("utf-8"),
) -> Iterator[Record]:
    """One record per non-blank line of a JSON Lines file; ``decode`` turns a line's bytes into
    text (or says why it cannot)."""
    seen_any = False
    number = 0
    while True:
        line = handle.readline(max_record_bytes + 1)
        if not line:
            break
        number += 1
        item = f"{name}:{number}"
        if len(line) > max_record_bytes and not line.endswith(b"\n"):
            _skip_line(handle)
            seen_any = True
            yield RecordProblem(
                item,
                f"line {number} is over the limit of {max_record_bytes} bytes per record "
                "(raise CHATBOT_MAX_FILE_BYTES to allow it)",
            )
            continue
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte order mark
        if not line.strip():
            continue
        seen_any = True
        try:
            text = decode(line)
        except UnicodeDecodeError:
            text = RecordProblem(item, "not UTF-8 text")
        if isinstance(text, RecordProblem):
            yield RecordProblem(item, f"line {number}: {text.reason}")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RecordProblem(item, f"invalid JSON on line {number}: {exc}")
            continue
        except RecursionError:
            yield RecordProblem(item, f"JSON on line {number} is nested too deeply")
            continue
        yield item, value, f"on line {number}"
    if not seen_any:
        yield RecordProblem(name, "file is empty")


def _skip_line(handle: IO[bytes]) -> None:
    while True:
        rest = handle.readline(_CHUNK)
        if not rest or rest.endswith(b"\n"):
            return


def json_array_records(handle: IO[bytes], name: str, max_record_bytes: int) -> Iterator[Record]:
    """The elements of a top-level JSON array, ``name[0]``, ``name[1]``, ... A file that is not
    one array is reported: streaming reads arrays only (JSON Lines has no such limit)."""
    reader = _TextWindow(handle)
    if reader.skip_whitespace() != "[":
        yield RecordProblem(
            name,
            "a JSON file this large must be one array of article objects (or use JSON Lines, "
            "one object per line); raise CHATBOT_MAX_FILE_BYTES to read it whole",
        )
        return
    reader.advance(1)
    decoder = json.JSONDecoder()
    index = 0
    while True:
        head = reader.skip_whitespace()
        if head == "]":
            if index == 0:
                yield RecordProblem(name, "JSON list is empty")
            return
        if head == "":
            yield RecordProblem(name, f"the JSON array ends early, after {index} elements")
            return
        if index and head == ",":
            reader.advance(1)
            head = reader.skip_whitespace()
        item = f"{name}[{index}]"
        while True:
            try:
                value, end = decoder.raw_decode(reader.text, reader.pos)
            except json.JSONDecodeError as exc:
                pending = len(reader.text) - reader.pos
                if pending > max_record_bytes:
                    yield RecordProblem(
                        item,
                        f"element {index} is over the limit of {max_record_bytes} bytes per "
                        "record, or not valid JSON; the rest of the array cannot be read "
                        "(raise CHATBOT_MAX_FILE_BYTES to allow it)",
                    )
                    return
                if not reader.read_more():
                    yield RecordProblem(item, f"invalid JSON in element {index}: {exc}")
                    return
                continue
            except RecursionError:
                yield RecordProblem(item, f"element {index} is nested too deeply")
                return
            break
        reader.pos = end
        yield item, value, f"at index {index}"
        index += 1


class _TextWindow:
    """Decoded text of a binary stream, read on demand; consumed text is dropped."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self.text = ""
        self.pos = 0
        self._eof = False

    def read_more(self) -> bool:
        """Read another piece; False at the end of the stream."""
        if self._eof:
            return False
        data = self._handle.read(_CHUNK)
        self._eof = not data
        self.text = self.text[self.pos :] + self._decoder.decode(data, final=self._eof)
        self.pos = 0
        return bool(data)

    def skip_whitespace(self) -> str:
        """The next non-blank character ('' at the end), without consuming it."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.read_more() and self.pos >= len(self.text):
                return ""

    def advance(self, count: int) -> None:
        self.pos += count
