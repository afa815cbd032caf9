"""The whole path on the real SmolLM2-135M: train two steps, chat via the adapter, export F16.

Slow (about two minutes on two cores): the only test that runs export's every check, the greedy
chat that must stop at the turn-end token included, on a model that has learned to stop.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from test_train_cli import SAMPLES, slmtui

from slmtui.registry import ModelRegistry
from slmtui.workspace import Workspace

pytestmark = pytest.mark.slow


def test_real_model_trains_chats_and_exports(tmp_path):
    workspace = Workspace.init(tmp_path / "ws")
    shutil.copytree(SAMPLES / "essays", workspace.writing / "essays")
    root = str(workspace.root)
    text = workspace.config_path.read_text()
    workspace.config_path.write_text(text.replace("seq_len = 0", "seq_len = 256"))
    done = slmtui("-w", root, "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished" and finished["val_ppl"] > 1
    assert Path(finished["adapter_gguf"]).is_file()

    reply = slmtui("-w", root, "chat", "--prompt", "What is a good morning?",
                   "--max-tokens", "24", "--temperature", "0")  # fmt: skip
    assert reply.returncode == 0, reply.stderr[-3000:]
    assert len(reply.stdout.split()) >= 3

    exported = slmtui("-w", root, "export", "--json")  # F16, the default
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
    verified = next(event for event in events if event["event"] == "verified")
    checks = {check["name"]: check for check in verified["checks"]}
    assert set(checks) == {"load", "tokens", "logits", "template", "eos", "stops"}
    assert all(check["passed"] for check in checks.values()), checks
    assert verified["top1_agreement"] == 1.0 and verified["max_abs_diff"] <= 0.15
    version = ModelRegistry(workspace.models).active()
    assert version is not None and version.card["quant"] == "F16"
    assert version.card["metrics"]["val_ppl"] == pytest.approx(finished["val_ppl"])
    print(f"F16: {verified['max_abs_diff']:.3f} max abs, top-1 {verified['top1_agreement']:.1%}")

    published = slmtui("-w", root, "chat", "--prompt", "Hello", "--max-tokens", "16")
    assert published.returncode == 0 and published.stdout.strip()
