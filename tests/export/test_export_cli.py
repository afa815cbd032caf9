"""train -> export -> models -> chat from the command line, on a workspace with the tiny llama."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from test_train_cli import slmtui, tiny_workspace

from slmtui.registry import ModelRegistry


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_llama):
    workspace = tiny_workspace(tmp_path_factory.mktemp("export-cli"), tiny_llama)
    done = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished" and Path(finished["adapter_gguf"]).is_file()
    return workspace


def export(workspace, *extra: str):
    done = slmtui("-w", str(workspace.root), "export", "--json", "--skip-chat-check", *extra)
    return done, [json.loads(line) for line in done.stdout.splitlines()]


def test_export_verifies_publishes_and_versions_roll_back(trained):
    workspace = trained
    root = str(workspace.root)
    done, events = export(workspace, "--quant", "F16")
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "started" and kinds[-1] == "published"
    verified = next(event for event in events if event["event"] == "verified")
    assert verified["passed"] and verified["max_abs_diff"] <= 0.15
    assert verified["top1_agreement"] == 1.0
    assert {check["name"] for check in verified["checks"]} == {
        "load", "tokens", "logits", "template", "eos"
    }  # fmt: skip

    registry = ModelRegistry(workspace.models)
    v1 = registry.active()
    assert v1 is not None and v1.name == "v1" and v1.gguf.name == "model-F16.gguf"
    assert v1.card["quant"] == "F16" and v1.card["dataset_hash"]
    modelfile = (v1.path / "Modelfile").read_text()
    assert "FROM ./model-F16.gguf" in modelfile and "<|im_start|>{{ .Role }}" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "llama-server -m model-F16.gguf" in (v1.path / "README.md").read_text()

    # Q8_0 rounds the tiny model's 64-wide rows coarsely: its top-1 agreement (96%) misses the
    # 98% bar, so nothing is published and v1 stays active, with no staging folder left over.
    done, events = export(workspace, "--quant", "Q8_0")
    assert done.returncode == 1
    failed = events[-1]
    assert failed["event"] == "failed" and failed["stage"] == "verify"
    assert "nothing published" in failed["reason"] and "needs >= 98%" in failed["reason"]
    assert registry.active().name == "v1" and [v.name for v in registry.versions()] == ["v1"]
    assert sorted(p.name for p in workspace.models.iterdir()) == ["active", "v1"]

    done, events = export(workspace, "--quant", "Q4_K_M")  # agreement reported, not required
    assert done.returncode == 0, done.stderr[-3000:]
    listing = json.loads(slmtui("-w", root, "models", "--json").stdout)
    assert listing["active"] == "v2"
    assert [v["quant"] for v in listing["versions"]] == ["F16", "Q4_K_M"]
    assert listing["versions"][1]["size_bytes"] < listing["versions"][0]["size_bytes"]

    back = slmtui("-w", root, "models", "rollback")
    assert back.returncode == 0 and "v1 is now active" in back.stdout
    refused = slmtui("-w", root, "models", "delete", "v2")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gone = slmtui("-w", root, "models", "delete", "v1", "--yes")
    assert gone.returncode == 0 and "active: v2" in gone.stdout
    assert [v.name for v in registry.versions()] == ["v2"]


def test_chat_prompt_uses_the_adapter_then_a_version(trained):
    root = str(trained.root)
    reply = slmtui("-w", root, "chat", "--prompt", "Hello there", "--max-tokens", "8",
                   "--temperature", "0")  # fmt: skip
    assert reply.returncode == 0, reply.stderr[-3000:]
    assert reply.stdout.strip()  # a tiny random model says something, if nonsense
    base = slmtui("-w", root, "chat", "--model", "base", "--prompt", "Hello there",
                  "--max-tokens", "8", "--temperature", "0")  # fmt: skip
    assert base.returncode == 0, base.stderr[-3000:]
    talk = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", root, "chat", "--model", "base",
         "--max-tokens", "6", "--temperature", "0"],
        input="Hello\nAnd again\n\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert talk.returncode == 0, talk.stderr[-3000:]
    assert "Chatting with base" in talk.stdout
    assert talk.stdout.count("model> ") == 2 and talk.stdout.count("tokens/s") == 2
    missing = slmtui("-w", root, "chat", "--model", "v99", "--prompt", "hi")
    assert missing.returncode == 2 and "no model version 'v99'" in missing.stderr
