import hashlib
import os
import shutil

import pytest

from slmtui.config import with_changes
from slmtui.ingest.store import Store

PROSE = (
    "The ferry was late again this morning, and I stood on the slip with Bosun "
    "watching the oystercatchers argue over the weed.\n\n"
    "Mind you, the tide had its own ideas. It always does."
)


def sample_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def fingerprint(folder):
    return {
        p.relative_to(folder).as_posix(): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_samples_ingest_fully_and_a_second_pass_reads_nothing(samples_workspace, make_ingestor):
    ingestor = make_ingestor(samples_workspace)
    before = fingerprint(samples_workspace.writing)
    first = ingestor.scan()
    assert first.count("added") == len(sample_files(samples_workspace.writing))
    assert first.count("skipped") == 0
    stats = ingestor.store.stats()
    assert stats.documents_ok >= 40
    assert stats.tokens_train > 25_000 and stats.tokens_val > 0
    second = ingestor.scan()
    assert second.changes == [] and second.bytes_read == 0
    assert second.unchanged == first.count("added")
    # Nothing in writing/ was written, made or removed.
    assert fingerprint(samples_workspace.writing) == before


def test_touched_but_unchanged_file_is_hashed_not_rechunked(workspace, make_ingestor):
    path = workspace.writing / "a.txt"
    path.write_text(PROSE)
    ingestor = make_ingestor(workspace)
    ingestor.scan()
    chunk_ids = ingestor.store.db.execute("SELECT id FROM chunks").fetchall()
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    report = ingestor.scan()
    assert report.changes == [] and report.bytes_read == len(PROSE.encode())
    assert ingestor.store.db.execute("SELECT id FROM chunks").fetchall() == chunk_ids
    assert ingestor.scan().bytes_read == 0


def test_edit_rename_delete(workspace, make_ingestor):
    config = with_changes(workspace.load_config(), "ingest", chunk_tokens=32, min_chunk_tokens=4)
    ingestor = make_ingestor(workspace, config)
    path = workspace.writing / "a.txt"
    path.write_text(PROSE)
    ingestor.scan()
    first = ingestor.store.document("a.txt")
    first_chunks = ingestor.store.chunks_of("a.txt")

    path.write_text(PROSE + "\n\nA new paragraph about the causeway petition, at last.")
    report = ingestor.scan()
    assert [c.kind for c in report.changes] == ["updated"]
    edited = ingestor.store.chunks_of("a.txt")
    assert edited[0][1] == first_chunks[0][1]
    assert "causeway petition" in edited[-1][1]
    assert ingestor.store.document("a.txt").split_key == first.split_key

    (workspace.writing / "sub").mkdir()
    path.rename(workspace.writing / "sub" / "b.txt")
    report = ingestor.scan()
    assert [(c.kind, c.path, c.detail) for c in report.changes] == [
        ("renamed", "sub/b.txt", "from a.txt")
    ]
    moved = ingestor.store.document("sub/b.txt")
    assert moved.split_key == first.split_key and moved.id == first.id
    assert ingestor.store.document("a.txt") is None

    (workspace.writing / "sub" / "b.txt").unlink()
    report = ingestor.scan()
    assert [(c.kind, c.path) for c in report.changes] == [("removed", "sub/b.txt")]
    assert ingestor.store.stats().chunks == 0


def test_broken_and_odd_files_are_recorded_and_never_stop_the_pass(
    workspace, make_ingestor, tmp_path
):
    w = workspace.writing
    (w / "good.md").write_text("# Good\n\n" + PROSE)
    (w / "blob.txt").write_bytes(b"\x00\x01\x02binary" * 50)
    (w / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (w / "empty.txt").write_text("")
    (w / "big.txt").write_text("word " * 400_000)
    (w / ".hidden.txt").write_text(PROSE)
    (w / "draft.md~").write_text(PROSE)
    (w / ".#lock.md").write_text(PROSE)
    (w / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (w / "tiny.txt").write_text("Hi.")
    (w / ".git").mkdir()
    (w / ".git" / "config").write_text(PROSE)
    outside = tmp_path / "outside.txt"
    outside.write_text(PROSE)
    (w / "link.txt").symlink_to(outside)
    (w / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    os.mkfifo(w / "pipe.txt")
    config = with_changes(workspace.load_config(), "ingest", max_file_mb=1.0)
    ingestor = make_ingestor(workspace, config)
    report = ingestor.scan()
    reasons = {c.path: c.detail for c in report.changes if c.kind == "skipped"}
    assert reasons == {
        "blob.txt": "binary file (contains NUL bytes), not text",
        "photo.jpg": reasons["photo.jpg"],
        "empty.txt": "empty file",
        "big.txt": "larger than the 1 MB limit (raise ingest.max_file_mb to include it)",
        ".hidden.txt": "hidden file",
        "draft.md~": "editor temporary file",
        ".#lock.md": "editor temporary file",
        "broken.docx": reasons["broken.docx"],
        "tiny.txt": "too short (under 16 tokens)",
        ".git": "hidden folder, not read",
        "link.txt": "symlink points outside the writing folder",
        "dangling.txt": "symlink points outside the writing folder",
        "pipe.txt": "not a regular file",
    }
    assert reasons["photo.jpg"].startswith("unsupported format '.jpg'")
    assert reasons["broken.docx"].startswith("not a readable .docx file")
    assert [c.path for c in report.changes if c.kind == "added"] == ["good.md"]
    stats = ingestor.store.stats()
    assert stats.documents_ok == 1 and stats.documents_skipped == len(reasons)
    # A second pass does not report the same skips again.
    assert ingestor.scan().changes == []


def test_symlink_inside_the_folder_is_read(workspace, make_ingestor):
    (workspace.writing / "real.txt").write_text(PROSE)
    (workspace.writing / "alias.txt").symlink_to(workspace.writing / "real.txt")
    ingestor = make_ingestor(workspace)
    report = ingestor.scan()
    assert sorted(c.path for c in report.changes if c.kind == "added") == ["alias.txt", "real.txt"]
    # Same text twice: the second copy's chunks are duplicates.
    assert ingestor.store.stats().duplicates_removed == ingestor.store.stats().chunks


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_skipped(workspace, make_ingestor):
    path = workspace.writing / "locked.txt"
    path.write_text(PROSE)
    path.chmod(0)
    report = make_ingestor(workspace).scan()
    assert [c.detail for c in report.changes] == ["cannot read: permission denied"]


def test_copies_count_as_duplicates(samples_workspace, make_ingestor):
    essay = next((samples_workspace.writing / "essays").glob("*.md"))
    ingestor = make_ingestor(samples_workspace)
    ingestor.scan()
    before = ingestor.store.stats()
    shutil.copy(essay, samples_workspace.writing / "copy-of-essay.md")
    ingestor.scan()
    after = ingestor.store.stats()
    assert after.duplicates_removed - before.duplicates_removed == len(
        ingestor.store.chunks_of("copy-of-essay.md")
    )
    assert after.chunks == before.chunks


def test_pii_scrubbing_is_off_by_default_and_works_when_on(workspace, make_ingestor):
    text = PROSE + "\n\nWrite to me at odile@slackwater.example or ring +44 1234 567890 any time."
    (workspace.writing / "a.txt").write_text(text)
    plain = make_ingestor(workspace)
    plain.scan()
    assert "odile@slackwater.example" in plain.store.chunks_of("a.txt")[-1][1]
    plain.close()
    config = with_changes(workspace.load_config(), "ingest", scrub_pii=True)
    scrubbed = make_ingestor(workspace, config)
    report = scrubbed.scan()  # settings changed: the document is read again
    assert [c.kind for c in report.changes] == ["updated"]
    last = scrubbed.store.chunks_of("a.txt")[-1][1]
    assert "[email]" in last and "[phone]" in last and "@" not in last


def test_missing_writing_folder_changes_nothing(workspace, make_ingestor):
    (workspace.writing / "a.txt").write_text(PROSE)
    ingestor = make_ingestor(workspace)
    ingestor.scan()
    shutil.rmtree(workspace.writing)
    report = ingestor.scan()
    assert "missing" in report.note and report.changes == []
    assert ingestor.store.document("a.txt") is not None


def test_sync_of_individual_paths(workspace, make_ingestor):
    ingestor = make_ingestor(workspace)
    folder = workspace.writing / "folder"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(f"{name}. {PROSE}")
    report = ingestor.sync([folder])
    assert sorted(c.path for c in report.changes) == ["folder/a.txt", "folder/b.txt"]
    shutil.rmtree(folder)
    report = ingestor.sync([folder])
    assert sorted((c.kind, c.path) for c in report.changes) == [
        ("removed", "folder/a.txt"),
        ("removed", "folder/b.txt"),
    ]
    with Store(workspace.db_path) as store:
        assert store.paths() == set()
