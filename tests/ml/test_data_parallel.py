"""`slmtui train --gpus N`: torchrun, one process per card. Here the cards are a stand-in
nvidia-smi's, and the processes train on the CPU (gloo): the launch is what is tested."""

from __future__ import annotations

import json
import os

from test_train_cli import slmtui, tiny_workspace

from tests.stand_ins import stand_in

RTX_3090 = "NVIDIA GeForce RTX 3090, 580.65.06, 8.6, 24576"


def test_gpus_launches_one_process_per_card(tmp_path, tiny_base, monkeypatch):
    workspace = tiny_workspace(tmp_path, tiny_base)
    root = str(workspace.root)
    refused = slmtui("-w", root, "train", "--gpus", "2", "--dry-run", "--no-generate")
    assert refused.returncode != 0
    assert "--gpus 2: nvidia-smi lists 0 NVIDIA GPUs here" in refused.stderr + refused.stdout
    stand_in(tmp_path / "bin", "nvidia-smi", "\n".join([RTX_3090] * 2))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    done = slmtui("-w", root, "train", "--gpus", "2", "--dry-run", "--no-generate", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    started = next(e for e in events if e["event"] == "started")
    assert started["world_size"] == 2
