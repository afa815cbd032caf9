"""Which model chat talks to: a published version, the newest adapter on the base, or the base.

The rule a user can predict: by default chat uses the newest thing trained. When the last
finished run is newer than the active published version (or nothing is published yet), that is
the base GGUF plus the run's LoRA GGUF, applied at load time, so a finished training is chattable
at once. Once that run is exported, the published (merged, quantized, verified) GGUF takes over.
"""

from __future__ import annotations

from pathlib import Path

from slmtui import runs
from slmtui.chat.engine import ChatTarget
from slmtui.registry import ModelRegistry, RegistryError
from slmtui.tokenizer import DEFAULT_BASE, TokenizerError, bundled_gguf_path
from slmtui.workspace import Workspace


class TargetError(RuntimeError):
    """The model asked for cannot be found; the message says what exists."""


def base_gguf(base: str, cache: Path) -> Path:
    """The base model as a GGUF file: the bundled one, the configured file, or a converted folder.

    A Hugging Face folder is converted to F16 once and cached, keyed by the folder's config and
    weights' modification times.
    """
    if base == DEFAULT_BASE:
        try:
            return bundled_gguf_path()
        except TokenizerError as exc:
            raise TargetError(str(exc)) from exc
    path = Path(base).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if path.is_dir():
        from slmtui.export.gguf_convert import convert_to_gguf

        stamp = max(p.stat().st_mtime_ns for p in path.iterdir() if p.is_file())
        out = cache / "base-gguf" / f"{path.name}-{stamp}.f16.gguf"
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            convert_to_gguf(path, out, outtype="f16")
        return out
    raise TargetError(
        f"Base model {base!r} is not a GGUF file or a local model folder, so chat cannot load it."
    )


def adapter_target(workspace: Workspace, base: str, run: runs.RunFolder) -> ChatTarget:
    return ChatTarget(f"{run.name} (adapter)", base_gguf(base, workspace.cache), run.adapter_gguf)


def resolve_target(workspace: Workspace, base: str, spec: str | None = None) -> ChatTarget:
    """The model for `spec`: None (newest), "base", "adapter" (newest run's LoRA), a run's name
    ("run-20261202-175929": that run's LoRA), or "vN"."""
    registry = ModelRegistry(workspace.models)
    if spec == "base":
        return ChatTarget("base", base_gguf(base, workspace.cache))
    if spec == "adapter":
        run = _latest_with_adapter(workspace)
        if run is None:
            raise TargetError("No finished training run has an adapter yet: run `slmtui train`.")
        return adapter_target(workspace, base, run)
    if spec and spec.startswith("run-"):
        named = runs.RunFolder(workspace.runs / spec)
        if not (named.finished and named.adapter_gguf.is_file()):
            raise TargetError(
                f"There is no finished run {spec!r} with an adapter in {workspace.runs}."
            )
        return adapter_target(workspace, base, named)
    if spec:
        try:
            version = registry.get(spec)
        except RegistryError as exc:
            raise TargetError(str(exc)) from exc
        return ChatTarget(version.name, version.gguf)
    active = registry.active()
    run = _latest_with_adapter(workspace)
    if run is not None and (active is None or not _exported(active.card, run)):
        return adapter_target(workspace, base, run)
    if active is not None:
        return ChatTarget(active.name, active.gguf)
    return ChatTarget("base", base_gguf(base, workspace.cache))


def _latest_with_adapter(workspace: Workspace) -> runs.RunFolder | None:
    for run in reversed(runs.runs(workspace)):
        if run.finished and run.adapter_gguf.is_file():
            return run
    return None


def _exported(card: dict, run: runs.RunFolder) -> bool:
    """Whether a version was made from this run or a later one (run names sort by time)."""
    return str(card.get("run", "")) >= run.name
