"""WhatsApp exports in the layouts phones write: every header layout and locale, date order
from the whole file, the lines that are not writing, text as written, chat identity.

The fixtures are written here, in each layout's shape, with invented conversations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from slmtui.config import with_changes
from slmtui.ingest.chats import read_chats
from slmtui.ingest.chats.whatsapp import dates
from slmtui.ingest.extract import SkipFile
from tests.chat_exports import SYSTEM, WhatsAppLayout, whatsapp_text, zipped

START = datetime(2024, 3, 5, 9, 15, 27, tzinfo=UTC).timestamp()
DAY = 86400.0

# Words WhatsApp writes in each language.
ENGLISH = {
    "notice": "Messages and calls are end-to-end encrypted. No one outside of this chat, not "
    "even WhatsApp, can read or listen to them.",
    "media": "<Media omitted>",
    "deleted": "This message was deleted",
    "call": "Voice call, 12 min",
    "missed": "Missed voice call, Tap to call back",
    "edited": "<This message was edited>",
    "attached": "(file attached)",
    "event": "Ana changed the group description",
}
RUSSIAN = {
    "notice": "Сообщения и звонки защищены сквозным шифрованием.",
    "media": "‹Без медиафайлов>",
    "deleted": "Вы удалили это сообщение",
    "call": "Видеозвонок, 1 ч 5 мин",
    "missed": "Пропущенный аудиозвонок",
    "edited": "<Изменено>",
    "attached": "(файл добавлен)",
    "event": "Ана изменил тему с «Старое: имя» на «Новое»",
}
SPANISH = {
    "notice": "Los mensajes y las llamadas están cifrados de extremo a extremo.",
    "media": "<Multimedia omitido>",
    "deleted": "Eliminaste este mensaje",
    "call": "Videollamada, 3 min",
    "missed": "Llamada de voz perdida",
    "edited": "<Se editó este mensaje.>",
    "attached": "(archivo adjunto)",
    "event": "Ana cambió el asunto a “Playa”",
}
GERMAN = {
    "notice": "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt.",
    "media": "<Medien ausgeschlossen>",
    "deleted": "Diese Nachricht wurde gelöscht",
    "call": "Sprachanruf, 4 Min.",
    "missed": "Verpasster Videoanruf",
    "edited": "<Diese Nachricht wurde bearbeitet>",
    "attached": "(Datei angehängt)",
    "event": "Ana hat den Betreff zu „Wanderung: Harz“ geändert",
}
FRENCH = {
    "notice": "Les messages et les appels sont chiffrés de bout en bout.",
    "media": "<Médias omis>",
    "deleted": "Vous avez supprimé ce message",
    "call": "Appel vocal, 2 min",
    "missed": "Appel vidéo manqué",
    "edited": "<Ce message a été modifié>",
    "attached": "(fichier joint)",
    "event": "Ana a modifié le sujet : « Vacances »",
}

LAYOUTS = {
    "android-en-gb": (
        WhatsAppLayout("{dd}/{mm}/{yyyy}", "{HH}:{M}", "{date}, {clock} - "),
        ENGLISH,
    ),
    "android-en-us-12h": (
        WhatsAppLayout("{m}/{d}/{yy}", "{h}:{M}\u202f{ampm}", "{date}, {clock} - "),
        ENGLISH,
    ),
    "android-de": (WhatsAppLayout("{dd}.{mm}.{yy}", "{HH}:{M}", "{date}, {clock} - "), GERMAN),
    "android-ru": (WhatsAppLayout("{dd}.{mm}.{yyyy}", "{HH}:{M}", "{date}, {clock} - "), RUSSIAN),
    "android-es-12h": (
        WhatsAppLayout(
            "{d}/{m}/{yy}", "{h}:{M}\u202f{ampm}", "{date}, {clock} - ", "a.\u00a0m.", "p.\u00a0m."
        ),
        SPANISH,
    ),
    "android-fr-no-comma": (
        WhatsAppLayout("{dd}/{mm}/{yyyy}", "{HH}:{M}", "{date} {clock} - "),
        FRENCH,
    ),
    "android-fi": (
        WhatsAppLayout("{d}.{m}.{yyyy}", "{H}.{M}.{S}", "{date} klo {clock} - "),
        ENGLISH,
    ),
    "old-ios-dotted-time": (
        WhatsAppLayout("{dd}.{mm}.{yy}", "{HH}.{M}.{S}", "{date} {clock}: "),
        GERMAN,
    ),
    "android-spaced-date": (
        WhatsAppLayout("{d}. {m}. {yyyy}.", "{HH}:{M}", "{date} {clock} - "),
        ENGLISH,
    ),
    "android-hu-year-first": (
        WhatsAppLayout("{yyyy}. {mm}. {dd}.", "{H}:{M}", "{date} {clock} - "),
        ENGLISH,
    ),
    "android-yy-mm-dd": (
        WhatsAppLayout("{yy}-{mm}-{dd}", "{HH}:{M}", "{date} {clock} - "),
        ENGLISH,
    ),
    "android-yy-dd-mm": (
        WhatsAppLayout("{yy}-{dd}-{mm}", "{HH}:{M}", "{date} {clock} - "),
        ENGLISH,
    ),
    "android-zh": (
        WhatsAppLayout("{yyyy}/{m}/{d}", "{ampm}{h}:{M}", "{date} {clock} - ", "上午", "下午"),
        ENGLISH,
    ),
    "android-ko": (
        WhatsAppLayout("{yyyy}. {m}. {d}.", "{ampm} {h}:{M}", "{date} {clock} - ", "오전", "오후"),
        ENGLISH,
    ),
    "android-el": (
        WhatsAppLayout("{d}/{m}/{yy}", "{h}:{M} {ampm}", "{date}, {clock} - ", "π.μ.", "μ.μ."),
        ENGLISH,
    ),
    "ios-en-us": (
        WhatsAppLayout(
            "{m}/{d}/{yy}",
            "{h}:{M}:{S}\u202f{ampm}",
            "[{date}, {clock}] ",
            newline="\r\n",
            ios=True,
        ),
        ENGLISH,
    ),
    "ios-en-gb-12h": (
        WhatsAppLayout(
            "{dd}/{mm}/{yyyy}",
            "{h}:{M}:{S}\u202f{ampm}",
            "[{date}, {clock}] ",
            newline="\r\n",
            ios=True,
        ),
        ENGLISH,
    ),
    "ios-de": (
        WhatsAppLayout("{dd}.{mm}.{yy}", "{HH}:{M}:{S}", "[{date}, {clock}] ", ios=True),
        GERMAN,
    ),
    "ios-ru": (
        WhatsAppLayout("{dd}.{mm}.{yyyy}", "{HH}:{M}:{S}", "[{date}, {clock}] ", ios=True),
        RUSSIAN,
    ),
}

# What a person wrote in `talk`: (time, sender, text) as it must be read back.
LIST = "Packing list for the boat:\n" + "\n".join(f"- item {i}" for i in range(1, 12))


def talk(words: dict, ios: bool) -> tuple[list, list]:
    """Forty days of a chat between Ana and Elena: the export's lines, and what is writing."""
    at = lambda day, minute: START + day * DAY + minute * 60  # noqa: E731
    lines = [(at(0, 0), SYSTEM, words["notice"])]
    kept = [
        (at(0, 1), "Ana", LIST),
        (at(0, 3), "Elena", "Got it.\n\nI will bring the charts too."),
        (at(1, 0), "Ana", "Family emoji 👨‍👩‍👧 and a judge 👩🏻‍⚖️ and می‌خواهم"),
        (at(2, 5), "Elena", "The harbour was calm this morning"),
        (at(13, 0), "Ana", "Two weeks on and still no word from the yard"),
        (at(13, 2), "Elena", "Call them tomorrow, they open at eight"),
        (at(20, 0), "Ana", "Here is the photo of the hull"),
        (at(39, 0), "Elena", "See you at the pier"),
    ]
    lines += kept[:3]
    photo = f"IMG-{datetime.fromtimestamp(at(1, 3), UTC):%Y%m%d}-WA0007.jpg"
    if ios:
        lines.append((at(1, 3), "Ana", f"<attached: 00000042-PHOTO-{_iso(at(1, 3))}.jpg>"))
        lines.append((at(1, 4), "Elena", "image omitted"))
    else:
        lines.append((at(1, 3), "Ana", f"{photo} {words['attached']}"))
        lines.append((at(1, 4), "Elena", words["media"]))
    lines += [
        (at(1, 5), "Elena", words["deleted"]),
        (at(2, 0), "Ana", words["missed"]),
        (at(2, 1), "Elena", words["call"]),
        kept[3],
        (at(3, 0), SYSTEM, words["event"]),
        (at(13, 0), "Ana", kept[4][2] + " " + words["edited"]),
        kept[5],
    ]
    if not ios:
        caption = f"IMG-{datetime.fromtimestamp(at(20, 0), UTC):%Y%m%d}-WA0009.jpg"
        lines.append((at(20, 0), "Ana", f"{caption} {words['attached']}\n{kept[6][2]}"))
    else:
        lines.append(kept[6])
    lines.append(kept[7])
    return lines, kept


def _iso(when: float) -> str:
    return f"{datetime.fromtimestamp(when, UTC):%Y-%m-%d-%H-%M-%S}"


def _expected_time(when: float, layout: WhatsAppLayout) -> float:
    return when if "{S}" in layout.clock else when - when % 60


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_reads_the_same_messages(name):
    layout, words = LAYOUTS[name]
    lines, kept = talk(words, layout.ios)
    export = read_chats(Path("WhatsApp Chat with Ana.txt"), whatsapp_text(lines, layout))
    assert export is not None, f"{name} was not read as a chat"
    (log,) = export.chats
    got = [(m.time, m.sender, m.text) for m in log.messages]
    want = [(_expected_time(t, layout), s, text) for t, s, text in kept]
    assert got == want
    assert log.participants().keys() == {"Ana", "Elena"}  # never the chat's name
    assert log.dropped["media"] == 2 and log.dropped["deleted"] == 1
    assert log.dropped["call"] == 2 and log.dropped["system"] == 2
    assert log.notes == []  # the date order was decided, not guessed


def _ios_day_first(days: list[int], month: int = 12, attachments: bool = False) -> bytes:
    layout = LAYOUTS["ios-en-gb-12h"][0]
    lines = []
    for day in days:
        when = datetime(2024, month, day, 15, 0, 45, tzinfo=UTC).timestamp()
        lines.append((when, "Ana", f"note for the {day}th, three words"))
        if attachments:
            lines.append((when + 60, "Elena", f"<attached: 00000042-PHOTO-{_iso(when + 60)}.jpg>"))
        lines.append((when + 120, "Elena", f"reply on the {day}th, three words"))
    return whatsapp_text(lines, layout)


def _first_date(data: bytes) -> str:
    (log,) = read_chats(Path("chat.txt"), data).chats
    return f"{datetime.fromtimestamp(log.messages[0].time, UTC):%Y-%m-%d}", log.notes


def test_date_order_from_a_day_over_twelve_anywhere_in_the_file():
    # Every day is <= 12 for the first 3,000 lines; the 25th near the end decides day-first.
    days = [1, 2, 3, 4, 5] * 300 + [25]
    date, notes = _first_date(_ios_day_first(sorted(days)))
    assert date == "2024-12-01" and notes == []


def test_date_order_from_attachment_names():
    # 1 to 5 December reads ascending either way (12 January, 12 February ...): the photo
    # names carry the true date.
    date, notes = _first_date(_ios_day_first([1, 2, 3, 4, 5], attachments=True))
    assert date == "2024-12-01" and notes == []


def test_date_order_from_the_order_of_the_messages():
    layout = LAYOUTS["android-en-gb"][0]
    when = [
        datetime(2024, m, d, 10, tzinfo=UTC).timestamp()
        for m, d in [(11, 5), (11, 6), (12, 1), (12, 2)]
    ]
    lines = [
        (t + i * 60, s, f"message {s} {i}") for t in when for i, s in enumerate(["Ana", "Elena"])
    ]
    (log,) = read_chats(Path("chat.txt"), whatsapp_text(lines, layout)).chats
    assert [m.time for m in log.messages] == [t for t, _, _ in lines] and log.notes == []
    assert dates.decide(
        [(5, 11, 24), (6, 11, 24), (1, 12, 24), (2, 12, 24)], year_digits=(1, 2), attachments=[],
        twelve_hour=True,
    ).decided_by == "the order of the messages"  # fmt: skip


def test_an_undecidable_date_order_is_a_guess_that_says_so():
    layout = LAYOUTS["android-en-us-12h"][0]
    when = datetime(2024, 3, 4, 10, tzinfo=UTC).timestamp()
    lines = [(when + i * 60, "Ana" if i % 2 else "Elena", f"one day only {i}") for i in range(6)]
    (log,) = read_chats(Path("chat.txt"), whatsapp_text(lines, layout)).chats
    assert log.messages[0].time == when  # the 12-hour clock: month first, as in the US
    assert log.notes and "month/day/year, a guess" in log.notes[0]


@pytest.mark.parametrize(
    ("triples", "order"),
    [
        ([(24, 3, 5), (24, 3, 28), (24, 4, 2)], "ymd"),  # yy-mm-dd: a 2005 reading is impossible
        ([(24, 5, 3), (24, 28, 3), (24, 2, 4)], "ydm"),  # yy-dd-mm
        ([(18, 6, 13), (18, 6, 14), (18, 6, 20)], "ymd"),  # years would jump daily read day-first
        ([(5, 3, 24), (28, 3, 24)], "dmy"),
        ([(3, 5, 24), (3, 28, 24)], "mdy"),
    ],
)
def test_two_digit_years_first_or_last(triples, order):
    decided = dates.decide(triples, year_digits=(2, 2), attachments=[], twelve_hour=False)
    assert decided.order == order and not decided.ambiguous


def test_dates_no_order_can_read_are_refused():
    layout = WhatsAppLayout("{dd}/{mm}/{yyyy}", "{HH}:{M}", "{date}, {clock} - ")
    data = whatsapp_text([(START, "Ana", "hello there"), (START + 60, "Elena", "hi again")], layout)
    broken = data.replace(b"05/03/2024", b"45/33/2024")
    with pytest.raises(SkipFile, match="no calendar date in any day, month and year order"):
        read_chats(Path("chat.txt"), broken)


# -- detection by evidence ---------------------------------------------------------------------


def test_a_chat_whose_first_lines_are_one_long_message_is_a_chat():
    layout = LAYOUTS["ios-en-us"][0]
    letter = "\n".join(f"line {i} of a long letter about the crossing" for i in range(40))
    lines = [(START, "Ana", letter), (START + 60, "Elena", "What a letter"),
             (START + 120, "Ana", "I know, I know")]  # fmt: skip
    (log,) = read_chats(Path("_chat.txt"), whatsapp_text(lines, layout)).chats
    assert [m.sender for m in log.messages] == ["Ana", "Elena", "Ana"]
    assert log.messages[0].text == letter


def test_prose_is_not_a_chat_and_a_near_miss_is_refused_with_its_layout():
    prose = b"The tide turned at nine.\n\nWe waited on the wall, 12:30 or so, for the ferry.\n"
    assert read_chats(Path("notes.txt"), prose) is None
    unknown = "\n".join(
        f"13.6.2018 kello 21.{m:02}.15 - Ana: viesti {m}" for m in range(20)
    ).encode()
    with pytest.raises(SkipFile, match=r"looks like a WhatsApp export .*'13\.6\.2018 kello 21\.00"):
        read_chats(Path("chat.txt"), unknown)
    diary = "\n".join(f"[12/03/2026, 14:{m:02}] walked to the harbour" for m in range(10)).encode()
    with pytest.raises(SkipFile, match=r"no line names a sender; .* save it as \.md"):
        read_chats(Path("diary.txt"), diary)


# -- text as written ---------------------------------------------------------------------------


def test_a_last_character_cut_in_half_is_dropped_and_said():
    layout = LAYOUTS["android-en-gb"][0]
    lines = [(START, "Ana", "sunny today ☀️"), (START + 60, "Elena", "at last 🌞")]
    data = whatsapp_text(lines, layout).rstrip(b"\n")[:-2]  # half of the last emoji's bytes
    (log,) = read_chats(Path("chat.txt"), data).chats
    assert log.messages[0].text == "sunny today ☀️"  # not mojibake
    assert log.messages[1].text == "at last"
    assert any("last character was cut in half" in note for note in log.notes)


def test_utf16_without_a_byte_order_mark():
    layout = LAYOUTS["android-en-gb"][0]
    lines = [(START, "Ana", "grüße aus Kiel"), (START + 60, "Elena", "danke schön")]
    data = whatsapp_text(lines, layout).decode().encode("utf-16-le")
    (log,) = read_chats(Path("chat.txt"), data).chats
    assert [m.text for m in log.messages] == ["grüße aus Kiel", "danke schön"]


def test_joiners_and_blank_lines_survive_ingest(workspace, make_ingestor):
    layout, words = LAYOUTS["android-en-gb"]
    lines, kept = talk(words, False)
    (workspace.writing / "WhatsApp Chat with Ana.txt").write_bytes(whatsapp_text(lines, layout))
    config = with_changes(workspace.load_config(), "identity", names=["Elena"])
    ingestor = make_ingestor(workspace, config)
    ingestor.scan()
    (row,) = ingestor.store.chats()
    texts = [m.text for m in ingestor.store.chat_messages(row.key)]
    assert texts == [text for _, _, text in kept]


# -- which chat --------------------------------------------------------------------------------


def _group(start: float) -> list:
    layout = LAYOUTS["ios-en-us"][0]
    lines = [(start, SYSTEM, "Messages and calls are end-to-end encrypted."),
             (start + 30, SYSTEM, "Ana added Bob")]  # fmt: skip
    lines += [
        (start + 60 * i, ["Ana", "Bob", "Elena"][i % 3], f"group talk {i}") for i in range(1, 30)
    ]
    return whatsapp_text(lines, layout, chat_name="Sailing club")


def _private(start: float, count: int = 30) -> bytes:
    layout = LAYOUTS["ios-en-us"][0]
    lines = [(start, SYSTEM, "Messages and calls are end-to-end encrypted.")]
    lines += [
        (start + 60 * i, ["Ana", "Elena"][i % 2], f"private talk {i}") for i in range(1, count)
    ]
    return whatsapp_text(lines, layout, chat_name="Ana")


def test_two_loose_chat_files_are_two_chats_and_a_reexport_merges(workspace, make_ingestor):
    config = with_changes(workspace.load_config(), "identity", names=["Elena"])
    ingestor = make_ingestor(workspace, config)
    (workspace.writing / "_chat.txt").write_bytes(_private(START))
    (workspace.writing / "older").mkdir()
    (workspace.writing / "older" / "_chat.txt").write_bytes(_group(START + DAY))
    ingestor.scan()
    chats = {row.name: row for row in ingestor.store.chats()}
    assert set(chats) == {"Ana", "Sailing club"}  # named by the chat's own lines
    assert set(chats["Sailing club"].participants) == {"Ana", "Bob", "Elena"}
    # Saved over: the group replaces the private chat in that file, nothing merges.
    (workspace.writing / "_chat.txt").write_bytes(_group(START + 2 * DAY))
    ingestor.scan()
    rows = ingestor.store.chats()
    assert sorted(r.name for r in rows) == ["Sailing club", "Sailing club"]
    assert all(
        not any("private" in m.text for m in ingestor.store.chat_messages(r.key)) for r in rows
    )
    # A re-export of a chat under another name continues it; one that lost its oldest
    # messages (WhatsApp's length limit) still finds the chat that holds the rest.
    (workspace.writing / "ana.txt").write_bytes(_private(START + 5 * DAY, count=40))
    ingestor.scan()
    before = {r.key for r in ingestor.store.chats()}
    full = _private(START + 5 * DAY, count=60).decode().splitlines(keepends=True)
    (workspace.writing / "ana again.txt").write_text("".join(full[20:]))
    report = ingestor.scan()
    assert {r.key for r in ingestor.store.chats()} == before, report.changes
    (ana,) = [r for r in ingestor.store.chats() if r.name in ("ana", "ana again")]
    assert ana.messages == 59 and ana.paths == ["ana again.txt", "ana.txt"]


def test_zip_and_folder_names():
    data = zipped({"_chat.txt": _private(START), "00000012-PHOTO.jpg": b"\xff\xd8"})
    (log,) = read_chats(Path("WhatsApp Chat - Ana Lima.zip"), data).chats
    assert log.name == "Ana Lima"
    (log,) = read_chats(Path("WhatsApp Chat - Ana Lima/_chat.txt"), _private(START)).chats
    assert log.name == "Ana Lima"
    (log,) = read_chats(Path("writing/_chat.txt"), _private(START)).chats
    assert log.name == "Ana"  # iOS's own lines name the chat


def test_status_lists_date_notes_and_drops(workspace, make_ingestor, capsys):
    from slmtui.cli import main

    layout = LAYOUTS["android-en-us-12h"][0]
    when = datetime(2024, 3, 4, 10, tzinfo=UTC).timestamp()
    lines = [(when + i * 60, "Ana" if i % 2 else "Elena", f"one day only {i}") for i in range(6)]
    lines.append((when + 600, "Ana", "Missed voice call"))
    (workspace.writing / "chat.txt").write_bytes(whatsapp_text(lines, layout))
    assert main(["-w", str(workspace.root), "ingest"]) == 0
    capsys.readouterr()
    assert main(["-w", str(workspace.root), "status", "--json"]) == 0
    (chat,) = json.loads(capsys.readouterr().out)["chat_list"]
    assert chat["dropped"] == {"call": 1} and "a guess" in chat["notes"][0]
    assert main(["-w", str(workspace.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "not kept: 1 call" in out and "note: dates read as month/day/year, a guess" in out


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("‹Без медиафайлов>", "media"),
        ("<Archivo omitido>", "media"),
        ("‹メディアなし>", "media"),
        ("< attached: 00000042-PHOTO.jpg >", "media"),
        ("IMG-20241202-WA0001.jpg (file attached)", "media"),
        ("DOC-20241202-WA0003.pdf (fichier joint)", "media"),
        ("VID-20241202-WA0002.mp4 (archivo adjunto)", "media"),
        ("PTT-20241202-WA0004.opus (Datei angehängt)", "media"),
        ("Вы удалили это сообщение", "deleted"),
        ("🚫 This message was deleted", "deleted"),
        ("Missed voice call, Tap to call back", "call"),
        ("Voice call, 12 min", "call"),
        ("Пропущенный аудиозвонок", "call"),
        ("Видеозвонок, 1 ч 5 мин", "call"),
        ("Voice calls are cheaper than you think, honestly", None),
        ("<3", None),
        ("see you at <the pier>", None),
    ],
)
def test_placeholders_in_their_languages(text, kind):
    from slmtui.ingest.chats.whatsapp import lines

    assert lines.placeholder(text) == kind


def test_ios_business_and_group_notices_are_system_lines():
    layout = LAYOUTS["ios-en-us"][0]
    shop = [
        (START, "Harbour Chandlery", "This business uses a secure service from Meta to manage "
         "this chat. Tap to learn more."),
        (START + 60, "Harbour Chandlery", "Your order of rope is ready"),
        (START + 120, "Elena", "Thank you, I will come by"),
        (START + 180, "Harbour Chandlery", "We close at five today"),
    ]  # fmt: skip
    (log,) = read_chats(Path("_chat.txt"), whatsapp_text(shop, layout)).chats
    assert [m.text for m in log.messages] == [t for _, _, t in shop[1:]]
    assert log.dropped == {"system": 1}
    lines = [(START, SYSTEM, "\u200eJohn added Bob"), *shop[1:]]
    text = whatsapp_text(lines, layout, chat_name="Chat").decode().replace("\u200e\u200e", "\u200e")
    (log,) = read_chats(Path("_chat.txt"), text.encode()).chats
    assert "Chat" not in log.participants() and log.dropped == {"system": 1}
