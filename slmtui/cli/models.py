"""Commands over runs and models: train, export, models, serve, bases, chat and eval."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from slmtui.cli.writing import open_workspace
from slmtui.config import budget_minutes, with_changes
from slmtui.formats import card_ppl_change, format_size, quant_cost_words
from slmtui.ingest.store import Store
from slmtui.registry import RegistryError
from slmtui.workspace import WorkspaceError


def cmd_train(args: argparse.Namespace) -> int:
    from slmtui import runs
    from slmtui.dataset.generator import generator_for
    from slmtui.jobs import launch, prepare

    workspace = open_workspace(args)
    config = workspace.load_config()
    if args.preset:
        config = with_changes(config, "train", preset=args.preset)
    if args.minutes:
        config = with_changes(config, "train", minutes=budget_minutes(args.minutes))
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
    if not check_privacy(run, args.yes):
        return 1
    job = launch.start_export(workspace, run, args.quant, chat_check=not args.skip_chat_check)
    return exit_code(print_job(job, as_json=args.json))


def check_privacy(run, yes: bool) -> bool:
    """Before a model is shared: what its evaluation found it might repeat (eval/privacy.py),
    asked about when it is personal data; False when the person says no."""
    from slmtui.eval.privacy import ADVICE, run_concerns

    worries = run_concerns(run.path)
    if worries is None:
        print(
            "What this model might repeat was not measured: `slmtui eval --model adapter` "
            "says, before you share it.",
            file=sys.stderr,
        )
        return True
    if not worries or yes:
        return True
    what = "; ".join(worries)
    if not sys.stdin.isatty():
        raise RegistryError(f"Its evaluation found {what}. {ADVICE} Publish anyway with --yes.")
    print(f"Its evaluation found {what}.\n{ADVICE}", file=sys.stderr)
    return input("Publish it anyway? [y/N] ").strip().lower() in ("y", "yes")


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
    from slmtui.chat.serve import ServePlan, recall_when_serving, serve, server_key
    from slmtui.chat.targets import resolve_target

    workspace = open_workspace(args)
    config = workspace.load_config()
    target = resolve_target(workspace, config.model.base, args.model)
    gpu_layers = offloaded_layers(config.chat.gpu_layers)
    notes = None
    if recall_when_serving(args.host, args.recall, config.recall.enabled):
        from slmtui.recall.notes import Recaller, source_name

        recaller = Recaller(workspace.db_path, config.recall)

        def notes(messages: list[dict]) -> tuple[list[dict], list[str]]:
            noted, sources = recaller.notes(messages)
            return noted, [source_name(source) for source in sources]

    key, said = server_key(workspace.state, args.host, args.api_key)
    plan = ServePlan(target, args.host, args.port, args.ctx, args.name, gpu_layers, notes, key)
    print(plan.describe(), flush=True)
    if said:
        print(said, flush=True)
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
    recaller = None
    if config.recall.enabled and not args.no_recall:
        from slmtui.recall.notes import Recaller

        recaller = Recaller(workspace.db_path, config.recall)

    def answer(messages: list[dict]) -> str:
        """The reply printed as it comes, then the sources it was given."""
        from slmtui.recall.notes import sources_line

        sent, sources = recaller.notes(messages) if recaller is not None else (messages, [])
        reply = "".join(
            print(piece, end="", flush=True) or piece for piece in engine.stream(sent, sampling)
        )
        print(flush=True)
        if recaller is not None:
            print(f"  ({sources_line(sources)})", flush=True)
        return reply

    if args.prompt is not None:
        messages.append({"role": "user", "content": args.prompt})
        answer(messages)
        return 0
    from slmtui.chat.feedback import HELP, FeedbackError, keep_feedback, parse_command

    print(
        f"Chatting with {target.label}. An empty line or Ctrl-D ends the chat; {HELP}.",
        flush=True,
    )
    model_reply: str | None = None  # the model's last reply, once you corrected it
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if not text:
            return 0
        try:
            command = parse_command(text)
            if command is not None:
                said = keep_feedback(
                    workspace.db_path, command.kind, messages, model=target.label,
                    text=command.text, model_reply=model_reply,
                )  # fmt: skip
                if command.text is not None:  # the chat goes on from your version
                    model_reply = model_reply or messages[-1]["content"]
                    messages[-1] = {"role": "assistant", "content": command.text}
                print(f"  ({said})", flush=True)
                continue
        except FeedbackError as exc:
            print(f"  ({exc})", flush=True)
            continue
        messages.append({"role": "user", "content": text})
        print("model> ", end="", flush=True)
        reply, model_reply = answer(messages), None
        print(f"  ({engine.last.tokens_per_second:.0f} tokens/s)", flush=True)
        messages.append({"role": "assistant", "content": reply})


def cmd_blind(args: argparse.Namespace) -> int:
    """`slmtui blind`: rounds of "which one is yours?" read from stdin (1, 2, or q), so a
    person plays it in a terminal and a script can drive it."""
    from slmtui.eval.blind import BlindError, BlindScore, prepare_rounds, record
    from slmtui.registry import ModelRegistry

    workspace = open_workspace(args)
    config = workspace.load_config()
    registry = ModelRegistry(workspace.models)
    version = registry.get(args.model) if args.model else registry.active()
    if version is None:
        raise WorkspaceError("No published version to test: train, then `slmtui export`.")
    if args.rounds < 1:
        raise WorkspaceError("--rounds must be at least 1.")

    def progress(done: int, total: int) -> None:
        print(f"\r{version.name} is writing its answers: {done}/{total}", end="", flush=True)

    try:
        rounds = prepare_rounds(workspace, config, version, args.rounds, progress)
    except BlindError as exc:
        raise WorkspaceError(str(exc)) from exc
    print(f"\nWhich one is yours? {len(rounds)} rounds; 1 or 2, q stops.", flush=True)
    score = BlindScore.from_card(version.card)
    for number, played in enumerate(rounds, 1):
        print(f"\n-- round {number} of {len(rounds)}: {KIND_OF_ROUND[played.kind]}")
        print(played.context)
        for index, answer in enumerate(played.answers, 1):
            print(f"\n  {index}) {answer}")
        choice = ""
        while choice not in ("1", "2", "q"):
            try:
                choice = input("\nyours? [1/2/q] ").strip().lower()
            except EOFError:
                choice = "q"
        if choice == "q":
            break
        score = record(registry, version.name, played, int(choice))
        verdict = (
            "yes, that one is yours"
            if played.picked_yours(int(choice))
            else "no, that was the model"
        )
        print(f"{verdict}. So far {score.words()}.", flush=True)
    print(f"\n{version.name}: {score.words()}.")
    return 0


KIND_OF_ROUND = {"continue": "how you went on from this", "reply": "what you answered"}


def cmd_eval(args: argparse.Namespace) -> int:
    from slmtui.jobs import launch

    workspace = open_workspace(args)
    if args.prompts < 1 or args.write < 0:
        raise WorkspaceError("--prompts must be at least 1 and --write at least 0.")
    if args.qa is not None:
        from slmtui.eval.qa import QAError, load_questions

        try:
            load_questions(args.qa)  # a mistake in the file is said now, not after minutes
        except QAError as exc:
            raise WorkspaceError(str(exc)) from exc
    job = launch.start_evaluation(
        workspace,
        args.model,
        prompts=args.prompts,
        write=args.write,
        compare_previous=not args.no_previous,
        questions=args.qa,
    )
    return exit_code(print_job(job, as_json=args.json))
