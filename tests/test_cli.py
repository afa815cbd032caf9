"""The headless commands, run as a user runs them: the installed `slmtui` in a subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from slmtui.cli import main
from slmtui.cli.writing import NOT_WRITING

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def slmtui(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_init_ingest_status_json_round_trip(tmp_path):
    root = tmp_path / "ws"
    made = slmtui("init", str(root))
    assert made.returncode == 0, made.stderr
    assert "put your writing in" in made.stdout
    shutil.copytree(SAMPLES, root / "writing", dirs_exist_ok=True, ignore=NOT_WRITING)
    (root / "writing" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")

    ingested = slmtui("ingest", cwd=root / "writing")  # found by walking up from the cwd
    assert ingested.returncode == 0, ingested.stderr
    assert "added" in ingested.stdout and "skipped  broken.pdf" in ingested.stdout

    status = slmtui("-w", str(root), "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    for key in ("documents_ok", "documents_skipped", "skipped", "chunks", "tokens_train",
                "tokens_val", "duplicates_removed"):  # fmt: skip
        assert key in data
    assert data["documents_ok"] >= 40
    assert data["documents_skipped"] == 1
    assert data["skipped"][0]["path"] == "broken.pdf"
    assert data["skipped"][0]["reason"].startswith("not a readable PDF")
    assert data["tokens_train"] > data["tokens_val"] > 0
    assert data["val_documents"] >= 5  # held-out passages come from several documents

    human = slmtui("-w", str(root), "status")
    assert f"validation from {data['val_documents']} documents" in human.stdout
    assert "By format:" in human.stdout and "broken.pdf: not a readable PDF" in human.stdout

    again = slmtui("-w", str(root), "ingest")
    assert "unchanged" in again.stdout
    assert "added" not in again.stdout


def test_errors_are_one_clear_line_and_exit_2(tmp_path, capsys):
    assert main(["-w", str(tmp_path), "status"]) == 2
    assert "not an slmtui workspace" in capsys.readouterr().err
    root = tmp_path / "ws"
    assert main(["init", str(root)]) == 0
    (root / "slmtui.toml").write_text("[ingest]\nchunk_tokens = 'lots'\n")
    assert main(["-w", str(root), "ingest"]) == 2
    err = capsys.readouterr().err
    assert "slmtui.toml" in err and "'ingest.chunk_tokens' must be an integer" in err


def test_watch_prints_a_line_per_change(tmp_path):
    root = tmp_path / "ws"
    assert main(["init", str(root)]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "slmtui.cli", "-w", str(root), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Watching" in process.stdout.readline()
        (root / "writing" / "note.md").write_text(
            "# A note\n\nThe Minister stood in the shallows all morning, grey and patient."
        )
        line = process.stdout.readline()
        assert "added" in line and "note.md" in line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_status_lists_chats_their_participants_and_who_you_are(tmp_path):
    from tests.chat_exports import whatsapp_android

    root = tmp_path / "ws"
    assert slmtui("init", str(root)).returncode == 0
    rows = [
        (1767225600.0 + i * 60, ["Ana", "Elena", "Elena"][i % 3], f"line {i} ok") for i in range(30)
    ]
    (root / "writing" / "WhatsApp Chat with Ana.txt").write_bytes(whatsapp_android(rows))
    assert slmtui("-w", str(root), "ingest").returncode == 0
    shown = slmtui("-w", str(root), "status").stdout
    assert "You (proposed): Elena" in shown and '[identity] names = ["Elena"]' in shown
    assert "Ana [whatsapp]: 30 messages; Elena 20 (you), Ana 10" in shown
    data = json.loads(slmtui("-w", str(root), "status", "--json").stdout)
    assert data["chats"] == 1 and data["messages"] == 30
    assert data["identity"] == {
        "names": [],
        "proposed": "Elena",
        "matched": ["Elena"],
        "candidates": [],
    }
    (chat,) = data["chat_list"]
    assert chat["participants"] == {"Elena": 20, "Ana": 10}
    assert chat["files"] == ["WhatsApp Chat with Ana.txt"]
    # init --name writes who you are, and the system prompt with the name filled in.
    named = tmp_path / "named"
    assert slmtui("init", str(named), "--name", "Elena").returncode == 0
    text = (named / "slmtui.toml").read_text()
    assert 'names = ["Elena"]' in text and 'system_prompt = "You are Elena.' in text
