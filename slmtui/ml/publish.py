"""The export job: `python -m slmtui.ml.publish RUN_DIR MODELS_DIR [--quant TYPE ...]`.

Read it top to bottom: merge the run's LoRA into the full-precision base while writing an F16
GGUF (our converter adds B·A to each weight as it streams past), verify it against the merged
model in float32 (slmtui.ml.verify), quantize it to each requested type with llama.cpp's
quantizer and measure what each costs against F16 on the held-out writing
(slmtui.ml.quant_cost; a type past its budget is refused), write the Ollama Modelfile and the
model card, and only then publish the folder as the next version by one rename. Everything
before the rename happens in a hidden staging folder that is removed on any failure, so a
failed export leaves the published versions and the active one as they were.

Events (slmtui.jobs.events), one JSON object per line on stdout: started, stage (name, seconds),
verified (every check), measured (a type's cost, budget, passed), published (version, files,
refused types), failed (a reason a person can act on, and the stage).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

from slmtui.config import EXPORT_QUANTS
from slmtui.dataset.snapshot import read_manifest
from slmtui.export.errors import ConvertError
from slmtui.export.modelfile import render_modelfile, template_family
from slmtui.files import is_disk_full, write_text_atomic
from slmtui.formats import format_ppl_change, format_size, quant_cost_words
from slmtui.jobs.events import emit
from slmtui.locks import Busy, WorkLock
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


def export(
    run: RunFolder,
    models_dir: Path,
    quants: list[str],
    budgets: dict[str, float],
    stages: Stages,
    chat_check: bool,
) -> dict:
    from slmtui.export.gguf_convert import convert_to_gguf
    from slmtui.ml.base import resolve_base
    from slmtui.ml.verify import verify_gguf

    plan = run.read_plan()
    adapter = run.adapter
    if not run.finished:
        raise ExportError(
            f"{run.name} has no finished adapter to export: finish (or resume) its training."
        )
    base_folder = resolve_base(plan.base, plan.cache_root)
    emit(
        "started",
        run=run.name,
        quant=" + ".join(quants),
        quants=quants,
        base=plan.base,
        base_folder=str(base_folder),
    )

    registry = ModelRegistry(models_dir)
    staging = registry.staging()
    try:
        f16 = staging / "model-F16.gguf"
        converted = stages.run(
            "convert",
            lambda: convert_to_gguf(base_folder, f16, outtype="f16", adapter=adapter),
            what="merge the adapter into the base and write an F16 GGUF",
        )
        model, tokenizer = stages.run(
            "reference", lambda: merged_model(base_folder, adapter), what="merged model, float32"
        )
        report = stages.run(
            "verify",
            lambda: verify_gguf(f16, model, tokenizer, "F16", chat_must_stop=chat_check),
        )
        emit("verified", **report.as_dict())
        if not report.passed:
            raise ExportError(f"Verification failed, nothing published. {report.reason}")
        model = None  # the float32 reference is not needed past verification
        files, refused = quantize_and_measure(run, f16, quants, budgets, stages)
        if "F16" not in quants:
            f16.unlink()
        if not files:
            reasons = "; ".join(entry["reason"] for entry in refused)
            raise ExportError(f"Nothing published, the active version stays: {reasons}.")
        template = tokenizer.chat_template
        primary = files[0]["gguf"]
        write_text_atomic(staging / "Modelfile", render_modelfile(primary, template))
        card = model_card(run, plan, files, refused, report.as_dict(), template)
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
        "files": files,
        "refused": refused,
    }


def quantize_and_measure(
    run: RunFolder, f16: Path, quants: list[str], budgets: dict[str, float], stages: Stages
) -> tuple[list[dict], list[dict]]:
    """Each requested type as a file entry for the card, or a refusal with its reason.

    F16 was proven by verification; every other type is written from it by llama.cpp and
    measured against it on the held-out writing. A refused file is removed at once.
    """
    from slmtui.export.quantize import quantize_gguf
    from slmtui.ml.quant_cost import measure_costs, refusal, within_budget

    smaller = {quant: staging_file(f16, quant) for quant in quants if quant != "F16"}
    for quant, path in smaller.items():
        stages.run(f"quantize {quant}", lambda q=quant, p=path: quantize_gguf(f16, p, q))
    costs = {}
    if smaller:
        costs = stages.run(
            "measure",
            lambda: measure_costs(f16, smaller, heldout_texts(run)),
            what=f"{', '.join(smaller)} against F16 on the held-out writing",
        )
    files: list[dict] = []
    refused: list[dict] = []
    for quant in quants:
        if quant == "F16":
            files.append(file_entry(f16, quant, None, None))
            continue
        cost, budget = costs[quant], budgets.get(quant)
        passed = within_budget(cost, budget)
        emit("measured", **cost.as_dict(), budget=budget, passed=passed)
        if passed:
            files.append(file_entry(smaller[quant], quant, cost.as_dict(), budget))
        else:
            smaller[quant].unlink()
            reason = refusal(cost, budget)
            refused.append({"quant": quant, "reason": reason, "cost": cost.as_dict()})
    return files, refused


def staging_file(f16: Path, quant: str) -> Path:
    return f16.with_name(f"model-{quant}.gguf")


def file_entry(path: Path, quant: str, cost: dict | None, budget: float | None) -> dict:
    return {
        "quant": quant,
        "gguf": path.name,
        "size_bytes": path.stat().st_size,
        "cost": cost,
        "budget": budget,
    }


def heldout_texts(run: RunFolder) -> list[str]:
    """The run's held-out writing (its dataset's validation passages), or the verification
    probes when a tiny workspace has none."""
    from slmtui.dataset.snapshot import read_examples
    from slmtui.ml.verify import PROBES

    val = run.dataset / "val.jsonl"
    texts = []
    if val.is_file():
        texts = [e.text for e in read_examples(val) if e.kind == "raw" and e.text]
    return texts or list(PROBES)


def model_card(
    run: RunFolder,
    plan: RunPlan,
    files: list[dict],
    refused: list[dict],
    verification: dict,
    template: str | None,
) -> dict:
    """card.json: the first file is the one chat uses (`gguf`, `quant`, `size_bytes`)."""
    metrics = run.metrics()
    manifest = read_manifest(run.dataset)
    family = template_family(template)
    return {
        "gguf": files[0]["gguf"],
        "quant": files[0]["quant"],
        "size_bytes": files[0]["size_bytes"],
        "files": files,
        "refused": refused,
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
    files = "\n".join(
        f"| {entry['gguf']} | {format_size(entry['size_bytes'])} | {cost_words(entry)} |"
        for entry in card["files"]
    )
    refused = "".join(f"\n- not published: {entry['reason']}" for entry in card["refused"])
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
| chat uses | {card["gguf"]} |

## Files
| file | size | cost against F16 on held-out writing |
|---|---|---|
{files}
{refused}

## Verification
{checks}

## Use it elsewhere
- Ollama: `ollama create my-voice -f Modelfile`, then `ollama run my-voice`.
- llama.cpp: `llama-server -m {card["gguf"]}` (OpenAI-compatible server on port 8080).
- LM Studio: copy {card["gguf"]} into a folder under LM Studio's models folder, e.g.
  `~/.lmstudio/models/slmtui/my-voice/`, and pick it in the model list.
"""


def cost_words(entry: dict) -> str:
    """A file's measured cost for the card, or why it has none."""
    cost = entry.get("cost")
    if not cost:
        return "none: F16 is the verified reference"
    budget = entry.get("budget")
    limit = f" (budget {budget:+.1f}%)" if budget is not None else ""
    return quant_cost_words(cost) + limit


def parse_budgets(values: list[str]) -> dict[str, float]:
    """--budget Q8_0=1.0 ... as {type: percent}."""
    budgets = {}
    for value in values:
        quant, _, percent = value.partition("=")
        budgets[quant.upper()] = float(percent)
    return budgets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.ml.publish")
    parser.add_argument("run_dir")
    parser.add_argument("models_dir")
    parser.add_argument(
        "--quant", nargs="+", default=["F16"], type=str.upper, choices=EXPORT_QUANTS
    )
    parser.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="TYPE=PERCENT",
        help="most perplexity increase against F16 at which TYPE is published",
    )
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
        # One export at a time per workspace (its models/ is in the workspace's .slmtui/).
        with WorkLock(Path(args.models_dir).parent, "export", detail=run.path.name):
            result = export(
                run,
                Path(args.models_dir),
                list(dict.fromkeys(args.quant)),
                parse_budgets(args.budget),
                stages,
                not args.no_chat_check,
            )
    except Busy as exc:
        emit("failed", stage=stages.current, reason=str(exc), exit_code=2)
        return 2
    except Exception as exc:
        log.exception("export failed in %s", stages.current)
        readable = isinstance(exc, (ExportError, ConvertError, BaseModelError))
        reason = str(exc) if readable else f"{type(exc).__name__}: {exc}"
        if is_disk_full(exc):
            reason = (
                f"The disk is full ({exc}): nothing was published and the active version "
                "stays; free some space and export again."
            )
        emit("failed", stage=stages.current, reason=reason[:1000])
        return 1
    emit("published", **result, seconds=stages.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
