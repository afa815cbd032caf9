"""A checkpoint's training state without pickle: tensors in safetensors, the rest in JSON.

A workspace can come from elsewhere (a backup, a shared folder), and `torch.load` of a pickled
file can run any code the file names. So the optimizer's moments and the random number states
are written as `state.safetensors` (plain tensors) beside `state.json` (the step, the optimizer's
hyper-parameters, Python's random state, the base model's validation loss), and read back without
unpickling anything. A `state.pt` from before this format is read with `weights_only=True`, which
refuses anything but plain data.

A checkpoint folder (`step-NNNNNN/`: the adapter and this state) is written whole or not at all
(`files.atomic_folder`), and `restore` reads the latest one back into a model.
"""

from __future__ import annotations

import logging
import pickle
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from slmtui.files import atomic_folder, read_json_object, write_json_atomic, write_text_atomic
from slmtui.ml.errors import TrainingError
from slmtui.runs import RunFolder

log = logging.getLogger("slmtui.train")

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


def save_checkpoint(run: RunFolder, model, optimizer, step: int, extra: dict) -> Path:
    """Write to a temporary folder, then rename; the previous checkpoint stays until then."""
    root = run.checkpoints
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    try:
        with atomic_folder(final) as tmp:
            model.save_pretrained(str(tmp / "adapter"))
            write_state(tmp, optimizer, step, extra)
        write_text_atomic(run.latest_pointer, name)
    except OSError as exc:
        previous = run.latest_checkpoint()
        kept = f"the previous checkpoint ({previous.name}) is intact" if previous else "none kept"
        raise TrainingError(
            f"Could not save a checkpoint ({exc.strerror or exc}); {kept}."
        ) from exc
    for old in sorted(root.glob("step-*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def restore(run: RunFolder, model, resume: bool) -> dict:
    """The adapter weights and saved state of the latest checkpoint, when resuming ({} if not)."""
    checkpoint = run.latest_checkpoint() if resume else None
    if resume and checkpoint is None:
        log.info("--resume given but no checkpoint found; starting from step 0")
    if checkpoint is None:
        return {}
    from peft import set_peft_model_state_dict

    try:  # the state first: an unsafe one is refused before anything else is read
        state = read_state(checkpoint)
    except UnsafeCheckpoint as exc:
        raise TrainingError(str(exc)) from exc
    weights = load_file(str(checkpoint / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    return state
