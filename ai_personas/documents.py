"""Turning uploaded documents into plain text and overlapping chunks."""

from __future__ import annotations

import csv
import html
import io
import re
from html.parser import HTMLParser

CONTENT_TYPES = ("txt", "md", "html", "csv", "pdf")


class DocumentUnreadable(Exception):
    pass


class _TextOfHtml(HTMLParser):
    SKIP = {"script", "style", "head", "noscript"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def content_type_for(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    extension = {"markdown": "md", "htm": "html", "text": "txt"}.get(extension, extension)
    if extension not in CONTENT_TYPES:
        raise DocumentUnreadable(
            f"Unsupported file type {extension or '(none)'}: use {', '.join(CONTENT_TYPES)}."
        )
    return extension


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _markdown_text(text: str) -> str:
    text = re.sub(r"```.*?\n", "", text)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)
    return re.sub(r"[*_`]{1,3}", "", text)


def _csv_sections(text: str) -> list[str]:
    """A FAQ sheet: one section per row, 'Q: … A: …' when it has question/answer columns."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    question = next((i for i, h in enumerate(header) if h in ("question", "q", "pregunta")), None)
    answer = next((i for i, h in enumerate(header) if h in ("answer", "a", "respuesta")), None)
    if question is not None and answer is not None:
        return [
            f"Q: {row[question].strip()}\nA: {row[answer].strip()}"
            for row in rows[1:]
            if len(row) > max(question, answer) and row[question].strip()
        ]
    return [
        " | ".join(cell.strip() for cell in row if cell.strip())
        for row in rows
        if any(c.strip() for c in row)
    ]


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError) as exc:
        raise DocumentUnreadable(f"The PDF could not be read: {exc}") from exc


def document_sections(*, data: bytes, content_type: str) -> list[str]:
    """The document's text as sections; chunks never straddle two CSV rows."""
    if content_type == "pdf":
        sections = [_pdf_text(data)]
    elif content_type == "csv":
        sections = _csv_sections(_decode(data))
    elif content_type == "html":
        parser = _TextOfHtml()
        parser.feed(_decode(data))
        sections = [html.unescape("".join(parser.parts))]
    elif content_type == "md":
        sections = [_markdown_text(_decode(data))]
    else:
        sections = [_decode(data)]
    sections = [re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n\s*", "\n\n", s)).strip() for s in sections]
    sections = [s for s in sections if s]
    if not sections:
        raise DocumentUnreadable("The document has no text.")
    return sections


def chunk_text(text: str, *, size: int, overlap: int) -> list[str]:
    """Windows of about `size` characters, each starting `overlap` characters before the previous one
    ended, cut at a paragraph, sentence or word boundary when one is near."""
    overlap = min(overlap, size // 2)
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            cut = max(window.rfind("\n\n"), window.rfind(". "), window.rfind("? "), window.rfind("! "))
            if cut < size // 2:
                cut = window.rfind(" ")
            if cut >= size // 2:
                end = start + cut + 1
        chunk = text[start:end].strip()
        if chunk:
            chunks.append(chunk)
        if end >= len(text):
            break
        next_start = end - overlap
        space = text.find(" ", next_start, end)
        start = space + 1 if 0 <= space < end else next_start
    return chunks


def document_chunks(*, data: bytes, content_type: str, size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    for section in document_sections(data=data, content_type=content_type):
        chunks.extend(chunk_text(section, size=size, overlap=overlap))
    return chunks
