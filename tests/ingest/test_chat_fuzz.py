"""Property tests: the chat readers fed mutated, truncated and random exports.

Whatever the bytes, a reader returns "not a chat", a chat, or a skip with a reason; it never
raises anything else. A text the WhatsApp detection calls a chat is never handed back to be
read as writing, and at ingest every skipped file carries a reason and no such file becomes
prose."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmtui.config import with_changes
from slmtui.ingest.chats import read_chats, whatsapp
from slmtui.ingest.extract import SkipFile, decode_text
from slmtui.ingest.ingestor import Ingestor
from slmtui.workspace import Workspace
from tests.chat_exports import (
    SYSTEM,
    discord_channel,
    messenger_thread,
    slack_files,
    telegram_chat,
    whatsapp_text,
    zipped,
)
from tests.ingest.test_whatsapp import LAYOUTS, START

_WORDS = st.lists(
    st.sampled_from(
        [
            *"abcdefghij XYZ:-–[]<>.,/0123456789\n\t«»\"'",
            *["👩🏻\u200d⚖️", "\u200e", "\u202f", "é", "ё", "ی\u200c", "12/03/2026, 14:05 - "],
        ]
    ),
    max_size=40,
).map("".join)
_SENDERS = st.sampled_from(["Ana", "Elena", "Bob Lima", "Иван", "李", "", "x: y"])
_SPECIAL = st.sampled_from(
    ["<Media omitted>", "This message was deleted", "Missed voice call", "‹Без медиафайлов>",
     "IMG-20240305-WA0001.jpg (file attached)", "null", "Voice call, 3 min"]
)  # fmt: skip


@st.composite
def whatsapp_exports(draw) -> bytes:
    layout, _ = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))]
    count = draw(st.integers(min_value=0, max_value=40))
    gaps = draw(st.lists(st.integers(0, 5 * 86400), min_size=count, max_size=count))
    messages, when = [], START
    for gap in gaps:
        when += gap
        sender = draw(st.one_of(_SENDERS, st.none()))
        text = draw(st.one_of(_WORDS, _SPECIAL))
        messages.append((when, SYSTEM if sender is None else sender, text))
    return whatsapp_text(messages, layout)


@st.composite
def json_exports(draw) -> tuple[str, bytes]:
    messages = [
        (START + i * 60, draw(_SENDERS) or "Ana", draw(_WORDS))
        for i in range(draw(st.integers(0, 12)))
    ]
    kind = draw(st.sampled_from(["telegram", "discord", "messenger", "slack"]))
    if kind == "telegram":
        return "result.json", json.dumps(telegram_chat(messages, name="Ana", chat_id=1)).encode()
    if kind == "discord":
        return "Guild - general [1].json", discord_channel(messages)
    if kind == "messenger":
        return "inbox/ana_1/message_1.json", messenger_thread(messages, title="Ana")
    users = {m[1]: m[1] for m in messages} or {"Ana": "Ana"}
    return "Slack export.zip", zipped(slack_files({"general": messages}, users))


@st.composite
def mutated(draw, data: bytes) -> bytes:
    how = draw(st.sampled_from(["keep", "truncate", "overwrite", "insert", "lines", "utf16"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "overwrite" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 8 :]
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(max_size=16)) + data[at:]
    if how == "lines":
        lines = data.split(b"\n")
        return b"\n".join(draw(st.permutations(lines))[: draw(st.integers(0, len(lines)))])
    if how == "utf16":
        try:
            return data.decode("utf-8").encode(draw(st.sampled_from(["utf-16", "utf-16-le"])))
        except UnicodeDecodeError:
            return data
    return data


@st.composite
def exports(draw) -> tuple[str, bytes]:
    source = draw(st.sampled_from(["whatsapp", "json", "random"]))
    if source == "whatsapp":
        name = draw(st.sampled_from(["WhatsApp Chat with Ana.txt", "_chat.txt", "notes"]))
        return name, draw(mutated(draw(whatsapp_exports())))
    if source == "json":
        name, data = draw(json_exports())
        return name, draw(mutated(data))
    name = draw(st.sampled_from(["x.txt", "x.json", "x.zip"]))
    return name, draw(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))


def _read(name: str, data: bytes):
    """read_chats, with every chat read through: None, the export, or the SkipFile."""
    try:
        export = read_chats(Path(name), data)
    except SkipFile as exc:
        return exc
    if export is not None:
        export.chats = list(export.chats)
    return export


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports())
def test_readers_never_raise_and_every_skip_has_a_reason(case):
    name, data = case
    result = _read(name, data)
    if isinstance(result, SkipFile):
        assert result.reason.strip()
        return
    if result is None:
        if name.endswith(".txt") or "." not in name:
            # Nothing that detection calls a chat is handed back to be read as writing.
            try:
                text = decode_text(data)
            except SkipFile:
                return
            assert not whatsapp.survey(text.splitlines()).is_chat
        return
    for chat in result.chats:
        for message in chat.messages:
            assert message.text.strip() and message.sender.strip()
            assert chat.format != "whatsapp" or "\u200e" not in message.text
            assert isinstance(message.time, float | int)
        assert all(count > 0 for count in chat.dropped.values())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(exports(), min_size=1, max_size=4))
def test_ingest_skips_with_reasons_and_stores_no_chat_as_writing(tokenizer, cases):
    with tempfile.TemporaryDirectory() as root:
        workspace = Workspace.init(Path(root) / "ws")
        chats = set()
        for index, (name, data) in enumerate(cases):
            path = workspace.writing / f"{index}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if _read(name, data) is not None:  # a chat, or refused as one
                chats.add(path.relative_to(workspace.writing).as_posix())
        config = with_changes(workspace.load_config(), "identity", names=["Elena"])
        ingestor = Ingestor(workspace, config, tokenizer=tokenizer)
        try:
            report = ingestor.scan()
            for change in report.changes:
                if change.kind == "skipped":
                    assert change.detail.strip(), change
                    # The catch-all for a reader that raised: never reached by these inputs.
                    assert not change.detail.startswith("could not read this chat export"), change
            for rel in chats:
                row = ingestor.store.document(rel)
                assert row is None or row.format not in ("text", "markdown"), (rel, row)
        finally:
            ingestor.close()
