"""Turn a file of the author's writing into plain text, one maintained library per format.

Every reader takes the file's bytes (already read once for hashing) and returns text whose
paragraphs are separated by blank lines. A file that cannot give prose raises `SkipFile` with a
reason a person can act on; the caller records it and carries on with the next file.
"""

from __future__ import annotations

import email
import email.policy
import io
import mailbox
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slmtui.ingest.normalize import strip_front_matter, strip_quoted_reply, strip_signature


class SkipFile(Exception):
    """This file gives no usable text; `reason` says why, in words for the Library screen."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExtractOptions:
    strip_email_quotes: bool = True


Reader = Callable[[bytes, Path, ExtractOptions], str]


def decode_text(data: bytes) -> str:
    """Bytes to str: UTF-8 (with or without BOM), UTF-16 with or without BOM, else the detected
    charset. UTF-8 whose only defect is a last character cut in half (a copy that stopped
    early) is read as UTF-8 without that character: `cut_last_character` tells when."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    utf16 = utf16_without_bom(data)
    if utf16:
        return data.decode(utf16, "replace")
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if cut_last_character(data):
        return data[: _last_lead(data)].decode("utf-8-sig")
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None or best.chaos > 0.3:
        raise SkipFile("not text in any known encoding")
    # On short Latin-script text the detector often prefers a Central European or Baltic code
    # page by a hair ("naïve" read as "naļve"); Windows-1252 is the commonest legacy encoding
    # for prose, so it wins whenever it reads almost as cleanly.
    western = next((m for m in results if "cp1252" in (m.encoding, *m.could_be_from_charset)), None)
    if western is not None and western.chaos <= best.chaos + 0.1:
        return str(western)
    return str(best)


def _last_lead(data: bytes) -> int:
    """Where the last UTF-8 character of `data` starts (its lead byte)."""
    index = len(data) - 1
    while index > 0 and len(data) - index < 4 and 0x80 <= data[index] < 0xC0:
        index -= 1
    return index


def cut_last_character(data: bytes) -> bool:
    """True when the bytes are UTF-8 but for a last character that was cut in half."""
    if not data or data[-1] < 0x80:
        return False
    lead = _last_lead(data)
    first = data[lead]
    needed = 2 if 0xC0 <= first < 0xE0 else 3 if 0xE0 <= first < 0xF0 else 4 if first >= 0xF0 else 0
    if not needed or len(data) - lead >= needed:
        return False
    try:
        data[:lead].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def utf16_without_bom(data: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" for UTF-16 text that lacks its byte order mark: mostly
    Latin or ASCII text puts a NUL in every other byte, on the same side."""
    head = data[:8192]
    if len(head) < 8 or b"\x00" not in head:
        return None
    even = head[0::2].count(0) / len(head[0::2])
    odd = head[1::2].count(0) / len(head[1::2])
    if odd > 0.3 and even < 0.02:
        encoding = "utf-16-le"
    elif even > 0.3 and odd < 0.02:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = data[: len(data) - len(data) % 2].decode(encoding)
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text[:4096])
    return encoding if printable >= 0.95 * min(len(text), 4096) else None


def read_plain(data: bytes, path: Path, options: ExtractOptions) -> str:
    return decode_text(data)


def read_markdown(data: bytes, path: Path, options: ExtractOptions) -> str:
    """Markdown's prose: headings, paragraphs, list items and quotes; code and markup dropped."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(strip_front_matter(decode_text(data)))
    blocks: list[str] = []
    in_list_item = 0
    for token in tokens:
        if token.type == "list_item_open":
            in_list_item += 1
        elif token.type == "list_item_close":
            in_list_item -= 1
        elif token.type == "inline":
            text = "".join(_markdown_inline(child) for child in token.children or [])
            if text.strip():
                blocks.append(f"- {text}" if in_list_item else text)
    return "\n\n".join(blocks)


def _markdown_inline(token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    if token.type in ("softbreak", "hardbreak"):
        return "\n"
    return ""


def read_rst(data: bytes, path: Path, options: ExtractOptions) -> str:
    """reStructuredText's titles and paragraphs, parsed by docutils with file access disabled."""
    from docutils import nodes
    from docutils.core import publish_doctree

    settings = {
        "report_level": 5,
        "halt_level": 5,
        "file_insertion_enabled": False,
        "raw_enabled": False,
        "warning_stream": io.StringIO(),
    }
    tree = publish_doctree(decode_text(data), settings_overrides=settings)

    def is_prose(node) -> bool:
        if not isinstance(node, nodes.title | nodes.paragraph):
            return False
        parent = node.parent
        while parent is not None:
            if isinstance(parent, nodes.system_message):
                return False
            parent = parent.parent
        return True

    return "\n\n".join(node.astext() for node in tree.findall(is_prose))


_HTML_DROP = ("script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template")
_HTML_BLOCKS = (
    "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li",
    "blockquote", "pre", "table", "tr", "td", "th", "dd", "dt", "figcaption",
)  # fmt: skip


def html_to_text(markup: str | bytes) -> str:
    """The visible prose of an HTML page; navigation, scripts and page furniture removed."""
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    for text in list(root.find_all(string=True)):
        if type(text) is not NavigableString:  # comments, doctype, CDATA
            text.extract()
        elif text.find_parent("pre") is None:
            text.replace_with(re.sub(r"\s+", " ", str(text)))
    for br in root.find_all("br"):
        br.replace_with("\n")
    for block in root.find_all(_HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    return root.get_text()


def read_html(data: bytes, path: Path, options: ExtractOptions) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes), not HTML")
    return html_to_text(data)


def read_docx(data: bytes, path: Path, options: ExtractOptions) -> str:
    """Body paragraphs and table cells of a Word document, in order."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SkipFile(f"not a readable .docx file ({exc.__class__.__name__})") from exc
    blocks = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.extend(cell.text for cell in row.cells)
    return "\n\n".join(blocks)


def read_odt(data: bytes, path: Path, options: ExtractOptions) -> str:
    """Headings and paragraphs of an OpenDocument text file."""
    from odf import teletype, text
    from odf.opendocument import load

    try:
        document = load(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SkipFile(f"not a readable .odt file ({exc.__class__.__name__})") from exc
    except Exception as exc:  # odfpy raises bare parser errors for damaged XML
        raise SkipFile(f"damaged .odt file ({exc.__class__.__name__})") from exc
    elements = document.text.getElementsByType(text.H) + document.text.getElementsByType(text.P)
    # getElementsByType groups by type; restore document order through the node positions.
    order = {id(node): index for index, node in enumerate(_walk(document.text))}
    elements.sort(key=lambda node: order.get(id(node), 0))
    return "\n\n".join(teletype.extractText(node) for node in elements)


def _walk(node):
    for child in node.childNodes:
        yield child
        yield from _walk(child)


def read_pdf(data: bytes, path: Path, options: ExtractOptions) -> str:
    """The text layer of each page; scanned PDFs without one are skipped with that reason."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF (no password support)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise SkipFile(f"not a readable PDF ({exc})") from exc
    text = "\n\n".join(pages)
    if pages and not text.strip():
        raise SkipFile("PDF has no text layer (a scan?)")
    return text


def message_text(message: email.message.Message, options: ExtractOptions) -> str:
    """The author's own words in one email: plain part preferred, quotes and signature cut."""
    body = (
        message.get_body(preferencelist=("plain", "html")) if hasattr(message, "get_body") else None
    )
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, UnicodeError) as exc:
        raise SkipFile(f"email body in an unknown encoding ({exc})") from exc
    if body.get_content_subtype() == "html":
        content = html_to_text(content)
    if options.strip_email_quotes:
        content = strip_signature(strip_quoted_reply(content))
    return content


def read_eml(data: bytes, path: Path, options: ExtractOptions) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not message.keys():
        raise SkipFile("not an email message (no headers)")
    return message_text(message, options)


def read_mbox(data: bytes, path: Path, options: ExtractOptions) -> str:
    """Every message in a mailbox file, each one's text a run of paragraphs."""
    if not data.startswith(b"From "):
        raise SkipFile("not an mbox file (it must start with a 'From ' line)")
    box = mailbox.mbox(str(path), factory=None, create=False)
    texts = []
    try:
        for key in box.iterkeys():
            # Undo the mailbox's '>From ' escaping before the body is read, so that an escaped
            # line is not mistaken for a quoted reply and cut.
            raw = re.sub(rb"(?m)^>(>*From )", rb"\1", box.get_bytes(key))
            message = email.message_from_bytes(raw, policy=email.policy.default)
            texts.append(message_text(message, options))
    finally:
        box.close()
    return "\n\n".join(texts)


READERS: dict[str, tuple[str, Reader]] = {
    ".txt": ("text", read_plain),
    ".text": ("text", read_plain),
    ".md": ("markdown", read_markdown),
    ".markdown": ("markdown", read_markdown),
    ".rst": ("rst", read_rst),
    ".html": ("html", read_html),
    ".htm": ("html", read_html),
    ".docx": ("docx", read_docx),
    ".odt": ("odt", read_odt),
    ".pdf": ("pdf", read_pdf),
    ".eml": ("email", read_eml),
    ".mbox": ("mbox", read_mbox),
}


def format_of(path: Path) -> str | None:
    """The format name for a path, or None when slmtui cannot read it."""
    if path.suffix.lower() in READERS:
        return READERS[path.suffix.lower()][0]
    if path.suffix == "":
        return "text"
    return None


def unsupported_reason(path: Path) -> str:
    """Why a file of this format is not read, naming the formats that are."""
    supported = " ".join(sorted(READERS))
    return f"unsupported format '{path.suffix.lower()}' (slmtui reads {supported})"


def extract(path: Path, data: bytes, options: ExtractOptions | None = None) -> str:
    """The raw text of one file (normalisation is the caller's next step)."""
    options = options or ExtractOptions()
    suffix = path.suffix.lower()
    if suffix not in READERS and suffix:
        raise SkipFile(unsupported_reason(path))
    reader = READERS[suffix][1] if suffix else read_plain
    return reader(data, path, options)
