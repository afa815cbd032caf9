"""Plain-text clean-up shared by every format."""

from __future__ import annotations

import unicodedata

import pytest

from slmtui.ingest.normalize import (
    comparison_key,
    normalize_text,
    strip_front_matter,
    strip_quoted_reply,
    strip_signature,
)

LONG_A = "This line is long enough to have been hard-wrapped at a fixed"
LONG_B = "column by the editor that the author used, many years ago, and"


def test_nfc():
    decomposed = "Cafe\u0301 de\u0301ja\u0300"
    assert len(decomposed) == 12
    result = normalize_text(decomposed)
    assert result == "Café déjà"
    assert result == unicodedata.normalize("NFC", result)
    assert "\u0301" not in result


def test_line_endings():
    assert normalize_text("One.\r\n\r\nTwo.\rThree.\n") == "One.\n\nTwo.\nThree."


def test_zero_width_characters_removed():
    assert normalize_text("\ufeffzero\u200bwidth\u200c joi\u200dner\u2060s") == "zerowidth joiners"


def test_non_breaking_and_odd_spaces():
    text = "a\u00a0b\u202fc\u2009d\u3000e \t  f\u00a0\u00a0g"
    assert normalize_text(text) == "a b c d e f g"


def test_trailing_and_leading_spaces_trimmed():
    assert normalize_text("   indented line   \n\n\n   ") == "indented line"


def test_hard_wrapped_lines_joined():
    assert len(LONG_A) >= 50 and len(LONG_B) >= 50
    text = f"{LONG_A}\n{LONG_B}\nthen it ends."
    assert normalize_text(text) == f"{LONG_A} {LONG_B} then it ends."


def test_short_lines_stay_separate():
    verse = "Roses are red,\nViolets are blue,\nSugar is sweet."
    assert normalize_text(verse) == verse
    address = "12 High Street\nEdinburgh\nEH1 1AA"
    assert normalize_text(address) == address


def test_list_items_stay_separate_after_long_line():
    text = f"{LONG_A}\n- first item\n* second item\n+ third\n• fourth\n1. one\n2) two"
    assert normalize_text(text) == text


def test_long_line_then_short_line_joined_only_once():
    text = f"Short heading\n{LONG_A}\nend of it.\nNext short line"
    assert normalize_text(text) == f"Short heading\n{LONG_A} end of it.\nNext short line"


def test_short_line_after_wrapped_run_keeps_following_breaks():
    letter = (
        "Dear Ann, I have been meaning to write to you for ages and finally have\n"
        "a moment.\n"
        "Love,\n"
        "Bob"
    )
    assert normalize_text(letter) == (
        "Dear Ann, I have been meaning to write to you for ages and finally have a moment.\n"
        "Love,\n"
        "Bob"
    )


def test_blank_lines_collapse():
    text = "One.\n\n\n\nTwo.\n \t \n  \nThree.\n\n\n"
    assert normalize_text(text) == "One.\n\nTwo.\n\nThree."


def test_paragraphs_not_joined_across_blank_line():
    text = f"{LONG_A}\n\n{LONG_B}"
    assert normalize_text(text) == text


def test_empty():
    assert normalize_text("") == ""
    assert normalize_text(" \n\n\u200b\n") == ""


# --- front matter ----------------------------------------------------------------------------


def test_strip_yaml_front_matter():
    text = "---\ntitle: Post\ndate: 2024-01-01\n---\n# Heading\n\nBody.\n"
    assert strip_front_matter(text) == "# Heading\n\nBody.\n"


def test_strip_yaml_front_matter_with_dots_and_crlf():
    assert strip_front_matter("---\r\ntitle: x\r\n...\r\nBody.") == "Body."


def test_strip_toml_front_matter():
    text = '+++\ntitle = "Post"\ndraft = false\n+++\nBody.\n'
    assert strip_front_matter(text) == "Body.\n"


def test_strip_front_matter_after_bom():
    assert strip_front_matter("\ufeff---\na: 1\n---\nBody.") == "Body."


@pytest.mark.parametrize(
    "text",
    [
        "No front matter here.\n\n---\nnot: front matter\n---\n",
        "Intro line\n---\nkey: value\n---\n",
        "---\nunterminated: true\nBody.",
    ],
)
def test_front_matter_only_at_top(text):
    assert strip_front_matter(text) == text


def test_horizontal_rule_between_paragraphs_kept():
    text = "Para one.\n\n---\n\nPara two.\n"
    assert strip_front_matter(text) == text


# --- email parts -----------------------------------------------------------------------------


def test_strip_quoted_reply():
    text = (
        "Yes, Tuesday is fine.\n"
        "\n"
        "On Mon, 3 Jun 2024 at 10:00, Bob <bob@example.com> wrote:\n"
        "> Does Tuesday work?\n"
        ">> Earlier quote.\n"
        "  > indented quote\n"
        "\n"
        "Thanks."
    )
    assert strip_quoted_reply(text) == "Yes, Tuesday is fine.\n\n\nThanks."


def test_strip_quoted_reply_other_attributions():
    text = "Agreed.\nBob Smith <bob@example.com> a écrit:\n> Bonjour\n"
    assert strip_quoted_reply(text) == "Agreed.\n"


def test_attribution_like_line_without_quote_kept():
    text = "On Monday I wrote:\nthe whole chapter again."
    assert strip_quoted_reply(text) == text


def test_strip_quoted_reply_cuts_original_message():
    text = "My answer.\n\n-----Original Message-----\nFrom: Bob\nSubject: Question\n\nOld text."
    assert strip_quoted_reply(text) == "My answer.\n"


def test_strip_quoted_reply_cuts_forwarded_message():
    text = "FYI.\n---------- Forwarded message ---------\nFrom: Bob\n\nForwarded text."
    assert strip_quoted_reply(text) == "FYI."


def test_strip_quoted_reply_crlf():
    assert strip_quoted_reply("Mine.\r\n> theirs\r\nMore.") == "Mine.\nMore."


def test_strip_signature():
    text = "Body of the message.\n\n-- \nAnn Example\nSent from my phone"
    assert strip_signature(text) == "Body of the message.\n"


def test_strip_signature_uses_last_separator():
    text = "Intro.\n--\nMiddle.\n-- \nSignature"
    assert strip_signature(text) == "Intro.\n--\nMiddle."


def test_strip_signature_ignores_dashes_in_text():
    text = "An em-dash -- inside a line.\n--- three dashes\n---\nEnd."
    assert strip_signature(text) == text


# --- duplicate key ---------------------------------------------------------------------------


def test_comparison_key():
    assert comparison_key("  Hello,\n\tWORLD  ") == "hello, world"
    assert comparison_key("Straße") == comparison_key("STRASSE")
    assert comparison_key("One two") == comparison_key("one\n\ntwo")
    assert comparison_key("one two") != comparison_key("onetwo")
    assert comparison_key("") == ""
