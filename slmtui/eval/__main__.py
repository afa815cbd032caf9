"""The evaluation job: `python -m slmtui.eval WORKSPACE [--model M] [--prompts N] [--write N]
[--no-previous] [--qa FILE]`.

Evaluation loads llama.cpp models and generates for minutes; as a child process it can neither
block nor crash the app. Like training and export it speaks in job events (slmtui.jobs.events):
started, progress (what, done, total), then finished, carrying the whole result, the files it
wrote and the summary in words; or failed, with exit_code 2 when the person has something to do
first (train a model, write more) and 1 when it crashed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from slmtui.jobs.events import emit
from slmtui.workspace import Workspace, WorkspaceError

log = logging.getLogger("slmtui.eval")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.eval")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--write", type=int, default=6)
    parser.add_argument("--no-previous", action="store_true")
    parser.add_argument("--qa", type=Path, help="a questions file (eval/qa.py)")
    args = parser.parse_args(argv)
    try:
        return evaluate_and_save(args)
    except Exception as exc:
        log.exception("evaluation failed")
        emit("failed", reason=f"{type(exc).__name__}: {exc}"[:1000], exit_code=1)
        return 1


def evaluate_and_save(args: argparse.Namespace) -> int:
    from slmtui.chat.targets import TargetError
    from slmtui.config import ConfigError
    from slmtui.eval.evaluate import EvalError, evaluate, save_result
    from slmtui.eval.heldout import HeldOutError
    from slmtui.eval.qa import QAError
    from slmtui.eval.report import describe, write_report
    from slmtui.ingest.store import StoreError
    from slmtui.locks import Busy, WorkLock
    from slmtui.registry import RegistryError
    from slmtui.tokenizer import TokenizerError

    refusals = (
        EvalError, HeldOutError, WorkspaceError, TargetError, ConfigError, StoreError,
        RegistryError, TokenizerError, QAError, Busy,
    )  # fmt: skip

    def progress(what: str, done: int, total: int) -> None:
        emit("progress", what=what, done=done, total=total)

    try:
        workspace = Workspace.open(args.workspace)
        with WorkLock(workspace.state, "evaluation", detail=args.model or ""):
            emit("started", model=args.model or "the newest model")
            result = evaluate(
                workspace,
                args.model,
                max_prompts=args.prompts,
                max_write=args.write,
                compare_previous=not args.no_previous,
                progress=progress,
                questions=args.qa,
            )
    except refusals as exc:
        emit("failed", reason=str(exc), exit_code=2)
        return 2
    saved = save_result(workspace, result)
    report = write_report(result, saved.parent)
    text = f"{describe(result)}\n\nreport: {report}"
    files = {"json": str(saved), "report": str(report)}
    emit("finished", **result.as_dict(), files=files, text=text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
