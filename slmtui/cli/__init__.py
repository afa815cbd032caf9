"""`slmtui` opens the app; its subcommands run every step headless.

The CLI and the app are built from the same pieces (Workspace, Config, Ingestor, LiveIngest), so
what a script does and what a person sees in the app cannot drift apart. `parser.py` declares
the commands; `writing.py` runs those over the workspace and what it holds, `models.py` those
over runs and models.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable

from slmtui.chat.serve import ServeError
from slmtui.chat.targets import TargetError
from slmtui.cli.models import (
    cmd_bases,
    cmd_blind,
    cmd_chat,
    cmd_eval,
    cmd_export,
    cmd_models,
    cmd_serve,
    cmd_train,
)
from slmtui.cli.parser import build_parser
from slmtui.cli.writing import (
    cmd_app,
    cmd_dataset,
    cmd_demo,
    cmd_ingest,
    cmd_init,
    cmd_recall,
    cmd_repair,
    cmd_status,
    cmd_watch,
)
from slmtui.config import ConfigError
from slmtui.files import is_disk_full
from slmtui.ingest.store import StoreError
from slmtui.ingest.store.backups import is_damage
from slmtui.registry import RegistryError
from slmtui.tokenizer import TokenizerError
from slmtui.workspace import WorkspaceError

USER_ERRORS = (
    WorkspaceError, ConfigError, TokenizerError, StoreError, RegistryError, TargetError,
    ServeError,
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        None: cmd_app,
        "init": cmd_init,
        "demo": cmd_demo,
        "ingest": cmd_ingest,
        "watch": cmd_watch,
        "status": cmd_status,
        "recall": cmd_recall,
        "repair": cmd_repair,
        "dataset": cmd_dataset,
        "train": cmd_train,
        "export": cmd_export,
        "models": cmd_models,
        "chat": cmd_chat,
        "serve": cmd_serve,
        "eval": cmd_eval,
        "blind": cmd_blind,
        "bases": cmd_bases,
    }
    try:
        return handlers[args.command](args)
    except USER_ERRORS as exc:
        print(f"slmtui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `slmtui status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (sqlite3.DatabaseError, OSError) as exc:
        said = storage_trouble(exc)
        if said is None:
            raise
        print(f"slmtui: {said}", file=sys.stderr)
        return 2


def storage_trouble(exc: BaseException) -> str | None:
    """What to tell a person about a full disk or a damaged store; None for anything else."""
    if is_disk_full(exc):
        return (
            f"the disk is full ({exc}): what was being written was left out and the rest is as "
            "it was; free some space and run it again."
        )
    if is_damage(exc):
        return (
            f"the store is damaged (SQLite: {exc}); `slmtui repair` rebuilds it from its newest "
            "backup and writing/."
        )
    return None
