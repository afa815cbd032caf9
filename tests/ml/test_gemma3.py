"""Gemma 3 through the whole path on a tiny random model: train, chat with the runtime LoRA,
export (convert, verify, publish), chat with the published version."""

from __future__ import annotations

import json
from pathlib import Path

from test_train_cli import slmtui, tiny_workspace

from slmtui.registry import ModelRegistry


def test_gemma3_trains_chats_exports_and_chats_again(tmp_path, tiny_gemma3):
    workspace = tiny_workspace(tmp_path, tiny_gemma3)
    root = str(workspace.root)
    done = slmtui("-w", root, "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished" and Path(finished["adapter_gguf"]).is_file()

    # llama.cpp runs the base (converted from the folder) with the LoRA GGUF applied at load.
    chat = ("chat", "--prompt", "Hello", "--max-tokens", "4")
    reply = slmtui("-w", root, *chat, "--model", "adapter")
    assert reply.returncode == 0, reply.stderr[-3000:]

    exported = slmtui("-w", root, "export", "--json", "--skip-chat-check")
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert exported.returncode == 0, exported.stderr[-3000:] + exported.stdout[-3000:]
    verified = next(event for event in events if event["event"] == "verified")
    # The merged Gemma 3 (norms + 1, sliding layers, scaled embeddings) runs in llama.cpp as in
    # transformers, on probes longer than its 8-token window.
    assert verified["passed"] and verified["max_abs_diff"] <= 0.15, verified["checks"]
    version = ModelRegistry(workspace.models).active()
    assert version is not None and version.card["chat_template"] == "gemma"
    assert "<start_of_turn>" in (version.path / "Modelfile").read_text()

    reply = slmtui("-w", root, *chat)
    assert reply.returncode == 0, reply.stderr[-3000:]
