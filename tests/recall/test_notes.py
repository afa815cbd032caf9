"""Notes in chat: which message is searched, how notes reach the model, and `slmtui chat` with
the bundled model given a note it could not otherwise know. Written for these tests.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from slmtui.chat.serve import recall_when_serving
from slmtui.config import RecallConfig
from slmtui.recall.notes import (
    NO_NOTES,
    NOTES_HEADER,
    Recaller,
    notes_text,
    recall_query,
    source_name,
    source_of,
    sources_line,
    with_notes,
)
from slmtui.recall.search import Recalled

NOTE = (
    "The pilot boat is called the Kittiwake. Dermot painted her name on the bow in yellow, "
    "and the harbour master made him paint it again because the letters ran.\n"
)


def note(source: str, text: str, time: float | None = 1743379200.0) -> Recalled:
    return Recalled("writing", source, time, 0.1, text, 20, source, -3.0)


def test_a_short_follow_up_is_searched_with_the_message_before_it():
    asked = [
        {"role": "system", "content": "You are Elena."},
        {"role": "user", "content": "Tell me about the pilot boat Dermot painted"},
        {"role": "assistant", "content": "It was yellow."},
    ]
    assert recall_query(asked) == "Tell me about the pilot boat Dermot painted"
    follow_up = [*asked, {"role": "user", "content": "and the harbour master?"}]
    assert recall_query(follow_up) == (
        "and the harbour master?\nTell me about the pilot boat Dermot painted"
    )
    full = [*asked, {"role": "user", "content": "What did the harbour master say about paint?"}]
    assert recall_query(full) == "What did the harbour master say about paint?"
    assert recall_query([{"role": "system", "content": "x"}]) == ""


def test_notes_follow_the_system_prompt_labelled_by_source():
    messages = [
        {"role": "system", "content": "You are Elena."},
        {"role": "user", "content": "What is the pilot boat called?"},
    ]
    found = [note("journal/2025-03-31.txt", NOTE), note("ana", "Ana: hi", None)]
    sent = with_notes(messages, found)
    assert sent[1:] == messages[1:] and sent[0]["role"] == "system"
    assert sent[0]["content"].startswith("You are Elena.\n\n" + NOTES_HEADER)
    assert "[1] journal/2025-03-31.txt, 2025-03-31\nThe pilot boat is called" in sent[0]["content"]
    assert "[2] ana\nAna: hi" in sent[0]["content"]
    assert messages[0]["content"] == "You are Elena."  # the conversation itself is unchanged
    # Nothing found: the model is still told not to make up your life.
    assert with_notes(messages, [])[0]["content"] == f"You are Elena.\n\n{NO_NOTES}"
    alone = with_notes(messages[1:], found)
    assert alone[0] == {"role": "system", "content": notes_text(found)}
    sources = [source_of(item) for item in found]
    assert sources_line(sources) == "from: journal/2025-03-31.txt (2025-03-31) · ana"
    chat = source_of(Recalled("chat", "Ana", 0.0, 0.1, "Ana: hi", 3, "ana.txt", -1.0, "wa:1"))
    assert chat["chat_key"] == "wa:1" and source_name(chat) == "chat Ana (1970-01-01)"
    assert sources_line([]) == "from: nothing you wrote matched"


def test_the_recaller_reads_the_store_from_any_thread(workspace, make_ingestor):
    import threading

    (workspace.writing / "boat.md").write_text(NOTE)
    make_ingestor(workspace).scan()
    recaller = Recaller(workspace.db_path, RecallConfig())
    found: list = []
    asked = [{"role": "user", "content": "What is the pilot boat called?"}]
    worker = threading.Thread(target=lambda: found.extend(recaller.recall(asked)))
    worker.start()
    worker.join()
    assert [item.source for item in found] == ["boat.md"]


def chat(workspace, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "chat", "--model",
         "base", "--temperature", "0", "--max-tokens", "24", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_chat_prompt_answers_from_a_note_and_shows_its_source(workspace, make_ingestor):
    (workspace.writing / "2025-03-31-boat.md").write_text(NOTE)
    (workspace.writing / "garden.md").write_text("Broad beans on Tuesday, by the south fence.\n")
    make_ingestor(workspace).scan()
    asked = "What is the name of the pilot boat?"
    given = chat(workspace, "--prompt", asked)
    assert given.returncode == 0, given.stderr[-3000:]
    reply, sources = given.stdout.rstrip().rsplit("\n", 1)
    assert sources.strip() == "(from: 2025-03-31-boat.md (2025-03-31))"
    # The bundled model cannot know the name; given the note, it says it.
    assert "kittiwake" in reply.lower()
    without = chat(workspace, "--prompt", asked, "--no-recall")
    assert without.returncode == 0, without.stderr[-3000:]
    assert "from:" not in without.stdout and "kittiwake" not in without.stdout.lower()


@pytest.mark.parametrize(
    ("host", "asked", "enabled", "given"),
    [
        ("127.0.0.1", None, True, True),
        ("127.0.0.1", None, False, False),
        ("0.0.0.0", None, True, False),  # others can reach it: off unless asked
        ("0.0.0.0", True, True, True),
        ("::1", False, True, False),
    ],
)
def test_a_server_gives_notes_on_this_machine_unless_told(host, asked, enabled, given):
    assert recall_when_serving(host, asked, enabled) is given


def test_a_server_beyond_this_machine_gets_a_key_made_once(tmp_path):
    import stat

    from slmtui.chat.serve import server_key

    assert server_key(tmp_path, "0.0.0.0", "given-key") == ("given-key", "")
    assert server_key(tmp_path, "127.0.0.1", None) == (None, "")
    key, said = server_key(tmp_path, "0.0.0.0", None)
    assert key and len(key) >= 24 and key in said and "shown once" in said
    kept = tmp_path / "serve-key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_text().strip() == key
    again, said_again = server_key(tmp_path, "192.168.1.5", None)
    assert again == key and key not in said_again and str(kept) in said_again
