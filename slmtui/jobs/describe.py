"""Every job event in words, one line (or a few) for a person reading a terminal or the app."""

from __future__ import annotations

from pathlib import Path

from slmtui.formats import format_percent_lower, format_seconds, format_size, quant_cost_words
from slmtui.jobs.events import EVALUATION, EXPORT, REQUESTS, JobEvent


def describe(event: JobEvent) -> str:
    if event.kind == "failed":
        stage = f" during {event.data['stage']}" if event.data.get("stage") else ""
        return f"{event.job} failed{stage}: {event.data.get('reason', 'unknown reason')}"
    if event.job == EXPORT:
        return _export(event.kind, event.data)
    if event.job == EVALUATION:
        return _evaluation(event.kind, event.data)
    if event.job == REQUESTS:
        return _requests(event.kind, event.data)
    return _training(event.kind, event.data)


def _training(kind: str, d: dict) -> str:
    if kind == "started":
        what = "dry run" if d.get("dry_run") else "training"
        return (
            f"{what}: {d['preset']} preset on {d['device']} ({d['dtype']}"
            f"{', QLoRA' if d.get('qlora') else ''}"
            f"{', gradient checkpointing' if d.get('checkpointing') else ''}), "
            f"{d['steps']} steps of "
            f"{d['tokens_per_step']:,} tokens, {d.get('examples_in_rows', d['examples'])} examples "
            f"({d.get('rows_tokens', d['train_tokens']):,} tokens, "
            f"{100 * d['padding_share']:.1f}% padding), "
            f"{d['trainable_params']:,} trainable parameters; "
            f"estimated {format_seconds(d['estimated_seconds'])}"
            + (f" of {format_seconds(d['time_budget_s'])}" if d.get("time_budget_s") else "")
            + (f"; resuming at step {d['start_step']}" if d.get("start_step") else "")
            + _corpus_share(d)
            + _replies(d)
            + _feedback(d)
            + _validation(d)
            + (f". {d['gpu_problem']}" if d.get("gpu_problem") else "")
        )
    if kind == "step":
        preference = (
            f"  pairs {d['preference_loss']:.3f} (yours {d['chosen_minus_rejected']:+.1f})"
            if "preference_loss" in d
            else ""
        )
        return (
            f"step {d['step']:>4}/{d['steps']}  loss {d['loss']:.4f}  lr {d['lr']:.2e}  "
            f"{d['tokens_per_s']:,.0f} tok/s  {d['memory_mb']:,.0f} MB  "
            f"eta {format_seconds(d['eta_s'])}{preference}"
        )
    if kind == "eval":
        who = "base model" if d["which"] == "base" else "with adapter"
        return (
            f"validation ({who}, step {d['step']}): loss {d['val_loss']:.4f}, "
            f"perplexity {d['val_ppl']:.2f}"
        )
    if kind == "replanned":
        return (
            f"steps measured at {d['seconds_per_step']:.2f} s: {d['steps']} steps in all, "
            f"the whole run now estimated at {format_seconds(d['estimated_seconds'])}"
        )
    if kind == "checkpoint":
        return f"checkpoint saved at step {d['step']}"
    if kind == "warning":
        return f"warning: {d['message']}"
    if kind == "fitted":
        return (
            f"fitted to the card: {d['micro_batch']} sequences a pass, {d['accumulation']} "
            f"passes a step (a sequence costs {d['per_sequence_mb']:,.0f} MB; "
            f"{d['free_mb']:,} MB were free)"
        )
    if kind == "retry":
        return (
            f"out of memory at step {d['step']}: retrying with {d['micro_batch']} sequences a "
            f"pass, {d['accumulation']} passes a step"
        )
    if d.get("stopped"):
        return f"stopped at step {d['step']}; resume with `slmtui train --resume`"
    text = f"finished {d['steps']} steps in {format_seconds(d.get('seconds', 0))}"
    if "val_ppl" in d:
        text += (
            f"; validation perplexity {d['val_ppl_base']:.2f} -> {d['val_ppl']:.2f} "
            f"({format_percent_lower(d['val_ppl_base'], d['val_ppl'])})"
        )
    return text


def _export(kind: str, d: dict) -> str:
    if kind == "started":
        return f"exporting {d['run']} as {d['quant']} (base {d['base']})"
    if kind == "stage":
        what = f" ({d['what']})" if d.get("what") else ""
        return f"  {d['stage']}{what}: {format_seconds(d['seconds'])}"
    if kind == "verified":
        lines = [
            f"  {'ok  ' if check['passed'] else 'FAIL'} {check['name']}: {check['detail']}"
            for check in d["checks"]
        ]
        return "verification:\n" + "\n".join(lines)
    if kind == "measured":
        verdict = "within" if d["passed"] else "PAST"
        budget = (
            f"{verdict} its budget of {d['budget']:+.1f}%" if d.get("budget") is not None else ""
        )
        return f"  {d['quant']} against F16: {quant_cost_words(d)}; {budget or 'no budget'}"
    files = ", ".join(
        f"{entry['gguf']} ({format_size(entry['size_bytes'])}"
        + (f", {quant_cost_words(entry['cost'])})" if entry.get("cost") else ")")
        for entry in d.get("files") or [{"gguf": d["gguf"], "size_bytes": d["size_bytes"]}]
    )
    refused = "".join(f"; not published: {entry['reason']}" for entry in d.get("refused") or [])
    chat = Path(d["gguf"]).name
    return f"published {d['version']}: {files}{refused}; chat now uses {chat}"


def _evaluation(kind: str, d: dict) -> str:
    if kind == "started":
        return f"evaluating {d['model']}"
    if kind == "progress":
        return f"  {d['what']} {d['done']}/{d['total']}"
    return d.get("text") or f"evaluated {d.get('model', '')}"


def _requests(kind: str, d: dict) -> str:
    if "total" not in d:
        return d.get("reason", "no requests to write")
    from slmtui.dataset.requests import RequestStatus

    text = RequestStatus(d["total"], d["ready"], d["rejected"]).describe()
    if kind == "finished":
        return text + (" (paused)" if d.get("stopped") else "")
    return text + (f", {d['pending']} being written" if d.get("pending") else "")


LIMITED_BY_WORDS = {
    "time": "as many as the time budget allows",
    "epochs": "the corpus is small: the budget would allow more",
}


def _feedback(d: dict) -> str:
    """What your chat feedback adds: corrections learned, preference pairs trained."""
    corrections, pairs = d.get("corrections", 0), d.get("pairs", 0)
    if not corrections and not pairs:
        return ""
    dropped = d.get("pairs_dropped", 0)
    return (
        f"; your feedback: {corrections} correction{'s' * (corrections != 1)}, "
        f"{pairs} preference pair{'s' * (pairs != 1)}"
        + (f" ({dropped} more too long for a sequence)" if dropped else "")
    )


def _replies(d: dict) -> str:
    """'; 4,032 replies to learn (12 longer than a sequence, learned in part)'."""
    if not d.get("replies"):
        return ""
    parts = []
    if d.get("replies_shortened"):
        parts.append(f"{d['replies_shortened']:,} longer than a sequence, learned in part")
    if d.get("replies_lost"):
        parts.append(f"{d['replies_lost']:,} with no room left by their prompt, not learned")
    more = f" ({'; '.join(parts)})" if parts else ""
    return f"; {d['replies']:,} replies to learn{more}"


def _validation(d: dict) -> str:
    """'; validation on 8,192 held-out tokens, about 40 s of the estimate'."""
    if not d.get("val_tokens"):
        return ""
    return (
        f"; validation on {d['val_tokens']:,} held-out tokens, about "
        f"{format_seconds(d.get('validation_seconds', 0))} of the estimate"
    )


def _corpus_share(d: dict) -> str:
    """'; 1.5 passes over the training text, continuing run-X: 12 new + 4 replayed examples'."""
    if "epochs" not in d:  # events of runs from before these fields
        return ""
    if d.get("share", 1.0) < 1.0 and d.get("steps_limited_by") == "time":
        text = (
            f"; {100 * d['share']:.2g}% of the training text (new first, then spread over "
            "time and chats); a longer run covers more (`--minutes`)"
        )
    else:
        text = f"; {d['epochs']:.2g} passes over the training text"
    reason = LIMITED_BY_WORDS.get(d.get("steps_limited_by", ""))
    if reason and not d.get("continues"):
        text += f" ({reason})"
    if d.get("continues"):
        return (
            text + f", continuing {d['continues']}: {d['new_examples']} new + "
            f"{d['replayed_examples']} replayed examples"
        )
    return text + ", from scratch"
