"""The NVIDIA GPU a person has, as its driver reports it, and what setup installs for it.

Setup runs this file with the system Python before `.venv` exists (`python3 slmtui/gpu.py
make flavour`), so it imports nothing beyond the standard library. A GPU is found by its
driver (`nvidia-smi`), not by the CUDA compiler: WSL2 and a default toolkit install leave
`nvcc` off PATH, and a card needs no compiler to train.

Which torch build: PyTorch publishes builds for several CUDA versions on its own indexes
(`https://download.pytorch.org/whl/cu130` ...). A driver runs a CUDA version only from its
minimum driver on: CUDA 13.0 needs the 580 series, 12.8 the 570 series, and any 12.x build runs
from 525 on (minor version compatibility). CUDA 12.8 and 13 no longer build for cards before
Volta or Turing, so older cards get the 12.6 build. A driver older than 525 gets the CPU build
and a message saying to update it. The figures are NVIDIA's and PyTorch's published minimums;
none of this was run on a GPU by this project yet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

TORCH_INDEX = "https://download.pytorch.org/whl/{flavour}"
LLAMA_WHEEL_INDEX = "https://abetlen.github.io/llama-cpp-python/whl/cu124"
# (minimum driver major version, torch build, oldest compute capability it builds for)
TORCH_BUILDS = [(580, "cu130", 7.5), (570, "cu128", 7.0), (525, "cu126", 5.0)]


@dataclass(frozen=True)
class NvidiaGpu:
    name: str
    driver: str  # "550.54.14"
    compute: float  # compute capability, 8.9 for an RTX 4070
    memory_mib: int

    @property
    def driver_major(self) -> int:
        try:
            return int(self.driver.split(".")[0])
        except ValueError:
            return 0

    @property
    def arch(self) -> str:
        """The CUDA architecture for CMake: "89" for compute 8.9."""
        return f"{self.compute:.1f}".replace(".", "")


# WSL2 puts the Windows driver's tools here, which a login shell may leave off PATH.
WSL_NVIDIA_SMI = Path("/usr/lib/wsl/lib/nvidia-smi")


def nvidia_gpus() -> list[NvidiaGpu]:
    """The GPUs `nvidia-smi` lists (none when it is missing or fails)."""
    command = shutil.which("nvidia-smi") or (
        str(WSL_NVIDIA_SMI) if WSL_NVIDIA_SMI.exists() else None
    )
    if command is None:
        return []
    try:
        output = subprocess.run(
            [command, "--query-gpu=name,driver_version,compute_cap,memory.total",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in output.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 4:
            continue
        try:
            gpus.append(NvidiaGpu(parts[0], parts[1], float(parts[2]), int(float(parts[3]))))
        except ValueError:
            continue
    return gpus


def find_nvcc() -> str:
    """The CUDA compiler on PATH, else in the toolkit's folder ($CUDA_HOME, by default
    /usr/local/cuda, where a default install leaves it off PATH); "" when there is none."""
    found = shutil.which("nvcc")
    if found:
        return found
    nvcc = Path(os.environ.get("CUDA_HOME") or "/usr/local/cuda") / "bin" / "nvcc"
    return str(nvcc) if nvcc.exists() else ""


@dataclass(frozen=True)
class SetupChoice:
    """What setup installs on this machine, and why."""

    flavour: str  # "cpu", or the torch build: "cu130", "cu128", "cu126"
    torch_index: str  # "" for the default index
    llama: str  # "cpu", or "cuda-sm89" (built for this card's architecture only)
    llama_flags: str  # extra CMake flags for llama.cpp
    nvcc: str
    notes: list[str] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        """The setup stamp's suffix: a change of flavour makes setup run again."""
        return f"{self.flavour}-{self.llama}"


def choose_setup(gpus: list[NvidiaGpu], nvcc: str, override: str = "") -> SetupChoice:
    """The torch build and llama.cpp flags for these GPUs; `override` "0" forces the CPU."""
    if override == "0" or not gpus:
        return SetupChoice("cpu", "", "cpu", "", "")
    gpu = min(gpus, key=lambda g: g.compute)  # every card must run the build
    notes = [f"{gpu.name}: driver {gpu.driver}, compute capability {gpu.compute:.1f}"]
    flavour = next(
        (
            build
            for minimum, build, oldest in TORCH_BUILDS
            if gpu.driver_major >= minimum and gpu.compute >= oldest
        ),
        "",
    )
    if not flavour:
        notes.append(
            f"driver {gpu.driver} is older than any CUDA build of torch needs (525): torch is "
            "installed for the CPU; update the NVIDIA driver and run make again"
        )
        return SetupChoice("cpu", "", "cpu", "", "", notes)
    if not nvcc:
        notes.append(
            "no CUDA toolkit (nvcc on PATH or in /usr/local/cuda/bin): llama.cpp is built for "
            "the CPU, so chat runs there. For chat on the GPU, install the prebuilt CUDA wheel: "
            ".venv/bin/pip install --force-reinstall --no-deps llama-cpp-python==0.3.36 "
            f"--extra-index-url {LLAMA_WHEEL_INDEX}"
        )
        return SetupChoice(flavour, TORCH_INDEX.format(flavour=flavour), "cpu", "", "", notes)
    flags = f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES={gpu.arch} -DCMAKE_CUDA_COMPILER={nvcc}"
    return SetupChoice(
        flavour, TORCH_INDEX.format(flavour=flavour), f"cuda-sm{gpu.arch}", flags, nvcc, notes
    )


def machine_choice() -> SetupChoice:
    """This machine's choice (`SLMTUI_CUDA=0` forces the CPU build)."""
    return choose_setup(nvidia_gpus(), find_nvcc(), os.environ.get("SLMTUI_CUDA", ""))


def cuda_problem(gpus: list[NvidiaGpu], torch_facts: dict) -> str | None:
    """Why a GPU that `nvidia-smi` lists is not used for training (None when it is used, or
    when there is none). `torch_facts` is what torch says: `available`, `cuda` (its build's
    CUDA version, None for a CPU build), `error`."""
    if not gpus or torch_facts.get("available"):
        return None
    gpu = gpus[0]
    built = torch_facts.get("cuda")
    if not built:
        what = "the installed torch is a CPU build"
    else:
        what = f"torch (built for CUDA {built}) cannot use it"
        if torch_facts.get("error"):
            what += f": {torch_facts['error']}"
    return (
        f"{gpu.name} (driver {gpu.driver}) is not used: {what}. Training would run on the CPU. "
        "Run `make setup` again (it installs the torch build this driver loads), or update the "
        "NVIDIA driver"
    )


_TORCH_PROBE = (
    "import json, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "import torch\n"
    "error = ''\n"
    "try:\n"
    "    available = torch.cuda.is_available()\n"
    "except Exception as exc:\n"
    "    available, error = False, str(exc)\n"
    "print(json.dumps({'available': available, 'cuda': torch.version.cuda, 'error': error}))\n"
)


def torch_facts(python: str = sys.executable) -> dict:
    """What torch says of CUDA, asked in a child process (so that this process never loads
    torch); {} when it cannot be asked."""
    try:
        output = subprocess.run(
            [python, "-c", _TORCH_PROBE], capture_output=True, text=True, timeout=120
        ).stdout
        return json.loads(output.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {}


def unused_gpu() -> str | None:
    """The reason a listed NVIDIA GPU goes unused here, or None (no GPU, or it is used)."""
    gpus = nvidia_gpus()
    return cuda_problem(gpus, torch_facts()) if gpus else None


def main(argv: list[str]) -> int:
    """`make flavour|torch-index|llama|llama-flags|stamp|notes`, or `json`."""
    choice = machine_choice()
    if argv[:1] == ["json"]:
        print(json.dumps(asdict(choice), indent=2))
        return 0
    if argv[:1] == ["make"] and len(argv) == 2:
        field_name = argv[1].replace("-", "_")
        value = choice.stamp if field_name == "stamp" else getattr(choice, field_name, None)
        if field_name == "notes":
            value = " | ".join(choice.notes)
        if value is None:
            print(f"unknown field {argv[1]}", file=sys.stderr)
            return 2
        print(value)
        return 0
    print("usage: gpu.py make FIELD | json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
