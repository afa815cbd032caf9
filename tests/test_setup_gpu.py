"""Setup's GPU choices, with a stand-in `nvidia-smi` (and `nvcc`) on PATH: which torch build,
which llama.cpp flags, and the message for a GPU torch cannot use. Nothing here runs CUDA."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from slmtui.gpu import NvidiaGpu, choose_setup, cuda_problem, nvidia_gpus
from tests.stand_ins import stand_in

ROOT = Path(__file__).resolve().parent.parent
RTX_4070 = NvidiaGpu("NVIDIA GeForce RTX 4070", "550.54.14", 8.9, 12282)


@pytest.mark.parametrize(
    ("driver", "compute", "flavour"),
    [
        ("580.65.06", 8.9, "cu130"),
        ("575.51.03", 8.6, "cu128"),
        ("550.54.14", 8.9, "cu126"),
        ("535.183.01", 8.6, "cu126"),
        ("580.65.06", 6.1, "cu126"),  # Pascal: CUDA 12.8 and 13 no longer build for it
        ("470.256.02", 8.6, "cpu"),  # too old for any CUDA 12 build
    ],
)
def test_torch_build_follows_the_driver(driver, compute, flavour):
    choice = choose_setup([NvidiaGpu("card", driver, compute, 12000)], nvcc="/usr/bin/nvcc")
    assert choice.flavour == flavour
    if flavour == "cpu":
        assert choice.torch_index == "" and "update the NVIDIA driver" in choice.notes[-1]
    else:
        assert choice.torch_index == f"https://download.pytorch.org/whl/{flavour}"


def test_llama_cpp_is_built_for_this_card_only_or_the_prebuilt_wheel_is_named():
    choice = choose_setup([RTX_4070], nvcc="/usr/local/cuda/bin/nvcc")
    assert choice.llama == "cuda-sm89"
    assert "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=89" in choice.llama_flags
    assert choice.stamp == "cu126-cuda-sm89"
    without = choose_setup([RTX_4070], nvcc="")
    assert without.llama == "cpu" and without.llama_flags == "" and without.flavour == "cu126"
    assert "prebuilt CUDA wheel" in without.notes[-1] and "--extra-index-url" in without.notes[-1]
    assert choose_setup([RTX_4070], nvcc="/x/nvcc", override="0").flavour == "cpu"
    assert choose_setup([], nvcc="/x/nvcc").stamp == "cpu-cpu"


def _make_dry_run(tmp_path: Path, smi: str | None, nvcc: bool) -> str:
    bin_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    if smi is not None:
        stand_in(bin_dir, "nvidia-smi", smi)
    if nvcc:
        stand_in(bin_dir, "nvcc", "nvcc: NVIDIA (R) Cuda compiler driver")
    # Only the stand-ins, make's own folder and Python: no nvcc the machine may have.
    path = os.pathsep.join([str(bin_dir), str(Path(shutil.which("make")).parent), "/bin"])
    env = {**os.environ, "PATH": path, "HOME": str(tmp_path), "CUDA_HOME": str(tmp_path / "none")}
    env.pop("SLMTUI_CUDA", None)
    result = subprocess.run(
        ["make", "-n", "setup", f"PYTHON={sys.executable}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


def test_make_dry_run_shows_the_chosen_index_and_flags(tmp_path):
    gpu = _make_dry_run(tmp_path, "NVIDIA GeForce RTX 4070, 550.54.14, 8.9, 12282", nvcc=True)
    assert "--index-url https://download.pytorch.org/whl/cu126" in gpu
    assert "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=89" in gpu
    assert "pip wheel --verbose" in gpu  # the CUDA build shows its progress
    assert ".slmtui-setup-cu126-cuda-sm89" in gpu
    no_toolkit = _make_dry_run(tmp_path, "NVIDIA GeForce RTX 3060, 535.183.01, 8.6, 12288", False)
    assert "whl/cu126" in no_toolkit and "GGML_CUDA" not in no_toolkit
    assert "prebuilt CUDA wheel" in no_toolkit
    cpu = _make_dry_run(tmp_path, None, nvcc=True)
    assert "download.pytorch.org" not in cpu and "GGML_CUDA" not in cpu
    assert ".slmtui-setup-cpu-cpu" in cpu


def test_nvcc_in_the_toolkit_folder_is_found(tmp_path, monkeypatch):
    from slmtui.gpu import find_nvcc

    (tmp_path / "bin").mkdir()
    stand_in(tmp_path / "bin", "nvcc", "nvcc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    assert find_nvcc() == str(tmp_path / "bin" / "nvcc")
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "none"))
    assert find_nvcc() == ""


def test_nvidia_smi_is_read_and_an_unusable_gpu_is_reported(tmp_path, monkeypatch):
    stand_in(tmp_path, "nvidia-smi", "NVIDIA GeForce RTX 4070, 550.54.14, 8.9, 12282")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    (gpu,) = nvidia_gpus()
    assert gpu == RTX_4070
    said = cuda_problem([gpu], {"available": False, "cuda": "13.0", "error": ""})
    assert "RTX 4070 (driver 550.54.14) is not used" in said and "CUDA 13.0" in said
    assert "make setup" in said
    assert "CPU build" in cuda_problem([gpu], {"available": False, "cuda": None})
    assert cuda_problem([gpu], {"available": True, "cuda": "12.6"}) is None
    assert cuda_problem([], {}) is None


def test_status_names_a_gpu_torch_cannot_use(tmp_path, workspace):
    """This machine's torch is a CPU build: with a stand-in nvidia-smi, status says so."""
    stand_in(tmp_path, "nvidia-smi", "NVIDIA GeForce RTX 4070, 550.54.14, 8.9, 12282")
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "status"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "GPU: NVIDIA GeForce RTX 4070 (driver 550.54.14) is not used" in done.stdout
    plain = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "status", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert json.loads(plain.stdout)["gpu_problem"] is None


def test_gpu_check_says_no_cuda_device_cleanly(tmp_path):
    """benchmarks/gpu_check.sh on this machine: no card, so one JSON object that says so."""
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["cuda"] is False and report["reason"] == "no CUDA device"


def test_gpu_check_runs_every_section_on_the_cpu_in_smoke_mode(tmp_path):
    """Its code, not its figures: every section runs (tiny shapes, on the CPU)."""
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "SMOKE": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    sections = ("facts", "numerics", "qlora_load", "memory", "training", "throughput", "decode")
    for name in sections:
        assert "error" not in report[name], (name, report[name])
    assert report["numerics"]["packed_attention_max_diff"] < 1e-4
    assert report["training"]["cpu"]["events"][-1] == "finished"
    assert report["qlora_load"]["parameters"] > report["qlora_load"]["numel_sum"]  # 4-bit packs
