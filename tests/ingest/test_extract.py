"""Extractors, one real file of each format built in the test's own folder."""

from __future__ import annotations

import email.message
import io
import mailbox
import os
from pathlib import Path

import pytest

from slmtui.ingest.extract import ExtractOptions, SkipFile, extract, format_of
from slmtui.ingest.normalize import normalize_text


def write(tmp_path: Path, name: str, data: bytes) -> tuple[Path, bytes]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, path.read_bytes()


def run(tmp_path: Path, name: str, data: bytes, **options) -> str:
    path, data = write(tmp_path, name, data)
    return extract(path, data, ExtractOptions(**options))


# --- plain text ------------------------------------------------------------------------------

PROSE = "Café crème, naïve déjà vu.\n\nSecond paragraph."


def test_txt_utf8(tmp_path):
    assert run(tmp_path, "a.txt", PROSE.encode("utf-8")) == PROSE


def test_txt_utf8_with_bom(tmp_path):
    assert run(tmp_path, "a.txt", PROSE.encode("utf-8-sig")) == PROSE


def test_txt_utf16_with_bom(tmp_path):
    data = PROSE.encode("utf-16")  # little-endian with BOM
    assert data.startswith(b"\xff\xfe")
    assert run(tmp_path, "a.txt", data) == PROSE
    assert run(tmp_path, "b.txt", b"\xfe\xff" + PROSE.encode("utf-16-be")) == PROSE


@pytest.mark.parametrize(
    "text",
    [
        "Café naïve résumé — déjà vu, garçon. This is ordinary English prose in Windows-1252.",
        "Le café était fermé, alors nous sommes allés à la crêperie où l'on sert des galettes.",
        "Über den Wolken muß die Freiheit wohl grenzenlos sein, sagte der Großvater.",
        "The naïve café served crème brûlée to the fiancée.",
    ],
)
def test_txt_cp1252_detected(tmp_path, text):
    data = text.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert run(tmp_path, "a.txt", data) == text


def test_txt_latin1_detected(tmp_path):
    text = "Mañana iremos a la montaña con los niños, si el señor lo permite."
    assert run(tmp_path, "a.txt", text.encode("latin-1")) == text


def test_txt_other_legacy_code_pages_still_detected(tmp_path):
    polish = "Zażółć gęślą jaźń. Pójdźmy w przyszłym tygodniu do kina na nowy polski film."
    russian = "Съешь же ещё этих мягких французских булок, да выпей чаю. Это обычный русский текст."
    assert run(tmp_path, "pl.txt", polish.encode("cp1250")) == polish
    assert run(tmp_path, "ru.txt", russian.encode("cp1251")) == russian


def test_file_without_extension_is_text(tmp_path):
    assert run(tmp_path, "README", b"Just words.") == "Just words."


def test_txt_binary_with_nul_bytes_skipped(tmp_path):
    with pytest.raises(SkipFile, match="NUL"):
        run(tmp_path, "a.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64))


# --- Markdown --------------------------------------------------------------------------------


def test_markdown(tmp_path):
    source = """---
title: A post
tags: [one, two]
---
# Heading One

A *very* **bold** paragraph with `inline code` and a [link](https://example.com).

- first item
- second _item_

```python
print("never in the dataset")
```

> A quoted thought.
"""
    assert run(tmp_path, "post.md", source.encode()) == (
        "Heading One\n\n"
        "A very bold paragraph with inline code and a link.\n\n"
        "- first item\n\n"
        "- second item\n\n"
        "A quoted thought."
    )


def test_markdown_toml_front_matter(tmp_path):
    source = '+++\ntitle = "A post"\n+++\nBody text.\n'
    assert run(tmp_path, "post.markdown", source.encode()) == "Body text."


# --- reStructuredText ------------------------------------------------------------------------


def test_rst(tmp_path):
    source = """My Title
========

First paragraph
of text.

Second paragraph with *emphasis*.

.. unknown-directive:: boom

   Directive body.

Badly underlined title
=====

Third paragraph, with a `link <https://example.com>`_.
"""
    text = run(tmp_path, "doc.rst", source.encode())
    assert text == (
        "My Title\n\n"
        "First paragraph\nof text.\n\n"
        "Second paragraph with emphasis.\n\n"
        "Badly underlined title\n\n"
        "Third paragraph, with a link."
    )
    assert "unknown-directive" not in text
    assert "Unknown" not in text
    assert "too short" not in text


def test_rst_include_is_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET CONTENT")
    text = run(tmp_path, "doc.rst", f"Intro.\n\n.. include:: {secret}\n".encode())
    assert text == "Intro."


# --- HTML ------------------------------------------------------------------------------------


def test_html(tmp_path):
    page = b"""<!DOCTYPE html>
<html><head><title>Site</title><style>p { color: red }</style>
<script>var tracking = 1;</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<header>Site banner</header>
<p>Sidebar text outside the article.</p>
<article>
  <h1>Title</h1>
  <p>Some <em>emphasised</em>
     words here.</p>
  <!-- a comment -->
  <p>Line one<br>Line two</p>
</article>
<footer>Copyright 2024</footer>
</body></html>"""
    raw = run(tmp_path, "page.html", page)
    assert normalize_text(raw) == "Title\n\nSome emphasised words here.\n\nLine one\nLine two"
    for absent in ("Home", "banner", "tracking", "color", "Sidebar", "Copyright", "comment"):
        assert absent not in raw


def test_html_without_article_uses_body(tmp_path):
    page = b"<html><body><nav>Menu</nav><div>First block</div><p>Second<br/>line</p></body></html>"
    assert normalize_text(run(tmp_path, "page.htm", page)) == "First block\n\nSecond\nline"


def test_html_binary_skipped(tmp_path):
    with pytest.raises(SkipFile, match="NUL"):
        run(tmp_path, "page.html", b"<html>\x00\x00\x00</html>")


# --- Word ------------------------------------------------------------------------------------


def test_docx(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Report heading", level=1)
    document.add_paragraph("First paragraph of the report.")
    document.add_paragraph("Second paragraph, with ").add_run("bold words").bold = True
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Cell A1"
    table.cell(0, 1).text = "Cell B1"
    table.cell(1, 0).text = "Cell A2"
    table.cell(1, 1).text = "Cell B2"
    buffer = io.BytesIO()
    document.save(buffer)

    assert run(tmp_path, "report.docx", buffer.getvalue()) == (
        "Report heading\n\n"
        "First paragraph of the report.\n\n"
        "Second paragraph, with bold words\n\n"
        "Cell A1\n\nCell B1\n\nCell A2\n\nCell B2"
    )


def test_docx_corrupt_skipped(tmp_path):
    with pytest.raises(SkipFile, match=r"not a readable \.docx"):
        run(tmp_path, "broken.docx", os.urandom(2048))


def test_docx_zip_without_document_skipped(tmp_path):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    with pytest.raises(SkipFile):
        run(tmp_path, "empty.docx", buffer.getvalue())


# --- PDF -------------------------------------------------------------------------------------


def make_pdf(*pages: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_pdf(tmp_path):
    text = run(tmp_path, "doc.pdf", make_pdf("Hello from the first page.", "And the second page."))
    assert normalize_text(text) == "Hello from the first page.\n\nAnd the second page."


def test_pdf_without_text_layer_skipped(tmp_path):
    from fpdf import FPDF
    from PIL import Image

    scan = Image.new("RGB", (200, 100), "white")
    for x in range(20, 180):
        scan.putpixel((x, 50), (0, 0, 0))
    image = io.BytesIO()
    scan.save(image, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=150)
    with pytest.raises(SkipFile, match="no text layer"):
        run(tmp_path, "scan.pdf", bytes(pdf.output()))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n" + b"this is not really a pdf at all\n" * 20,
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog",
        b"\x00\x01\x02 random bytes",
    ],
    ids=["garbage-body", "truncated", "binary"],
)
def test_pdf_corrupt_skipped(tmp_path, data):
    with pytest.raises(SkipFile):
        run(tmp_path, "broken.pdf", data)


def test_pdf_truncated_real_file_skipped_or_read(tmp_path):
    data = make_pdf("Some words that will be cut off.")
    try:
        run(tmp_path, "cut.pdf", data[: len(data) // 3])
    except SkipFile as skip:
        assert skip.reason


# --- OpenDocument ----------------------------------------------------------------------------


def test_odt(tmp_path):
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P, Span

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Chapter one"))
    document.text.addElement(P(text="The first paragraph."))
    paragraph = P(text="The second ")
    paragraph.addElement(Span(text="paragraph"))
    paragraph.addText(", with a span.")
    document.text.addElement(paragraph)
    document.text.addElement(H(outlinelevel=2, text="Chapter two"))
    document.text.addElement(P(text="The last paragraph."))
    buffer = io.BytesIO()
    document.write(buffer)

    assert run(tmp_path, "book.odt", buffer.getvalue()) == (
        "Chapter one\n\n"
        "The first paragraph.\n\n"
        "The second paragraph, with a span.\n\n"
        "Chapter two\n\n"
        "The last paragraph."
    )


def test_odt_corrupt_skipped(tmp_path):
    with pytest.raises(SkipFile):
        run(tmp_path, "broken.odt", os.urandom(1024))


# --- email -----------------------------------------------------------------------------------


def make_email(body: str, subtype: str = "plain", subject: str = "Hello") -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "Ann <ann@example.com>"
    message["To"] = "bob@example.com"
    message["Subject"] = subject
    message.set_content(body, subtype=subtype)
    return bytes(message)


REPLY = """Thanks, that works for me.
See you on Tuesday.

On Mon, 3 Jun 2024 at 10:00, Bob <bob@example.com> wrote:
> Does Tuesday work?
> We could meet at noon.

-- 
Ann
Sent from my phone
"""  # noqa: W291 (the signature separator is '-- ' with a trailing space)


def test_eml_plain(tmp_path):
    body = "Dear Bob,\n\nHere is the plan.\n"
    assert run(tmp_path, "a.eml", make_email(body)) == body


def test_eml_html_only(tmp_path):
    html = "<html><body><p>Hello <b>Bob</b>,</p><p>See you soon.</p></body></html>"
    assert normalize_text(run(tmp_path, "a.eml", make_email(html, "html"))) == (
        "Hello Bob,\n\nSee you soon."
    )


def test_eml_prefers_plain_part(tmp_path):
    message = email.message.EmailMessage()
    message["From"] = "ann@example.com"
    message["Subject"] = "Both"
    message.set_content("Plain words.\n")
    message.add_alternative("<p>HTML words.</p>", subtype="html")
    assert run(tmp_path, "a.eml", bytes(message)) == "Plain words.\n"


def test_eml_quotes_and_signature_stripped(tmp_path):
    text = run(tmp_path, "a.eml", make_email(REPLY), strip_email_quotes=True)
    assert normalize_text(text) == "Thanks, that works for me.\nSee you on Tuesday."


def test_eml_quotes_and_signature_kept(tmp_path):
    text = run(tmp_path, "a.eml", make_email(REPLY), strip_email_quotes=False)
    assert text == REPLY


def test_eml_without_headers_skipped(tmp_path):
    with pytest.raises(SkipFile, match="no headers"):
        run(tmp_path, "a.eml", b"")


def test_mbox(tmp_path):
    path = tmp_path / "mail.mbox"
    box = mailbox.mbox(str(path))
    bodies = [
        "First message body.\n",
        "Second message.\nFrom the start of a line, this was escaped.\n",
        "Third message.\n",
    ]
    for index, body in enumerate(bodies):
        box.add(make_email(body, subject=f"Message {index}"))
    box.close()
    data = path.read_bytes()
    assert b"\n>From the start" in data  # the mailbox escaped it on disk

    for strip in (True, False):
        text = extract(path, data, ExtractOptions(strip_email_quotes=strip))
        assert normalize_text(text) == (
            "First message body.\n\n"
            "Second message.\nFrom the start of a line, this was escaped.\n\n"
            "Third message."
        )


def test_mbox_strips_quotes_per_message(tmp_path):
    path = tmp_path / "mail.mbox"
    box = mailbox.mbox(str(path))
    box.add(make_email(REPLY))
    box.add(make_email("Another note.\n"))
    box.close()
    text = extract(path, path.read_bytes())
    assert normalize_text(text) == (
        "Thanks, that works for me.\nSee you on Tuesday.\n\nAnother note."
    )


def test_mbox_not_starting_with_from_skipped(tmp_path):
    with pytest.raises(SkipFile, match="not an mbox"):
        run(tmp_path, "mail.mbox", b"Subject: hi\n\nbody\n")


# --- formats ---------------------------------------------------------------------------------


def test_unknown_extension_skipped(tmp_path):
    with pytest.raises(SkipFile, match=r"'\.xyz'") as caught:
        run(tmp_path, "notes.xyz", b"words")
    assert "unsupported format" in caught.value.reason
    assert ".docx" in caught.value.reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "text"),
        ("a.TEXT", "text"),
        ("README", "text"),
        ("a.md", "markdown"),
        ("a.Markdown", "markdown"),
        ("a.rst", "rst"),
        ("a.html", "html"),
        ("a.HTM", "html"),
        ("a.docx", "docx"),
        ("a.odt", "odt"),
        ("a.pdf", "pdf"),
        ("a.eml", "email"),
        ("a.mbox", "mbox"),
        ("a.doc", None),
        ("a.png", None),
        ("archive.tar.gz", None),
    ],
)
def test_format_of(name, expected):
    assert format_of(Path(name)) == expected


def test_extension_case_insensitive(tmp_path):
    assert run(tmp_path, "NOTES.TXT", b"Loud name.") == "Loud name."
