"""The export job: `python -m slmtui.ml.publish RUN_DIR MODELS_DIR [--quant F16|Q8_0|Q4_K_M]`.

Read it top to bottom: merge the run's LoRA into the full-precision base while writing an F16
GGUF (our converter adds B·A to each weight as it streams past), quantize it with llama.cpp's
quantizer, verify the result against the merged model in float32 (slmtui.ml.verify), write the
Ollama Modelfile and the model card, and only then publish the folder as the next version by
one rename. Everything before the rename happens in a hidden staging folder that is removed on
any failure, so a failed export leaves the published versions and the active one as they were.

Events (slmtui.jobs.events), one JSON object per line on stdout: started, stage (name, seconds),
verified (every check), published (version, file, size), failed (a reason a person can act on,
and the stage).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

from slmtui.dataset.build import read_manifest
from slmtui.export.errors import ConvertError
from slmtui.export.modelfile import render_modelfile, template_family
from slmtui.export.quantize import EXPORT_QUANTS
from slmtui.files import write_text_atomic
from slmtui.formats import format_ppl_change, format_size
from slmtui.jobs.events import emit
from slmtui.ml.base import BaseModelError
from slmtui.registry import ModelRegistry
from slmtui.runs import RunFolder, RunPlan

log = logging.getLogger("slmtui.export")
METRIC_KEYS = ("val_loss_base", "val_ppl_base", "val_loss", "val_ppl")


class ExportError(RuntimeError):
    """A failure with a reason a person can act on; becomes the `failed` event."""


class Stages:
    """Times each stage and remembers which one was running when something failed."""

    def __init__(self) -> None:
        self.current = "prepare"
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work, **details):
        self.current = name
        started = time.perf_counter()
        value = work()
        self.seconds[name] = round(time.perf_counter() - started, 3)
        emit("stage", stage=name, seconds=self.seconds[name], **details)
        return value


def merged_model(base_folder: Path, adapter: Path):
    """The base in float32 with the adapter merged by PEFT: the reference for verification."""
    from peft import PeftModel

    from slmtui.ml.base import load_base

    model, tokenizer = load_base(base_folder, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.eval(), tokenizer


def export(run: RunFolder, models_dir: Path, quant: str, stages: Stages, chat_check: bool) -> dict:
    from slmtui.export.gguf_convert import convert_to_gguf
    from slmtui.export.quantize import quantize_gguf
    from slmtui.ml.base import resolve_base
    from slmtui.ml.verify import verify_gguf

    plan = run.read_plan()
    adapter = run.adapter
    if not run.finished:
        raise ExportError(
            f"{run.name} has no finished adapter to export: finish (or resume) its training."
        )
    base_folder = resolve_base(plan.base, plan.cache_root)
    emit("started", run=run.name, quant=quant, base=plan.base, base_folder=str(base_folder))

    registry = ModelRegistry(models_dir)
    staging = registry.staging()
    try:
        f16 = staging / "model-F16.gguf"
        converted = stages.run(
            "convert",
            lambda: convert_to_gguf(base_folder, f16, outtype="f16", adapter=adapter),
            what="merge the adapter into the base and write an F16 GGUF",
        )
        final = f16
        if quant != "F16":
            final = staging / f"model-{quant}.gguf"
            stages.run("quantize", lambda: quantize_gguf(f16, final, quant), what=quant)
            f16.unlink()
        model, tokenizer = stages.run(
            "reference", lambda: merged_model(base_folder, adapter), what="merged model, float32"
        )
        report = stages.run(
            "verify",
            lambda: verify_gguf(final, model, tokenizer, quant, chat_must_stop=chat_check),
        )
        emit("verified", **report.as_dict())
        if not report.passed:
            raise ExportError(f"Verification failed, nothing published. {report.reason}")
        template = tokenizer.chat_template
        write_text_atomic(staging / "Modelfile", render_modelfile(final.name, template))
        card = model_card(run, plan, quant, final, report.as_dict(), template)
        card["seconds"] = {**stages.seconds, "convert_only": round(converted.seconds, 3)}
        write_text_atomic(staging / "README.md", card_markdown(card))
        version = stages.run("publish", lambda: registry.publish(staging, card))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "version": version.name,
        "path": str(version.path),
        "gguf": str(version.gguf),
        "size_bytes": version.size_bytes,
    }


def model_card(
    run: RunFolder, plan: RunPlan, quant: str, gguf: Path, verification: dict, template: str | None
) -> dict:
    metrics = run.metrics()
    manifest = read_manifest(run.dataset)
    family = template_family(template)
    return {
        "gguf": gguf.name,
        "quant": quant,
        "size_bytes": gguf.stat().st_size,
        "base": plan.base,
        "run": run.name,
        "dataset_hash": manifest.get("hash"),
        "dataset_stats": manifest.get("stats"),
        "metrics": {key: metrics.get(key) for key in METRIC_KEYS},
        "train": plan.as_dict()["train"],
        "chat_template": family.name if family else "unknown",
        "verification": verification,
    }


def card_markdown(card: dict) -> str:
    metrics = card["metrics"]
    ppl = (
        format_ppl_change(metrics["val_ppl_base"], metrics["val_ppl"], "(base) ->") + " (tuned)"
        if metrics.get("val_ppl") and metrics.get("val_ppl_base")
        else "not measured"
    )
    checks = "\n".join(
        f"- {'pass' if check['passed'] else 'FAIL'} {check['name']}: {check['detail']}"
        for check in card["verification"]["checks"]
    )
    return f"""# {card["gguf"]}

A model fine-tuned by slmtui on its author's own writing.

| | |
|---|---|
| base | {card["base"]} |
| run | {card["run"]} |
| dataset | {card["dataset_hash"] or "unknown"} |
| validation perplexity | {ppl} |
| quantization | {card["quant"]} |
| size | {format_size(card["size_bytes"])} |

## Verification
{checks}

## Use it elsewhere
- Ollama: `ollama create my-voice -f Modelfile`, then `ollama run my-voice`.
- llama.cpp: `llama-server -m {card["gguf"]}` (OpenAI-compatible server on port 8080).
- LM Studio: copy {card["gguf"]} into a folder under LM Studio's models folder, e.g.
  `~/.lmstudio/models/slmtui/my-voice/`, and pick it in the model list.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.ml.publish")
    parser.add_argument("run_dir")
    parser.add_argument("models_dir")
    parser.add_argument("--quant", default="F16", type=str.upper, choices=EXPORT_QUANTS)
    parser.add_argument(
        "--no-chat-check",
        action="store_true",
        help="skip the greedy-chat-stops check (for untrained test models)",
    )
    args = parser.parse_args(argv)
    run = RunFolder(Path(args.run_dir))
    logging.basicConfig(
        filename=run.log("export"),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stages = Stages()
    try:
        result = export(run, Path(args.models_dir), args.quant, stages, not args.no_chat_check)
    except Exception as exc:
        log.exception("export failed in %s", stages.current)
        readable = isinstance(exc, (ExportError, ConvertError, BaseModelError))
        reason = str(exc) if readable else f"{type(exc).__name__}: {exc}"
        emit("failed", stage=stages.current, reason=reason[:1000])
        return 1
    emit("published", **result, seconds=stages.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
