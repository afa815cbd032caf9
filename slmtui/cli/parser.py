"""The `slmtui` command line: every subcommand and its options."""

from __future__ import annotations

import argparse
from pathlib import Path

from slmtui import __version__
from slmtui.chat.serve import DEFAULT_PORT, LOOPBACK
from slmtui.config import EXPORT_QUANTS
from slmtui.dataset.kinds import EXAMPLE_KINDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slmtui",
        description="Train a small language model on your own writing, and chat with it.",
    )
    parser.add_argument("--version", action="version", version=f"slmtui {__version__}")
    parser.add_argument(
        "-w", "--workspace", type=Path, help="workspace folder (default: the one holding the cwd)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_workspace_commands(commands)
    add_dataset_command(commands)
    add_train_command(commands)
    add_export_command(commands)
    add_models_command(commands)
    add_eval_command(commands)
    add_chat_command(commands)
    add_blind_command(commands)
    add_bases_command(commands)
    return parser


def add_workspace_commands(commands) -> None:
    init = commands.add_parser("init", help="make a workspace in DIR")
    init.add_argument("dir", type=Path)
    init.add_argument(
        "--name", default="", help="your name as your chats show it (goes into [identity])"
    )

    demo = commands.add_parser("demo", help="open the app on a throwaway copy of the samples")
    demo.add_argument("--dir", type=Path, help="keep the demo workspace in DIR instead")

    commands.add_parser("ingest", help="bring the dataset up to date with writing/ once")
    commands.add_parser("watch", help="ingest, then follow changes in writing/ until Ctrl-C")

    status = commands.add_parser("status", help="what the dataset holds, and what was skipped")
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")

    repair = commands.add_parser(
        "repair", help="rebuild a damaged store from its newest backup and writing/"
    )
    repair.add_argument("--force", action="store_true", help="rebuild an intact store too")

    recall = commands.add_parser(
        "recall", help="what chat would be given from your writing and chats for a message"
    )
    recall.add_argument("query", help="a message, as you would write it in chat")
    recall.add_argument(
        "-k", type=int, default=None, help="at most K passages (default: [recall] passages)"
    )
    recall.add_argument("--json", action="store_true", help="one JSON object on stdout")


def add_dataset_command(commands) -> None:
    dataset = commands.add_parser(
        "dataset", help="list the training examples; exclude, include or regenerate one"
    )
    dataset.add_argument("--kind", choices=EXAMPLE_KINDS)
    dataset.add_argument("--document", help="only this document (its path in writing/)")
    dataset.add_argument("--json", action="store_true", help="one JSON object on stdout")
    actions = dataset.add_subparsers(dest="action", metavar="ACTION")
    for action, what in (
        ("exclude", "leave an example (ID) or a whole document (path) out of training"),
        ("include", "take an excluded example or document back in"),
        ("regenerate", "have the base model write a new request for a generated example"),
    ):
        actions.add_parser(action, help=what).add_argument("id", help="example ID or path")


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="build the style dataset and train a LoRA")
    train.add_argument("--preset", choices=("auto", "cpu-quick", "cpu-full", "gpu"))
    train.add_argument("--max-steps", type=int, default=0, help="override the preset's steps")
    train.add_argument(
        "--minutes", metavar="N",
        help="how long to train: minutes, 'quick' (5) or 'evening' (60); sets [train] minutes "
        "for this run",
    )  # fmt: skip
    train.add_argument("--resume", action="store_true", help="continue the last stopped run")
    train.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    train.add_argument(
        "--gpus", type=int, default=0, metavar="N",
        help="train data-parallel on N GPUs of this machine (torchrun, one process each)",
    )  # fmt: skip
    train.add_argument("--json", action="store_true", help="the raw JSON-lines events")
    train.add_argument(
        "--from-scratch", action="store_true", help="do not continue from the last adapter"
    )
    train.add_argument(
        "--no-generate",
        action="store_true",
        help="skip prompt generation by the base model (chat pairs become 'continue' pairs)",
    )


def add_export_command(commands) -> None:
    export = commands.add_parser(
        "export", help="merge, convert to GGUF, quantize, verify and publish the last run"
    )
    export.add_argument(
        "--quant",
        type=str.upper,
        nargs="+",
        choices=EXPORT_QUANTS,
        metavar="TYPE",
        help="one or more of F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M (default: [export] quants, F16); "
        "each type past its [export] budget is refused, the rest published in one version",
    )
    export.add_argument("--run", help="the run folder name to export (default: the newest)")
    export.add_argument(
        "--yes",
        action="store_true",
        help="publish even when its evaluation found personal data it repeats",
    )
    export.add_argument("--json", action="store_true", help="the raw JSON-lines events")
    export.add_argument(
        "--skip-chat-check",
        action="store_true",
        help="publish even if a greedy chat reply does not stop (only for untrained test models)",
    )


def add_models_command(commands) -> None:
    models = commands.add_parser("models", help="list published versions, or change them")
    models.add_argument("--json", action="store_true", help="one JSON object on stdout")
    actions = models.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("activate", help="make VERSION the one chat uses").add_argument("version")
    delete = actions.add_parser("delete", help="remove VERSION")
    delete.add_argument("version")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    actions.add_parser("rollback", help="make the version before the active one active")


def add_eval_command(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="how close a model writes to you: perplexity and style against the base"
    )
    evaluate.add_argument(
        "--model",
        help="a version (v3), 'adapter' (the newest run's) or a run's name (run-...); "
        "default: the newest trained, as in chat",
    )
    evaluate.add_argument(
        "--prompts",
        type=int,
        default=12,
        help="held-out 'continue this' requests each model answers (12)",
    )
    evaluate.add_argument(
        "--write",
        type=int,
        default=6,
        help="held-out 'write about ...' requests each model answers (6; 0 for none)",
    )
    evaluate.add_argument(
        "--no-previous", action="store_true", help="do not also score the version before it"
    )
    evaluate.add_argument(
        "--qa",
        type=Path,
        metavar="FILE",
        help="also ask the questions of FILE (JSON, samples/qa.json shows how) with and without "
        "recall, base and tuned",
    )
    evaluate.add_argument("--json", action="store_true", help="the raw JSON-lines events")


def add_blind_command(commands) -> None:
    blind = commands.add_parser(
        "blind",
        help="which one is yours? pick your own answer out of two, yours and the model's",
    )
    blind.add_argument("--model", help="a published version (v3); default: the active one")
    blind.add_argument(
        "--rounds", type=int, default=10, help="rounds in this sitting (10); q stops early"
    )


def add_chat_command(commands) -> None:
    chat = commands.add_parser("chat", help="talk to the model in the terminal")
    chat.add_argument(
        "--model", help="a version (v3), 'base', or 'adapter' (default: the newest trained)"
    )
    chat.add_argument("--prompt", help="print the reply to this message and exit")
    chat.add_argument(
        "--system", help="a system prompt (default: the one training used, saying who you are)"
    )
    chat.add_argument("--temperature", type=float, default=0.7)
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument(
        "--no-recall",
        action="store_true",
        help="give the model no notes from your writing and chats ([recall] enabled)",
    )
    serve = commands.add_parser(
        "serve", help="an OpenAI-compatible server for the model, on this machine only"
    )
    serve.add_argument(
        "--model", help="a version (v3), 'base', or 'adapter' (default: the newest trained)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="default 8080")
    serve.add_argument(
        "--host",
        default=LOOPBACK,
        help="default 127.0.0.1 (this machine only); 0.0.0.0 shares it on your network",
    )
    serve.add_argument("--ctx", type=int, default=4096, help="context size in tokens")
    serve.add_argument("--name", default="slmtui", help="the model name clients ask for")
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key requests must bear (Authorization: Bearer KEY); beyond this machine one "
        "is made and kept in .slmtui/serve-key when none is given",
    )
    serve.add_argument(
        "--recall",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="give each chat request notes from your writing and chats (default: as [recall] "
        "enabled says on 127.0.0.1, off when others can reach the server)",
    )


def add_bases_command(commands) -> None:
    bases = commands.add_parser(
        "bases", help="bases people pick, what they need and whether each fits this machine"
    )
    bases.add_argument("--json", action="store_true", help="one JSON object on stdout")
    actions = bases.add_subparsers(dest="action", metavar="ACTION")
    use = actions.add_parser(
        "use", help="set [model] base (a name listed, a hub id, a folder or a GGUF)"
    )
    use.add_argument("base")
