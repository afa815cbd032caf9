"""`slmtui` opens the app; its subcommands run every step headless.

The CLI and the app are built from the same pieces (Workspace, Config, Ingestor, LiveIngest), so
what a script does and what a person sees in the app cannot drift apart.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from slmtui import __version__
from slmtui.chat.serve import DEFAULT_PORT, LOOPBACK, ServeError
from slmtui.chat.targets import TargetError
from slmtui.config import EXPORT_QUANTS, Config, ConfigError, with_changes
from slmtui.formats import card_ppl_change, format_size, quant_cost_words
from slmtui.ingest.store import Stats, Store, StoreError
from slmtui.registry import RegistryError
from slmtui.tokenizer import TokenizerError
from slmtui.workspace import Workspace, WorkspaceError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# The invented author of samples/: her name in her own chat exports.
SAMPLES_AUTHOR = "Odile Marchbank"
USER_ERRORS = (
    WorkspaceError, ConfigError, TokenizerError, StoreError, RegistryError, TargetError,
    ServeError,
)  # fmt: skip


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
    add_bases_command(commands)
    return parser


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


def add_dataset_command(commands) -> None:
    dataset = commands.add_parser(
        "dataset", help="list the training examples; exclude, include or regenerate one"
    )
    dataset.add_argument(
        "--kind", choices=("raw", "backtranslate", "continue", "rewrite", "dialogue")
    )
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
    evaluate.add_argument("--json", action="store_true", help="the raw JSON-lines events")


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        None: cmd_app,
        "init": cmd_init,
        "demo": cmd_demo,
        "ingest": cmd_ingest,
        "watch": cmd_watch,
        "status": cmd_status,
        "dataset": cmd_dataset,
        "train": cmd_train,
        "export": cmd_export,
        "models": cmd_models,
        "chat": cmd_chat,
        "serve": cmd_serve,
        "eval": cmd_eval,
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


def open_workspace(args: argparse.Namespace) -> Workspace:
    if args.workspace is not None:
        return Workspace.open(args.workspace)
    return Workspace.find(Path.cwd())


def cmd_init(args: argparse.Namespace) -> int:
    workspace = Workspace.init(args.dir, name=args.name)
    print(f"Made a workspace in {workspace.root}")
    print(f"  put your writing in   {workspace.writing}")
    print(f"  settings are in       {workspace.config_path}")
    print(f"  then run              slmtui -w {workspace.root}")
    return 0


def make_demo_workspace(folder: Path | None = None) -> Workspace:
    """A workspace whose writing/ is a copy of samples/ (reused if folder already is one)."""
    if not SAMPLES.is_dir():
        raise WorkspaceError(f"The samples folder is missing ({SAMPLES}); run from a checkout.")
    if folder is not None and (folder / "slmtui.toml").exists():
        return Workspace.open(folder)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="slmtui-demo-")) / "workspace"
        atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
    workspace = Workspace.init(folder, name=SAMPLES_AUTHOR)
    shutil.copytree(SAMPLES, workspace.writing, dirs_exist_ok=True)
    return workspace


def cmd_demo(args: argparse.Namespace) -> int:
    return run_app(make_demo_workspace(args.dir))


def cmd_app(args: argparse.Namespace) -> int:
    return run_app(open_workspace(args))


def run_app(workspace: Workspace) -> int:
    from slmtui.tui.app import create_app

    create_app(workspace).run()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from slmtui.ingest.ingestor import Ingestor

    workspace = open_workspace(args)
    with Ingestor(workspace, workspace.load_config()) as ingestor:
        report = ingestor.scan()
        for change in report.changes:
            print(change.describe())
        print(report.summary())
        print(format_totals(ingestor.store.stats()))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from slmtui.ingest.watcher import LiveIngest
    from slmtui.jobs.background import BackgroundPreparation
    from slmtui.jobs.describe import describe

    workspace = open_workspace(args)
    config = workspace.load_config()

    def say(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def show_preparation(event) -> None:
        """Requests being written: every tenth and the last, and why a pass could not run."""
        pending = event.data.get("pending", 0)
        if event.kind == "failed" or (event.kind == "progress" and pending % 10 == 0):
            say(describe(event))

    background = BackgroundPreparation(workspace, show_preparation)

    def show(report) -> None:
        for change in report.changes:
            say(change.describe())
        if report.note:
            say(report.note)
        if config.dataset.prepare_in_background:
            background.poke()

    live = LiveIngest(
        workspace,
        config,
        show,
        on_error=lambda message: print(f"slmtui: {message}", file=sys.stderr, flush=True),
    )
    live.start()
    live.ready.wait()
    print(f"Watching {workspace.writing} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        background.close()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    workspace = open_workspace(args)
    config = workspace.load_config()
    with Store(workspace.db_path) as store:
        stats = store.stats()
        chats = store.chats()
        identity = identity_summary(store, config, chats)
    from slmtui.gpu import unused_gpu

    gpu_problem = unused_gpu()  # asks torch (in a child) only when nvidia-smi lists a GPU
    if args.json:
        chat_list = [
            {"key": c.key, "name": c.name, "format": c.format, "files": c.paths,
             "messages": c.messages, "held_out": c.val_messages, "participants": c.participants,
             "dropped": c.dropped, "notes": c.notes}
            for c in chats
        ]  # fmt: skip
        data = {"workspace": str(workspace.root), **stats.as_dict()}
        data |= {"identity": identity, "chat_list": chat_list, "gpu_problem": gpu_problem}
        print(json.dumps(data, indent=2))
        return 0
    print(f"Workspace {workspace.root}")
    if gpu_problem:
        print(f"GPU: {gpu_problem}")
    print(format_totals(stats))
    if chats:
        print(describe_identity(identity))
        print(f"Chats ({len(chats)}):")
        for chat in chats:
            people = ", ".join(
                f"{name} {count}" + (" (you)" if name in identity["matched"] else "")
                for name, count in chat.participants.items()
            )
            print(f"  {chat.name} [{chat.format}]: {chat.messages:,} messages; {people}")
            if chat.dropped:
                dropped = ", ".join(f"{n} {r}" for r, n in sorted(chat.dropped.items()))
                print(f"    not kept: {dropped}")
            for note in chat.notes:
                print(f"    note: {note}")
    if stats.per_format:
        print("By format:")
        for fmt, counts in stats.per_format.items():
            print(
                f"  {fmt:<9} {counts['documents']:>5} documents {counts['chunks']:>6} chunks "
                f"{counts['tokens']:>10,} tokens"
            )
    if stats.skipped:
        print(f"Skipped ({len(stats.skipped)}):")
        for item in stats.skipped:
            print(f"  {item['path']}: {item['reason']}")
    if not stats.documents_ok and not stats.skipped:
        print("Nothing ingested yet: put files in writing/ and run `slmtui ingest`.")
    return 0


def identity_summary(store: Store, config: Config, chats: list) -> dict:
    """Who you are in the chats: the configured names, or the proposed one; and which senders
    match."""
    from slmtui.dataset.dialogue import propose_identity
    from slmtui.ingest.identity import aliases_of, candidates, matcher

    names = list(config.identity.names)
    proposed = None if names else propose_identity(store, chats)
    is_me = matcher(names or ([proposed] if proposed else []), aliases_of(chats))
    senders = {name for chat in chats for name in chat.participants}
    found = {"names": names, "proposed": proposed, "matched": sorted(filter(is_me, senders))}
    found["candidates"] = (
        [] if names or proposed else candidates(chat.participants for chat in chats)
    )
    return found


def describe_identity(identity: dict) -> str:
    if identity["names"]:
        matched = ", ".join(identity["matched"]) or "none of the senders: check the spelling"
        return f"You ([identity] names): {', '.join(identity['names'])}; matches {matched}"
    if identity["proposed"]:
        return (
            f"You (proposed): {identity['proposed']}. To confirm, set [identity] names = "
            f'["{identity["proposed"]}"] in slmtui.toml'
        )
    if identity.get("candidates"):
        return (
            "You: unknown (no sender is in every chat); candidates: "
            + ", ".join(identity["candidates"])
            + '. Set [identity] names = ["Your Name"] in slmtui.toml'
        )
    return "You: unknown; set [identity] names in slmtui.toml"


def cmd_dataset(args: argparse.Namespace) -> int:
    from slmtui.dataset.dialogue import DialogueSettings
    from slmtui.dataset.examples import ExampleError, find, list_examples, regenerate
    from slmtui.dataset.generator import generator_for
    from slmtui.ingest.ingestor import Ingestor

    workspace = open_workspace(args)
    config = workspace.load_config()
    generator = generator_for(config.model.base)
    key = generator.key if generator else None
    with Ingestor(workspace, config) as ingestor:
        ingestor.scan()
        store = ingestor.store
        views = list_examples(store, config.dataset, key, DialogueSettings.from_config(config))
        if args.action is None:
            shown = [
                view for view in views
                if (args.kind is None or view.kind == args.kind)
                and (args.document is None or view.path == args.document)
            ]  # fmt: skip
            print_examples(shown, views, as_json=args.json)
            return 0
        try:
            what, target = find(views, args.id)
        except ExampleError as exc:
            raise WorkspaceError(str(exc)) from exc
        if args.action == "regenerate":
            view = next((v for v in views if v.chunk == target), None)
            written = None
            if view is not None and generator is not None:
                written = regenerate(store, view, generator, int(time.time()))
            if written is None:
                raise WorkspaceError(f"{args.id} is not an example with a generated request.")
            print(f"new request for {view.id}: {written}")
            return 0
        store.set_excluded(what, target, args.action == "exclude")
    verb = "left out of" if args.action == "exclude" else "back in"
    print(f"{what} {args.id} is {verb} training")
    return 0


def print_examples(shown, views, *, as_json: bool) -> None:
    """`slmtui dataset`: how many examples of each kind training gets, then a line each."""
    trained = [view for view in views if view.split == "train" and not view.excluded]
    counts = dict(sorted(Counter(view.kind for view in trained).items()))
    excluded = sum(view.excluded for view in views)
    if as_json:
        rows = [view.as_dict() for view in shown]
        print(json.dumps({"counts": counts, "excluded": excluded, "examples": rows}))
        return
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    print(f"{len(trained)} training examples ({summary}); {excluded} excluded")
    for view in shown:
        marks = "".join(
            f" [{mark}]" for mark in (view.status, "excluded" if view.excluded else "") if mark
        )
        request = " ".join(view.request.split())[:60]
        print(f"{view.id}  {view.kind:<13} {view.split:<5} {view.path}{marks}  {request}")


def cmd_train(args: argparse.Namespace) -> int:
    from slmtui import runs
    from slmtui.dataset.generator import generator_for
    from slmtui.jobs import launch, prepare

    workspace = open_workspace(args)
    config = workspace.load_config()
    if args.preset:
        config = with_changes(config, "train", preset=args.preset)
    launcher = launch.data_parallel(args.gpus) if args.gpus else None
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else print
    if args.resume:
        run = runs.latest_resumable(workspace)
        if run is None:
            raise WorkspaceError(
                "There is no stopped run to resume; start one with `slmtui train`."
            )
        say(f"Resuming {run.name}")
    else:
        generator = None if args.no_generate else generator_for(config.model.base)
        run = prepare.prepare_run(
            workspace, config, from_scratch=args.from_scratch, generator=generator, say=say
        )
    job = launch.start_training(
        run, resume=args.resume, dry_run=args.dry_run, max_steps=args.max_steps, launcher=launcher
    )
    last = print_job(job, as_json=args.json)
    if args.dry_run:
        shutil.rmtree(run.path, ignore_errors=True)
        return 0 if last is not None and last.kind == "started" else 1
    return exit_code(last)


def cmd_export(args: argparse.Namespace) -> int:
    from slmtui import runs
    from slmtui.jobs import launch

    workspace = open_workspace(args)
    run = runs.find_run(workspace, args.run)
    job = launch.start_export(workspace, run, args.quant, chat_check=not args.skip_chat_check)
    return exit_code(print_job(job, as_json=args.json))


def print_job(job, *, as_json: bool):
    """The one printer of job events: JSON lines with --json, else a line each for a person.

    A failure goes to stderr as `slmtui: ...`. Ctrl-C asks the child to stop (training saves a
    checkpoint first) and keeps printing until it has. Returns the last event.
    """
    from slmtui.jobs.describe import describe
    from slmtui.jobs.process import follow, stop_job

    last = None

    def show(events) -> None:
        nonlocal last
        for event in events:
            last = event
            if as_json:
                print(event.to_line(), flush=True)
            elif event.kind == "failed":
                print(f"slmtui: {describe(event)}", file=sys.stderr, flush=True)
            else:
                print(describe(event), flush=True)

    try:
        show(follow(job))
    except KeyboardInterrupt:
        stop_job(job)
        show(follow(job))
    return last


def exit_code(last) -> int:
    """0 when the job's last event says it did its work; else the code the failure carries."""
    if last is not None and last.succeeded:
        return 0
    return int(last.data.get("exit_code", 1)) if last is not None else 1


def cmd_models(args: argparse.Namespace) -> int:
    from slmtui.registry import ModelRegistry

    registry = ModelRegistry(open_workspace(args).models)
    if args.action == "activate":
        print(f"{registry.activate(args.version).name} is now active")
        return 0
    if args.action == "rollback":
        print(f"rolled back: {registry.rollback().name} is now active")
        return 0
    if args.action == "delete":
        version = registry.get(args.version)
        if not args.yes:
            if not sys.stdin.isatty():
                raise RegistryError(f"Deleting {version.name} needs --yes when not interactive.")
            answer = input(f"Delete {version.name} ({version.gguf.name})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("kept")
                return 1
        active = registry.delete(version.name)
        print(f"deleted {version.name}; active: {active.name if active else 'none'}")
        return 0
    active = registry.active()
    versions = registry.versions()
    if args.json:
        rows = [
            {**v.card, "active": active is not None and v.name == active.name, "path": str(v.path)}
            for v in versions
        ]
        print(json.dumps({"active": active.name if active else None, "versions": rows}))
        return 0
    if not versions:
        print("No published models yet: train, then `slmtui export`.")
    for version in versions:
        ppl = card_ppl_change(version.card, arrow="->")
        ppl = "ppl not measured" if ppl == "—" else f"ppl {ppl}"
        mark = "*" if active is not None and version.name == active.name else " "
        print(
            f"{mark} {version.name:<5} {version.card['quant']:<7} "
            f"{format_size(version.size_bytes):>11}  {ppl}  from {version.card['run']}"
        )
        for entry in version.card.get("files") or []:
            cost = quant_cost_words(entry["cost"]) if entry.get("cost") else "exact (verified)"
            print(f"        {entry['gguf']:<20} {format_size(entry['size_bytes']):>11}  {cost}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from slmtui.chat.llama import offloaded_layers
    from slmtui.chat.serve import ServePlan, serve
    from slmtui.chat.targets import resolve_target

    workspace = open_workspace(args)
    config = workspace.load_config()
    target = resolve_target(workspace, config.model.base, args.model)
    gpu_layers = offloaded_layers(config.chat.gpu_layers)
    plan = ServePlan(target, args.host, args.port, args.ctx, args.name, gpu_layers)
    print(plan.describe(), flush=True)
    serve(plan)  # uvicorn turns Ctrl-C and SIGTERM into a clean shutdown
    print("server stopped", flush=True)
    return 0


def cmd_bases(args: argparse.Namespace) -> int:
    from slmtui.formats import format_gigabytes
    from slmtui.jobs.bases import bases_report, describe_machine, use_base

    try:
        workspace = open_workspace(args)
    except WorkspaceError:
        workspace = None  # the list needs no workspace; setting one does
    if args.action == "use":
        if workspace is None:
            raise WorkspaceError("slmtui bases use sets [model] base of a workspace: run it in one")
        chosen = use_base(workspace, args.base)
        print(f"[model] base = {chosen.base!r} (in {chosen.folder}); the next run trains it")
        return 0
    report = bases_report(workspace)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(describe_machine(report["machine"]))
    print(f"{'base':<24} {'params':>7}  {'licence':<21} {'LoRA':>8} {'QLoRA':>8}  fit")
    for base in report["bases"]:
        gated = " (gated)" if base["gated"] else ""
        print(
            f"{base['name']:<24} {base['params'] / 1e9:>6.2f}B  {base['licence'] + gated:<21} "
            f"{format_gigabytes(base['lora_bytes']):>8} "
            f"{format_gigabytes(base['qlora_bytes']):>8}  "
            f"{base['verdict']}"
        )
    print("Set one with `slmtui bases use NAME` (a gated one needs `hf auth login` first).")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from slmtui.chat.engine import ChatEngine, Sampling
    from slmtui.chat.llama import offloaded_layers
    from slmtui.chat.targets import resolve_target

    workspace = open_workspace(args)
    config = workspace.load_config()
    target = resolve_target(workspace, config.model.base, args.model)
    sampling = Sampling(temperature=args.temperature, max_tokens=args.max_tokens)
    engine = ChatEngine(target, gpu_layers=offloaded_layers(config.chat.gpu_layers))
    if args.system is None:
        from slmtui.dataset.dialogue import assistant_prompt

        with Store(workspace.db_path) as store:
            args.system = assistant_prompt(store, config)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    if args.prompt is not None:
        messages.append({"role": "user", "content": args.prompt})
        for piece in engine.stream(messages, sampling):
            print(piece, end="", flush=True)
        print()
        return 0
    print(f"Chatting with {target.label}. An empty line or Ctrl-D ends the chat.", flush=True)
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if not text:
            return 0
        messages.append({"role": "user", "content": text})
        print("model> ", end="", flush=True)
        reply = "".join(
            print(piece, end="", flush=True) or piece for piece in engine.stream(messages, sampling)
        )
        print(f"\n  ({engine.last.tokens_per_second:.0f} tokens/s)", flush=True)
        messages.append({"role": "assistant", "content": reply})


def cmd_eval(args: argparse.Namespace) -> int:
    from slmtui.jobs import launch

    workspace = open_workspace(args)
    if args.prompts < 1 or args.write < 0:
        raise WorkspaceError("--prompts must be at least 1 and --write at least 0.")
    job = launch.start_evaluation(
        workspace,
        args.model,
        prompts=args.prompts,
        write=args.write,
        compare_previous=not args.no_previous,
    )
    return exit_code(print_job(job, as_json=args.json))


def format_totals(stats: Stats) -> str:
    tokens = stats.tokens_train + stats.tokens_val
    return (
        f"{stats.documents_ok} documents, {stats.documents_skipped} skipped; "
        f"{stats.chunks} chunks, {tokens:,} tokens ({stats.tokens_train:,} train, "
        f"{stats.tokens_val:,} validation from {stats.val_documents} documents); "
        f"{stats.duplicates_removed} duplicates removed"
        + (
            f"; {stats.chats} chats, {stats.messages:,} messages ({stats.val_messages:,} held out)"
            if stats.chats
            else ""
        )
    )


if __name__ == "__main__":
    sys.exit(main())
