"""Model versions on a real folder: publish, activate, rollback, delete, leftovers."""

from __future__ import annotations

import json

import pytest

from slmtui.registry import ModelRegistry, RegistryError


def publish(registry: ModelRegistry, quant: str = "Q8_0", **card):
    staging = registry.staging()
    (staging / "model.gguf").write_bytes(b"GGUF" + quant.encode())
    return registry.publish(staging, {"gguf": "model.gguf", "quant": quant, **card})


def test_publish_numbers_versions_writes_cards_and_activates(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    assert registry.versions() == [] and registry.active() is None
    v1 = publish(registry, run="run-1")
    v2 = publish(registry, "F16", run="run-2")
    assert [v.name for v in registry.versions()] == ["v1", "v2"]
    assert registry.active() == v2
    card = json.loads((v2.path / "card.json").read_text())
    assert card["version"] == "v2" and card["quant"] == "F16" and card["run"] == "run-2"
    assert v1.gguf.read_bytes() == b"GGUFQ8_0"
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]


def test_publish_without_the_model_file_is_refused(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    staging = registry.staging()
    with pytest.raises(RegistryError, match="nothing to publish"):
        registry.publish(staging, {"gguf": "model.gguf"})
    assert registry.versions() == []


def test_a_taken_number_is_skipped(tmp_path):
    """Two exports finishing together: the second rename finds v1 taken and takes v2."""
    registry = ModelRegistry(tmp_path / "models")
    publish(registry)
    staging = registry.staging()
    (staging / "model.gguf").write_bytes(b"x")
    (tmp_path / "models" / "v2").mkdir()
    (tmp_path / "models" / "v2" / "other").write_text("someone else's")
    version = registry.publish(staging, {"gguf": "model.gguf", "quant": "F16"})
    assert version.name == "v3"


def test_activate_rollback_and_delete(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
    assert registry.rollback().name == "v2"
    assert registry.rollback().name == "v1"
    with pytest.raises(RegistryError, match="oldest"):
        registry.rollback()
    assert registry.activate("3").name == "v3"  # a bare number works too
    assert registry.delete("v2").name == "v3"  # deleting another version keeps the active one
    assert registry.delete("v3").name == "v1"  # deleting the active one falls back to the newest
    assert registry.delete("v1") is None and registry.active() is None
    with pytest.raises(RegistryError, match="no model version 'v7'"):
        registry.get("v7")


def test_broken_folders_and_leftovers_are_ignored_then_cleaned(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    publish(registry)
    (tmp_path / "models" / "v9").mkdir()  # no card: a crash mid-copy by hand, not a version
    (tmp_path / "models" / "notes").mkdir()
    leftover = registry.staging()
    assert [v.name for v in registry.versions()] == ["v1"]
    registry.clean_leftovers()
    assert not leftover.exists() and (tmp_path / "models" / "v1").is_dir()
