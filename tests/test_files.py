"""Folders replaced, placed and removed through slmtui/files.py: a reader finds the old folder or
the new one, never a mix, and a failure leaves the old one as it was."""

from __future__ import annotations

import pytest

from slmtui.files import atomic_folder, place_folder, remove_folder, replace_folder


def test_a_finished_folder_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_folder(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".adapter.")
        (tmp / "new.txt").write_text("new")
        assert (out / "old.txt").is_file()  # nothing moves before the folder is finished
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # nothing left aside


def test_a_failed_folder_leaves_the_old_one_and_no_temporary(tmp_path):
    out = tmp_path / "step-000010"
    out.mkdir()
    (out / "state.json").write_text("{}")
    with pytest.raises(OSError, match="disk full"), atomic_folder(out) as tmp:
        (tmp / "half").write_text("x")
        raise OSError("disk full")
    assert sorted(p.name for p in out.iterdir()) == ["state.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000010"]


def test_a_new_folder_needs_no_old_one(tmp_path):
    source = tmp_path / "made"
    source.mkdir()
    (source / "a").write_text("a")
    (tmp_path / "deep").mkdir()
    replace_folder(source, tmp_path / "deep" / "target")
    assert (tmp_path / "deep" / "target" / "a").read_text() == "a" and not source.exists()


def test_a_taken_name_is_never_replaced(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "card.json").write_text(folder.name)
    assert place_folder(first, tmp_path / "v1")
    assert not place_folder(second, tmp_path / "v1")  # another export took the number
    assert (tmp_path / "v1" / "card.json").read_text() == "first" and second.is_dir()


def test_a_removed_folder_is_gone_and_leaves_nothing(tmp_path):
    doomed = tmp_path / "v2"
    (doomed / "inner").mkdir(parents=True)
    (doomed / "inner" / "model.gguf").write_bytes(b"\0" * 10)
    remove_folder(doomed)
    assert list(tmp_path.iterdir()) == []
