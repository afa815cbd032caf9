"""Chat exports: one real file per exporter's layout, read into messages, stored incrementally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmtui.config import with_changes
from slmtui.ingest.chats import read_chats
from slmtui.ingest.chats.messenger import repair
from slmtui.ingest.extract import SkipFile
from slmtui.ingest.identity import candidates, propose
from tests.chat_exports import (
    alternating,
    discord_channel,
    messenger_thread,
    slack_files,
    telegram_account,
    telegram_chat,
    whatsapp_android,
    whatsapp_ios,
    write_files,
    zipped,
)

T0 = 1767225600.0  # 2026-01-01 00:00 UTC


def chat(n: int = 30, start: float = T0, me: str = "Elena", friend: str = "Ana") -> list:
    """n messages a minute apart, alternating in bursts; a few that are not writing."""
    messages = [
        (
            start + i * 60 + 13 * 3600,
            me if i % 3 == 0 else friend,
            f"line {i} of our talk, {friend}",
        )
        for i in range(n)
    ]
    messages[5] = (messages[5][0], friend, "<Media omitted>")
    messages[6] = (messages[6][0], me, "first line\nsecond line")
    messages[7] = (messages[7][0], friend, "k")
    messages[8] = (messages[8][0], friend, "https://example.org/x")
    messages[9] = (messages[9][0], me, "This message was deleted")
    return messages


# -- readers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "name"),
    [
        (lambda m: whatsapp_android(m), "WhatsApp Chat with Ana.txt"),
        (lambda m: whatsapp_android(m, order="mdy", clock24=False), "WhatsApp Chat with Ana.txt"),
        (lambda m: whatsapp_android(m, order="ymd"), "WhatsApp Chat with Ana.txt"),
        (lambda m: whatsapp_ios(m), "WhatsApp Chat - Ana/_chat.txt"),
    ],
    ids=["android-dmy-24h", "android-mdy-12h", "android-ymd", "ios-marks-12h"],
)
def test_whatsapp_layouts_give_the_same_messages(layout, name):
    messages = chat(40)
    export = read_chats(Path(name), layout(messages))
    (log,) = export.chats
    assert log.name == "Ana" and log.key.startswith("whatsapp:") and export.format == "whatsapp"
    assert [m.time for m in log.messages][:3] == [messages[i][0] for i in (0, 1, 2)]
    assert log.messages[-1].time == messages[-1][0]  # 13:39 read as afternoon on a 12-hour clock
    assert "first line\nsecond line" in [m.text for m in log.messages]  # a multi-line message
    assert log.dropped["media"] == 1 and log.dropped["deleted"] == 1
    assert log.dropped["one character"] == 1 and log.dropped["bare link"] == 1
    assert len(log.messages) == 36
    assert all("\u200e" not in m.text and "\u202f" not in m.text for m in log.messages)


def test_whatsapp_date_order_is_read_from_the_days_past_twelve():
    # 3 January to 20 January: day-first files show a first field over 12, month-first a second.
    messages = [(T0 + d * 86400 + 3600 * 9, "Elena", f"day {d} note") for d in range(2, 20)]
    for order in ("dmy", "mdy"):
        (log,) = read_chats(
            Path("WhatsApp Chat with Ana.txt"), whatsapp_android(messages, order=order)
        ).chats
        assert [m.time for m in log.messages] == [m[0] for m in messages]


def test_telegram_account_export_names_its_owner_and_reads_entities():
    chats = [
        telegram_chat(chat(20), name="Ana", chat_id=11),
        telegram_chat(
            [(T0, "Elena", "a *bold* word"), (T0 + 60, "Ben", "right")], name="Ben", chat_id=12
        ),
        {"name": "News", "type": "public_channel", "id": 13, "messages": []},
    ]
    data = json.loads(telegram_account(chats, first_name="Elena", username="elena"))
    data["chats"]["list"][1]["messages"].append(
        {"id": 9, "type": "service", "date": "2026-01-01T00:05:00", "action": "pin_message"}
    )
    data["chats"]["list"][1]["messages"].append(
        {
            "id": 10,
            "type": "message",
            "date_unixtime": str(int(T0) + 600),
            "from": "Elena",
            "forwarded_from": "Someone",
            "text": "look at this long forwarded text",
        }
    )
    export = read_chats(Path("result.json"), json.dumps(data).encode())
    assert export.owner == ["Elena", "@elena"]
    chats = list(export.chats)  # read one at a time
    assert [c.key for c in chats] == ["telegram:11", "telegram:12"]  # no channel
    ben = chats[1]
    assert ben.messages[0].text == "a bold word"
    assert ben.dropped == {"system": 1, "forwarded": 1}


def test_discord_exporter_json():
    data = json.loads(discord_channel(chat(12), channel_id="42", name="books"))
    data["messages"].append(
        {
            "id": "1",
            "type": "ChannelPinnedMessage",
            "timestamp": "2026-01-02T00:00:00+00:00",
            "content": "",
            "author": {"name": "Ana"},
        }
    )
    data["messages"].append(
        {
            "id": "2",
            "type": "Default",
            "timestamp": "2026-01-02T00:01:00+00:00",
            "content": "",
            "author": {"name": "Ana"},
            "attachments": [{"url": "x.png"}],
        }
    )
    (log,) = read_chats(Path("Friends - books [42].json"), json.dumps(data).encode()).chats
    assert log.key == "discord:42" and log.name == "Friends #books"
    assert log.dropped["system"] == 1 and log.dropped["media"] == 1
    assert log.messages[0].sender == "Elena"


def test_messenger_text_is_repaired_and_put_oldest_first():
    messages = [(T0 + i * 30, "Zoë" if i % 2 else "Elena", f"café ☕ number {i}") for i in range(6)]
    raw = messenger_thread(messages, title="Zoë Ní")
    assert b"\\u00c3\\u00a9" in raw  # "é" written as two Latin-1 escapes, as Facebook does
    (log,) = read_chats(Path("messages/inbox/zoe_1/message_1.json"), raw).chats
    assert log.name == "Zoë Ní" and sorted(log.members) == ["Elena", "Zoë"]
    assert [m.text for m in log.messages] == [m[2] for m in messages]
    assert repair("plain ascii") == "plain ascii"


def test_instagram_thread_is_named_instagram():
    raw = messenger_thread(chat(12), title="Ana", thread="inbox/ana_9")
    export = read_chats(Path("your_instagram_activity/messages/inbox/ana_9/message_1.json"), raw)
    assert export.format == "instagram" and export.chats[0].key == "instagram:inbox/ana_9"


def test_slack_folder_and_zip(tmp_path):
    files = slack_files(
        {"general": chat(20), "random": chat(12)}, {"Ana": "Ana B", "Elena": "Elena M"}
    )
    day = next(name for name in files if name.startswith("general/"))
    entries = json.loads(files[day])
    entries.append(
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "U00000",
            "text": "joined",
            "ts": "1767225601.0",
        }
    )
    entries.append(
        {
            "type": "message",
            "user": "U00001",
            "text": "hi <@U00000>, see <https://x.org|the page>",
            "ts": "1767312000.5",
        }
    )
    files[day] = json.dumps(entries).encode()
    write_files(tmp_path, files)
    (log,) = read_chats(tmp_path / day, files[day]).chats
    assert log.key == "slack:general" and {m.sender for m in log.messages} <= {"Ana", "Elena"}
    assert log.dropped["system"] == 1
    assert "hi @Ana, see the page" in [m.text for m in log.messages]
    with pytest.raises(SkipFile, match="Slack workspace list"):
        read_chats(tmp_path / "users.json", files["users.json"])
    export = read_chats(Path("Slack export.zip"), zipped(files))
    assert sorted(c.key for c in export.chats) == ["slack:general", "slack:random"]


def test_zipped_whatsapp_takes_the_zip_name():
    data = zipped({"_chat.txt": whatsapp_ios(chat(10)), "00000012-PHOTO.jpg": b"\xff\xd8"})
    (log,) = read_chats(Path("WhatsApp Chat - Ana.zip"), data).chats
    assert log.name == "Ana"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        (
            "result.json",
            telegram_account(
                [telegram_chat(chat(12), name="A", chat_id=1)], first_name="E", username="e"
            )[:300],
            "truncated JSON",
        ),
        (
            "nothing.zip",
            zipped({"notes/a.bin": b"\x00\x01", "b.json": b"[1, 2]"}),
            "no chat export slmtui reads",
        ),
        ("other.json", b'{"some": "thing"}', "no layout slmtui reads"),
        ("broken.zip", b"PK\x03\x04 not really", "damaged zip"),
    ],
)
def test_unreadable_exports_raise_a_reason(name, data, reason):
    with pytest.raises(SkipFile, match=reason):
        read_chats(Path(name), data)


def test_plain_text_is_not_a_chat():
    assert read_chats(Path("notes.txt"), b"Just some prose about the sea.\n\nAnother line.") is None


def test_identity_proposal_is_the_sender_in_every_chat():
    chats = [{"Elena": 10, "Ana": 40}, {"Elena": 5, "Ben": 50}, {"Elena": 1, "Ana": 2, "Ben": 3}]
    assert propose(chats) == "Elena"
    assert propose([{"Ana": 3, "Elena": 9}]) == "Elena"
    assert propose([{"Ana": 3, "Elena": 9}], owners=["@ana"]) == "Ana"
    assert propose([]) is None
    # Nobody in every chat: no proposal, and the candidates are listed instead.
    apart = [{"Ana": 3, "Elena": 9}, {"Ben": 2, "Cleo": 4}, {"Elena": 1, "Cleo": 1}]
    assert propose(apart) is None
    assert candidates(apart) == ["Elena", "Cleo", "Ana", "Ben"]


def test_messenger_sent_a_photo_lines_are_media():
    raw = json.loads(messenger_thread(chat(12), title="Ana"))
    raw["messages"][0].update(content="You sent a photo.", photos=[{"uri": "p.jpg"}])
    raw["messages"][1].update(content="Ana sent 2 photos.", photos=[{"uri": "q.jpg"}])
    raw["messages"][2].update(content="Du hast ein Foto gesendet.")
    (log,) = read_chats(Path("inbox/ana_1/message_1.json"), json.dumps(raw).encode()).chats
    assert not any("sent" in m.text or "gesendet" in m.text for m in log.messages)
    assert log.dropped["media"] >= 3


def test_discord_senders_are_nicknames_and_account_names_match(workspace, make_ingestor):
    data = json.loads(discord_channel(chat(20), channel_id="7", name="boats"))
    for message in data["messages"]:
        author = message["author"]
        author["name"], author["nickname"] = f"{author['name'].lower()}_k", author["name"]
    (workspace.writing / "boats.json").write_bytes(json.dumps(data).encode())
    ingestor = make_ingestor(workspace, _config(workspace, names=["elena_k"]))
    report = ingestor.scan()
    assert report.count("added") == 1, report.changes  # the account name is you
    (row,) = ingestor.store.chats()
    assert set(row.participants) == {"Ana", "Elena"}  # as the export shows them
    assert row.aliases == {"Ana": ["ana_k"], "Elena": ["elena_k"]}
    from slmtui.cli.writing import identity_summary

    config = _config(workspace, names=["elena_k"])
    assert identity_summary(ingestor.store, config, [row])["matched"] == ["Elena"]


def test_slack_markup_of_every_kind_is_cleaned():
    from slmtui.ingest.chats.slack import clean

    text = (
        "call <tel:+441234567|+44 1234 567> or <tel:+449876>, mail <mailto:a@b.org|a@b.org>, "
        "<!here> <!subteam^S12|@crew> see <#C1|boats> and <#C2>, <https://x.org>, "
        "<!date^1392734382^{date}|Feb 18th>"
    )
    assert clean(text, {}) == (
        "call +44 1234 567 or +449876, mail a@b.org, @here @crew see #boats and #channel, "
        "https://x.org, Feb 18th"
    )


def test_slack_folder_reads_like_the_zip(workspace, make_ingestor):
    days = {
        "general": [
            (T0 + 600, "Ana", "first day, Ana only"),
            (T0 + 86400 * 2, "Elena", "my day, at last"),
            (T0 + 86400 * 2 + 60, "Ana", "hello to you"),
        ],
        "random": [(T0 + 86400 * 3, "Elena", "a random thought")],
    }
    files = slack_files(days, {"Ana": "Ana B", "Elena": "Elena M"})
    # The channel's first day holds only a bot's posts and a join: the person speaks later.
    first_day = sorted(name for name in files if name.startswith("general/"))[0]
    bots = [
        {"type": "message", "bot_id": "B1", "text": "deploy done", "ts": f"{T0 + 60:.6f}"},
        {"type": "message", "subtype": "channel_join", "user": "U00000", "text": "joined",
         "ts": f"{T0 + 120:.6f}"},
    ]  # fmt: skip
    files["general/2025-12-31.json"] = json.dumps(bots).encode()
    write_files(workspace.writing / "slack", files)
    ingestor = make_ingestor(workspace, _config(workspace))
    report = ingestor.scan()
    skipped = {c.path: c.detail for c in report.changes if c.kind == "skipped"}
    assert set(skipped) == {"slack/users.json", "slack/channels.json"}, skipped
    assert first_day in files
    from_folder = {row.key: (row.messages, row.dropped) for row in ingestor.store.chats()}
    from_zip = {
        chat.key: (len(chat.messages), dict(chat.dropped))
        for chat in read_chats(Path("Slack export.zip"), zipped(files)).chats
    }
    assert (
        from_folder
        == from_zip
        == {
            "slack:general": (3, {"system": 2}),
            "slack:random": (1, {}),
        }
    )
    assert ingestor.scan().changes == []  # nothing left to read again


def test_utf16_prose_without_a_byte_order_mark_is_writing(workspace, make_ingestor):
    essay = "Die Flut kam um neun. Wir warteten lange auf der Mauer am Hafen.\n\n" * 20
    (workspace.writing / "flut.txt").write_bytes(essay.encode("utf-16-le"))
    report = make_ingestor(workspace).scan()
    assert report.count("added") == 1, report.changes


# -- ingest --------------------------------------------------------------------------------------


def _config(workspace, names=("Elena",)):
    return with_changes(workspace.load_config(), "identity", names=list(names))


def test_ingest_stores_messages_and_a_reexport_adds_only_new_ones(workspace, make_ingestor):
    first = chat(400)
    path = workspace.writing / "WhatsApp Chat with Ana.txt"
    path.write_bytes(whatsapp_android(first))
    ingestor = make_ingestor(workspace, _config(workspace))
    report = ingestor.scan()
    assert report.count("added") == 1, report.changes
    stored = ingestor.store.stats().messages
    assert stored == len(first) - 4  # media, deleted, bare link and "k" dropped
    # A week later the person exports again into a new file; the old one stays.
    later = first + [
        (first[-1][0] + 86400 + i * 60, "Elena", f"new day message {i}") for i in range(5)
    ]
    (workspace.writing / "WhatsApp Chat with Ana (2).txt").write_bytes(whatsapp_android(later))
    report = ingestor.scan()
    # One day and the next: day-first or month-first, nothing in the file tells, and it says so.
    (detail,) = [c.detail for c in report.changes]
    assert detail.startswith("1 chat, 5 new messages; dates read as day/month/year, a guess")
    assert ingestor.store.stats().messages == stored + 5
    (row,) = ingestor.store.chats()
    assert row.paths == ["WhatsApp Chat with Ana (2).txt", "WhatsApp Chat with Ana.txt"]
    assert row.participants == {"Ana": 266 - 3, "Elena": 134 - 1 + 5}
    # The first file goes: the chat stays (the second export holds it); both go: it goes.
    path.unlink()
    ingestor.scan()
    assert ingestor.store.stats().messages == stored + 5
    (workspace.writing / "WhatsApp Chat with Ana (2).txt").unlink()
    ingestor.scan()
    assert ingestor.store.stats().messages == 0 and ingestor.store.chats() == []


def test_reexport_reads_only_the_tail(workspace, make_ingestor):
    from slmtui.ingest.chats import read_chats as read

    ingestor = make_ingestor(workspace, _config(workspace))
    (workspace.writing / "result.json").write_bytes(
        json.dumps(telegram_chat(chat(300), name="Ana", chat_id=5)).encode()
    )
    ingestor.scan()
    longer = telegram_chat(chat(320), name="Ana", chat_id=5)
    export = read(Path("result.json"), json.dumps(longer).encode(), ingestor.store.newest_message)
    (log,) = export.chats
    assert log.skipped_before is not None
    assert len(log.messages) <= 21  # the last known message and the 20 new ones


def test_exports_that_cannot_be_used_are_skipped_with_reasons(workspace, make_ingestor):
    write = lambda name, data: (workspace.writing / name).write_bytes(data)  # noqa: E731
    write("WhatsApp Chat with Ben.txt", whatsapp_android(chat(20, me="Ben", friend="Cleo")))
    write("result.json", b'{"name": "Ana", "type": "personal_chat", "id": 1, "messages": [')
    write("empty.zip", zipped({"readme.md": b"# nothing"}))
    write("notes.txt", b"I keep a journal of the tides.\n\nIt is mostly about the weather.")
    write("good.txt", whatsapp_android(chat(20)))
    report = make_ingestor(workspace, _config(workspace)).scan()
    reasons = {c.path: c.detail for c in report.changes if c.kind == "skipped"}
    assert "no messages from you: set [identity] names" in reasons["WhatsApp Chat with Ben.txt"]
    assert (
        "Ben (" in reasons["WhatsApp Chat with Ben.txt"]
        and "Cleo (" in reasons["WhatsApp Chat with Ben.txt"]
    )
    assert "truncated JSON" in reasons["result.json"]
    assert "no chat export slmtui reads" in reasons["empty.zip"]
    assert report.count("added") == 2  # the journal and the good chat: ingest went on


def test_conversations_keep_their_split_when_a_reexport_continues_them(workspace, make_ingestor):
    # 30 conversations of 12 messages, a day apart.
    messages = [
        (T0 + day * 86400 + i * 60, "Elena" if i % 2 else "Ana", f"day {day} message {i} words")
        for day in range(30)
        for i in range(12)
    ]
    (workspace.writing / "WhatsApp Chat with Ana.txt").write_bytes(whatsapp_android(messages))
    ingestor = make_ingestor(workspace, _config(workspace))
    ingestor.scan()
    (row,) = ingestor.store.chats()
    assert row.name == "Ana"
    stored = {m.key: m.split for m in ingestor.store.chat_messages(row.key)}
    held = sum(split == "val" for split in stored.values())
    assert 0.05 * len(stored) <= held <= 0.25 * len(stored)
    # Each conversation is wholly one split.
    by_day: dict[int, set] = {}
    for m in ingestor.store.chat_messages(row.key):
        by_day.setdefault(int((m.time - T0) // 86400), set()).add(m.split)
    assert all(len(splits) == 1 for splits in by_day.values())
    assert sum(splits == {"val"} for splits in by_day.values()) >= 3
    # The re-export continues the last conversation and adds new ones: old splits never move,
    # and the continued conversation's new messages follow it.
    last_split = by_day[29].pop()
    more = (
        messages
        + [(messages[-1][0] + 120, "Elena", "one more thing before bed")]
        + [
            (T0 + day * 86400 + i * 60, "Ana", f"later day {day} message {i}")
            for day in range(30, 40)
            for i in range(4)
        ]
    )
    (workspace.writing / "WhatsApp Chat with Ana.txt").write_bytes(whatsapp_android(more))
    ingestor.scan()
    after = {m.key: m for m in ingestor.store.chat_messages(row.key)}
    assert all(after[key].split == split for key, split in stored.items())
    tail = next(m for m in after.values() if m.text == "one more thing before bed")
    assert tail.split == last_split


def test_a_slack_day_without_you_is_still_read(workspace, make_ingestor):
    days = {
        "general": [
            (T0 + 3600, "Ana", "a day of Ana only"),
            (T0 + 3660, "Ana", "still Ana"),
            (T0 + 86400 * 2, "Elena", "my day, at last"),
            (T0 + 86400 * 2 + 60, "Ana", "hi"),
        ]
    }
    write_files(
        workspace.writing / "slack", slack_files(days, {"Ana": "Ana B", "Elena": "Elena M"})
    )
    report = make_ingestor(workspace, _config(workspace)).scan()
    assert report.count("skipped") == 2  # users.json and channels.json, with their reason
    assert report.count("added") == 2 and ingestor_messages(workspace) == 4


def ingestor_messages(workspace):
    from slmtui.ingest.store import Store

    with Store(workspace.db_path) as store:
        return store.stats().messages


def test_a_zip_of_threads_is_read_a_chat_at_a_time_and_split_threads_merge():
    first = [(T0 + i * 60, "Zoë" if i % 2 else "Elena", f"older {i}") for i in range(10)]
    second = [(T0 + 3600 + i * 60, "Zoë" if i % 2 else "Elena", f"newer {i}") for i in range(10)]
    other = [(T0 + i * 60, "Bo" if i % 2 else "Elena", f"hello {i} there") for i in range(10)]
    files = {
        "messages/inbox/zoe_1/message_1.json": messenger_thread(
            second, title="Zoë", thread="inbox/zoe_1"
        ),
        "messages/inbox/zoe_1/message_2.json": messenger_thread(
            first, title="Zoë", thread="inbox/zoe_1"
        ),
        "messages/inbox/bo_2/message_1.json": messenger_thread(
            other, title="Bo", thread="inbox/bo_2"
        ),
    }
    export = read_chats(Path("facebook-elena.zip"), zipped(files))
    assert not isinstance(export.chats, list)  # an iterator: one chat held at a time
    chats = {chat.key: chat for chat in export.chats}
    assert set(chats) == {"messenger:inbox/zoe_1", "messenger:inbox/bo_2"}
    zoe = chats["messenger:inbox/zoe_1"]
    assert [m.text for m in zoe.messages] == [m[2] for m in first + second]


def test_a_refused_export_of_many_chats_leaves_nothing_behind(workspace, make_ingestor):
    chats = [
        telegram_chat(
            alternating("Bo", "Cy", T0, "hi number"),
            name="Bo",
            chat_id=1,
        ),
        telegram_chat(
            alternating("Di", "Cy", T0, "yo number"),
            name="Di",
            chat_id=2,
        ),
    ]
    (workspace.writing / "result.json").write_bytes(
        telegram_account(chats, first_name="Cy", username="cy")
    )
    ingestor = make_ingestor(workspace, _config(workspace))
    report = ingestor.scan()
    (change,) = report.changes
    assert change.kind == "skipped" and "no messages from you" in change.detail
    assert "Cy (10)" in change.detail and "Bo (5)" in change.detail
    assert ingestor.store.stats().messages == 0 and ingestor.store.chats() == []
    assert ingestor.store.get_meta("identity_hint") is None
