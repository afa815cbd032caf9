"""`slmtui bases`: parameters from the published architectures (checked against the models
transformers builds from them), activations measured on one layer, the verdict for a machine,
and setting a base (gated, no chat template, a local folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from slmtui.ml import bases
from slmtui.ml.fit import config_parameters

CATALOG = {candidate.name: candidate for candidate in bases.CATALOG}


@pytest.mark.parametrize("name", list(CATALOG))
def test_parameters_from_the_architecture_match_the_model_it_builds(name):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(CATALOG[name].config)
    hf_config = AutoConfig.for_model(config.pop("model_type"), **config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    assert config_parameters(CATALOG[name].config) == sum(p.numel() for p in model.parameters())


def test_activations_are_measured_and_scale_with_width():
    small = bases.layer_activation_bytes(CATALOG["SmolLM2-135M-Instruct"].config)
    large = bases.layer_activation_bytes(CATALOG["SmolLM2-360M-Instruct"].config)
    assert 10_000 < small < large  # bytes a token, a layer, in float32, LoRA included


def fit(name: str, gb: float, **options):
    values = dict(device="cuda", seq_len=1024, rows=1, dtype="bfloat16", checkpointing=True,
                  rank=16, per_layer=150_000.0)  # fmt: skip
    return bases.fit_of(CATALOG[name], memory=gb * 2**30, **{**values, **options})


def test_the_verdict_follows_the_memory_there_is():
    assert fit("Qwen2.5-1.5B-Instruct", 12).verdict == "fits"
    assert fit("Qwen2.5-3B-Instruct", 6).verdict == "fits with QLoRA"
    assert fit("Qwen3-4B", 3).verdict == "too big"
    # Without checkpointing, 28 layers of activations for 1,024 tokens: about 4 GB more.
    plain = fit("Qwen2.5-1.5B-Instruct", 12, checkpointing=False)
    assert plain.lora_bytes - fit("Qwen2.5-1.5B-Instruct", 12).lora_bytes > 3.5 * 2**30
    with_qlora = fit("Qwen2.5-1.5B-Instruct", 12)
    assert with_qlora.qlora_bytes < with_qlora.lora_bytes


def test_bases_command_lists_every_base_with_its_fit(workspace):
    done = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "bases", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["machine"]["device"] in ("cpu", "cuda")
    listed = {base["name"]: base for base in report["bases"]}
    assert set(listed) == set(CATALOG)
    assert listed["Llama-3.2-1B-Instruct"]["gated"] and not listed["Qwen3-4B"]["gated"]
    verdicts = {"fits", "fits with QLoRA", "too big"}
    assert all(base["verdict"] in verdicts for base in listed.values())
    text = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "bases"], capture_output=True, text=True,
        timeout=600, cwd=workspace.root.parent,
    ).stdout  # fmt: skip
    assert "This machine:" in text and "gemma-3-1b-it" in text and "(gated)" in text


def test_a_gated_repository_says_how_to_get_in(monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def gated(repo_id, **kwargs):
        error = GatedRepoError.__new__(GatedRepoError)  # as the hub answers a 403 on it
        Exception.__init__(error, "403 Client Error: Cannot access gated repo")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    answer = bases.use("Llama-3.2-1B-Instruct")
    assert answer["base"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert "hf auth login" in answer["error"] and "accept the licence" in answer["error"]


def test_setting_a_base_refuses_one_without_a_chat_template(tmp_path, tiny_base, workspace):
    from slmtui.jobs.bases import use_base
    from slmtui.workspace import WorkspaceError

    plain = tmp_path / "plain-base"
    shutil.copytree(tiny_base, plain)
    tokenizer_config = json.loads((plain / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    for extra in plain.glob("chat_template.*"):
        extra.unlink()
    before = workspace.config_path.read_text()
    with pytest.raises(WorkspaceError, match="no chat template"):
        use_base(workspace, str(plain))
    assert workspace.config_path.read_text() == before
    chosen = use_base(workspace, str(tiny_base))
    assert workspace.load_config().model.base == str(tiny_base) == chosen.base
    assert workspace.config_path.read_text().replace(f'"{tiny_base}"', '"default"') == before


def test_a_new_base_starts_a_new_adapter(workspace, tiny_base):
    from slmtui.config import with_changes
    from slmtui.runs import new_run

    config = workspace.load_config()
    first = new_run(workspace, config)
    first.adapter.mkdir(parents=True)
    (first.adapter / "adapter_config.json").write_text("{}")
    assert first.finished
    assert new_run(workspace, config).read_plan().init_adapter == first.adapter
    other = with_changes(config, "model", base=str(tiny_base))
    assert new_run(workspace, other).read_plan().init_adapter is None
