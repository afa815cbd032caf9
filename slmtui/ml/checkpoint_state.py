"""A checkpoint's training state without pickle: tensors in safetensors, the rest in JSON.

A workspace can come from elsewhere (a backup, a shared folder), and `torch.load` of a pickled
file can run any code the file names. So the optimizer's moments and the random number states
are written as `state.safetensors` (plain tensors) beside `state.json` (the step, the optimizer's
hyper-parameters, Python's random state, the base model's validation loss), and read back without
unpickling anything. A `state.pt` from before this format is read with `weights_only=True`, which
refuses anything but plain data.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from slmtui.files import read_json_object, write_json_atomic

TENSORS = "state.safetensors"
FIELDS = "state.json"
LEGACY = "state.pt"
_OPTIMIZER = "optimizer"


class UnsafeCheckpoint(ValueError):
    """A checkpoint that holds more than plain data; it is never run."""


def write_state(folder: Path, optimizer: torch.optim.Optimizer, step: int, extra: dict) -> None:
    """Write the state of a run at `step` into `folder` (the adapter is saved beside it)."""
    saved = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"torch_rng": torch.get_rng_state()}
    plain_state: dict[str, dict] = {}
    for index, entries in saved["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{_OPTIMIZER}.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain_state.setdefault(str(index), {})[name] = value
    version, internal, gauss = random.getstate()
    fields = {
        "step": step,
        "optimizer": {"param_groups": saved["param_groups"], "state": plain_state},
        "python_rng": [version, list(internal), gauss],
        **extra,
    }
    save_file(tensors, str(folder / TENSORS))
    write_json_atomic(folder / FIELDS, fields, sync=False)


def read_state(folder: Path) -> dict:
    """The state `write_state` wrote, as `{step, optimizer, torch_rng, python_rng, ...}`."""
    if not (folder / FIELDS).is_file() and (folder / LEGACY).is_file():
        return read_legacy(folder / LEGACY)
    fields = read_json_object(folder / FIELDS)
    tensors = load_file(str(folder / TENSORS))
    state: dict[int, dict] = {
        int(index): dict(entries) for index, entries in fields["optimizer"]["state"].items()
    }
    for key, value in tensors.items():
        if key.startswith(f"{_OPTIMIZER}."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    version, internal, gauss = fields["python_rng"]
    return {
        **fields,
        "optimizer": {"state": state, "param_groups": fields["optimizer"]["param_groups"]},
        "torch_rng": tensors["torch_rng"],
        "python_rng": (version, tuple(internal), gauss),
    }


def read_legacy(path: Path) -> dict:
    """A pickled `state.pt`, read only if it is plain data (tensors, numbers, containers)."""
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpoint(
            f"{path} holds more than plain data (it could run code), so it was not loaded. "
            "Delete that checkpoint folder and train again, or resume an earlier one."
        ) from exc
