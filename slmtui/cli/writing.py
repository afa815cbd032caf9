"""Commands over the workspace and what it holds: init, demo, the app, ingest, watch, status and
dataset.
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
from pathlib import Path

from slmtui.config import Config
from slmtui.ingest.store import Stats, Store
from slmtui.workspace import Workspace, WorkspaceError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# Beside the samples' writing: their questions for `slmtui eval --qa` (answers included).
SAMPLE_QUESTIONS = SAMPLES / "qa.json"
NOT_WRITING = shutil.ignore_patterns(SAMPLE_QUESTIONS.name)
# The invented author of samples/: her name in her own chat exports.
SAMPLES_AUTHOR = "Odile Marchbank"


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
    shutil.copytree(SAMPLES, workspace.writing, dirs_exist_ok=True, ignore=NOT_WRITING)
    return workspace


def cmd_demo(args: argparse.Namespace) -> int:
    return run_app(make_demo_workspace(args.dir))


def cmd_app(args: argparse.Namespace) -> int:
    return run_app(open_workspace(args))


def run_app(workspace: Workspace) -> int:
    from slmtui.locks import STARTED_BY
    from slmtui.tui.app import create_app

    # The jobs the app starts say so when they hold a lock another process asks for.
    os.environ[STARTED_BY] = "the app"
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
    from slmtui.jobs.background import BackgroundRequests
    from slmtui.jobs.describe import describe

    workspace = open_workspace(args)
    config = workspace.load_config()

    def say(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def show_requests(event) -> None:
        """Requests being written: every tenth and the last, and why a pass could not run."""
        pending = event.data.get("pending", 0)
        if event.kind == "failed" or (event.kind == "progress" and pending % 10 == 0):
            say(describe(event))

    background = BackgroundRequests(workspace, show_requests)

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
            view = next((v for v in views if v.example.id == target), None)
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


def cmd_recall(args: argparse.Namespace) -> int:
    """The passages and chat windows chat would be given for QUERY, best first."""
    from slmtui.recall.search import recall

    workspace = open_workspace(args)
    settings = workspace.load_config().recall
    limit = args.k if args.k is not None else settings.passages
    if limit < 1:
        raise WorkspaceError("-k must be at least 1.")
    with Store(workspace.db_path) as store:
        found = recall(
            store.db, args.query, limit=limit, tokens=settings.tokens, turns=settings.turns
        )
    if args.json:
        print(json.dumps({"query": args.query, "recalled": [r.as_dict() for r in found]},
                         indent=2, ensure_ascii=False))  # fmt: skip
        return 0
    if not found:
        print("Nothing you wrote matches that (try other words, or `slmtui ingest` first).")
        return 0
    for number, item in enumerate(found, 1):
        what = f"{item.kind}, score {item.score:.4f}, {item.tokens} tokens"
        print(f"[{number}] {item.label} ({what})")
        for line in item.text.splitlines():
            print(f"    {line}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    """Rebuild a damaged store from the newest backup, what the damaged one still holds and
    writing/ (ingest/store/backups.py)."""
    from slmtui.ingest.ingestor import Ingestor
    from slmtui.ingest.store.backups import intact, restore, salvage
    from slmtui.locks import WorkLock

    workspace = open_workspace(args)
    if workspace.db_path.is_file() and intact(workspace.db_path) and not args.force:
        print(f"The store {workspace.db_path} is intact: nothing to repair (--force rebuilds it).")
        return 0
    with WorkLock(workspace.state, "ingest"):  # nobody writes the store meanwhile
        repair = restore(workspace.db_path)
        with Store(workspace.db_path) as store, store.transaction():
            repair.salvaged = salvage(repair.moved_to, store.db)
        print(repair.describe(), flush=True)
        with Ingestor(workspace, workspace.load_config()) as ingestor:
            print(f"Writing folder: {ingestor.scan().summary()}")
    return 0
