"""Do corrections made in chat teach a habit? Base, corrections as examples, and corrections
plus preference pairs, on the same person and the same new requests.

A scripted person chats with a model trained on the samples' writing ("before") and corrects
every reply the same way: at most two sentences, never an exclamation mark, signed off with an
initial ("— O"). The corrections are kept through the real path (`chat/feedback.keep_feedback`,
as /fix does), and the model is retrained twice from the same start, continuing from "before"
as `r` does: once with the corrections as examples only (`[train] preference_weight = 0`), once
with the preference pairs too (the default weight). Each model then answers requests it never
saw, and the table shows how often its replies show each habit, with the held-out writing's
perplexity and style distance beside them, so a gain that breaks the voice shows. Two seeds by
default; every row of a seed is measured in the same run.

Run: .venv/bin/python benchmarks/feedback_bench.py [--seeds 0,1] [--steps 80] [--retrain-steps N]
     [--corpus DIR]                          (default samples/; benchmarks/corpora/marek too)
     [--workdir DIR] [--out FILE.jsonl]     (--table FILE.jsonl prints a saved run again)
     [--also VARIANT ...] [--reuse]          (other settings, on an earlier workdir's "before")
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui.chat.engine import ChatEngine, ChatTarget, Sampling  # noqa: E402
from slmtui.chat.feedback import keep_feedback  # noqa: E402
from slmtui.chat.targets import adapter_target  # noqa: E402
from slmtui.config import Config, with_changes  # noqa: E402
from slmtui.config_file import render_default_toml  # noqa: E402
from slmtui.dataset.dialogue import assistant_prompt  # noqa: E402
from slmtui.eval.evaluate import cached_perplexity  # noqa: E402
from slmtui.eval.generations import GenerationSettings, generate  # noqa: E402
from slmtui.eval.heldout import load_heldout  # noqa: E402
from slmtui.eval.stylometry import StyleScale, profile_texts, style_distance  # noqa: E402
from slmtui.ingest.store import Store  # noqa: E402
from slmtui.runs import RunFolder, latest_finished  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402

INITIAL = "O"
# Everyday messages a person might send their assistant: the first half is corrected, the
# second half is only asked after retraining. Written for this bench.
REQUESTS = [
    "Are you free on Saturday afternoon?",
    "What did you make of the meeting this morning?",
    "Can you tell the others the boat is late?",
    "How was the walk along the shore?",
    "Should we move the hives before the frost?",
    "What shall I bring to supper on Friday?",
    "Did the parcel ever arrive?",
    "Is the road over the hill open again?",
    "What are you reading at the moment?",
    "Could you look at the draft before Monday?",
    "Shall we ask Dermot to come along?",
    "What time does the ferry leave tomorrow?",
    "How is the garden doing after the storm?",
    "Do you want the spare key back?",
    "What did the engineer say about the pump?",
    "Are you going to the ceilidh next week?",
    "Can you recommend a good book for the winter?",
    "How did the honey harvest go?",
    "Would you mind feeding the cat on Sunday?",
    "What do you think of the new harbour plans?",
    "Is it worth fixing the old bicycle?",
    "When are you next over on the mainland?",
    "How do you keep the stove going all night?",
    "Should I take the early bus or the late one?",
]
TAUGHT, ASKED = REQUESTS[:12], REQUESTS[12:]
SIGN_OFF = re.compile(rf"(^|\n)\s*[—–-]+\s*{INITIAL}\.?\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# What each retrain changes from the defaults; "before" is the run the corrections are made on.
CONDITIONS: dict[str, dict[str, dict]] = {
    "corrections as examples": {"train": {"preference_weight": 0.0}},
    "corrections + pairs": {},  # the defaults
}
# Run with --also NAME (and --reuse, to retrain an earlier run's "before" with them).
VARIANTS: dict[str, dict[str, dict]] = {
    "pairs, correction weight 2": {"dataset": {"correction_weight": 2}},
    "pairs, correction weight 8": {"dataset": {"correction_weight": 8}},
    "pairs, replay 1.0": {"train": {"replay_fraction": 1.0}},
}


def correct(reply: str) -> str:
    """What the scripted person would have said: the model's reply in two sentences at most,
    no exclamation mark, signed off with an initial."""
    text = " ".join(reply.replace("!", ".").split())
    sentences = [s for s in SENTENCE_END.split(text) if s.strip()][:2] or ["Yes."]
    return " ".join(sentences) + f"\n— {INITIAL}"


def habits(reply: str) -> dict[str, bool]:
    body = SIGN_OFF.sub("", reply.strip())
    sentences = [s for s in SENTENCE_END.split(" ".join(body.split())) if s.strip()]
    shows = {
        "signs off": bool(SIGN_OFF.search(reply.strip())),
        "no exclamation": "!" not in reply,
        "two sentences": 0 < len(sentences) <= 2,
    }
    shows["all three"] = all(shows.values())
    return shows


def slmtui(workspace: Path, *args: str) -> dict:
    """Run the CLI with --json; the last event."""
    done = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace), *args, "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"slmtui {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def configure(workspace: Workspace, seed: int, changes: dict[str, dict] | None = None) -> None:
    config = with_changes(Config(), "train", preset="cpu-quick", seed=seed)
    for section, values in (changes or {}).items():
        config = with_changes(config, section, **values)
    workspace.config_path.write_text(render_default_toml(config), encoding="utf-8")


def system_prompt(workspace: Workspace) -> str:
    with Store(workspace.db_path) as store:
        return assistant_prompt(store, workspace.load_config())


def replies(target: ChatTarget, system: str, requests: list[str], seed: int) -> list[str]:
    engine = ChatEngine(target)
    try:
        return [
            engine.reply(
                [{"role": "system", "content": system}, {"role": "user", "content": request}],
                Sampling(temperature=0.7, top_p=0.9, max_tokens=96, seed=seed * 100 + index),
            )
            for index, request in enumerate(requests)
        ]
    finally:
        engine.close()


def voice(workspace: Workspace, target: ChatTarget) -> tuple[float, float]:
    """Held-out writing perplexity and style distance of "continue" answers, as eval scores."""
    with Store(workspace.db_path) as store:
        heldout = load_heldout(store, max_prompts=8, max_write=0)
    ppl = cached_perplexity(workspace.cache, target, heldout).ppl
    answers = generate(target, heldout.prompts, workspace.cache, GenerationSettings())
    author, scale = profile_texts(heldout.texts), StyleScale.from_segments(heldout.texts)
    return ppl, style_distance(author, profile_texts(answers), scale)


def measure(workspace: Workspace, run: RunFolder, condition: str, seed: int, **extra) -> dict:
    base = workspace.load_config().model.base
    target = adapter_target(workspace, base, run)
    answers = replies(target, system_prompt(workspace), ASKED, seed)
    shown = [habits(answer) for answer in answers]
    ppl, distance = voice(workspace, target)
    row = {
        "condition": condition, "seed": seed, "run": run.name,
        **{habit: sum(s[habit] for s in shown) / len(shown) for habit in shown[0]},
        "writing_ppl": ppl, "style_distance": distance, "samples": answers[:3], **extra,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
    return row


def before_run(folder: Path, seed: int, steps: int, corpus: Path) -> tuple[Workspace, list[dict]]:
    """Train "before" on the corpus's writing, measure it, and correct its replies to TAUGHT
    through the real path, as /fix does."""
    shutil.rmtree(folder, ignore_errors=True)
    workspace = Workspace.init(folder / "before")
    shutil.copytree(
        corpus, workspace.writing, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("chats", "qa.json"),
    )  # fmt: skip
    configure(workspace, seed)
    started = time.perf_counter()
    slmtui(workspace.root, "train", "--max-steps", str(steps))
    before = latest_finished(workspace)
    assert before is not None
    row = measure(workspace, before, "before", seed, train_s=round(time.perf_counter() - started))
    base = workspace.load_config().model.base
    target = adapter_target(workspace, base, before)
    system = system_prompt(workspace)
    for request, reply in zip(TAUGHT, replies(target, system, TAUGHT, seed), strict=True):
        conversation = [{"role": "system", "content": system},
                        {"role": "user", "content": request},
                        {"role": "assistant", "content": reply}]  # fmt: skip
        keep_feedback(workspace.db_path, "correction", conversation, model=target.label,
                      text=correct(reply))  # fmt: skip
    return workspace, [row]


def retrain(
    folder: Path, workspace: Workspace, name: str, changes: dict, seed: int, retrain_steps: int
) -> dict:
    """A copy of "before" (its corrections kept) retrained as `r` would, with `changes`."""
    copy = Workspace(folder / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
    shutil.rmtree(copy.root, ignore_errors=True)
    shutil.copytree(workspace.root, copy.root)
    configure(copy, seed, changes)
    started = time.perf_counter()
    steps = ["--max-steps", str(retrain_steps)] if retrain_steps else []  # 0: as `r` plans
    finished = slmtui(copy.root, "train", "--no-generate", *steps)
    run = latest_finished(copy)
    assert run is not None
    return measure(
        copy, run, name, seed, train_s=round(time.perf_counter() - started),
        val_ppl=finished.get("val_ppl"), steps=finished.get("steps"),
    )  # fmt: skip


def bench_seed(
    workdir: Path,
    seed: int,
    steps: int,
    retrain_steps: int,
    also: list[str],
    reuse: bool,
    corpus: Path,
) -> list[dict]:
    folder = workdir / f"seed-{seed}"
    if reuse and (folder / "before").is_dir():
        workspace, rows = Workspace(folder / "before"), []
        conditions = {name: VARIANTS[name] for name in also}
    else:
        workspace, rows = before_run(folder, seed, steps, corpus)
        conditions = {**CONDITIONS, **{name: VARIANTS[name] for name in also}}
    for name, changes in conditions.items():
        rows.append(retrain(folder, workspace, name, changes, seed, retrain_steps))
    return rows


def table(rows: list[dict]) -> str:
    columns = ("signs off", "no exclamation", "two sentences", "all three")
    lines = [
        f"{'condition':<26}" + "".join(f"{c:>16}" for c in columns)
        + f"{'writing ppl':>22}{'style distance':>20}",
    ]  # fmt: skip
    for condition in dict.fromkeys(row["condition"] for row in rows):
        mine = [row for row in rows if row["condition"] == condition]
        if not mine:
            continue

        def cell(key: str, percent: bool = True, mine: list[dict] = mine) -> str:
            values = [row[key] for row in mine]
            mean = statistics.mean(values)
            if percent:
                return f"{100 * mean:.0f}% ({100 * min(values):.0f}-{100 * max(values):.0f})"
            return f"{mean:.2f} ({min(values):.2f}-{max(values):.2f})"

        lines.append(
            f"{condition:<26}" + "".join(f"{cell(c):>16}" for c in columns)
            + f"{cell('writing_ppl', False):>22}{cell('style_distance', False):>20}"
        )  # fmt: skip
    seeds = sorted({row["seed"] for row in rows})
    lines.append(
        f"means over seeds {seeds} (lowest-highest); {len(ASKED)} new requests a model, "
        f"{len(TAUGHT)} corrections"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--corpus", type=Path, default=ROOT / "samples", help="a folder of writing (samples/)"
    )
    parser.add_argument("--steps", type=int, default=80, help="steps of the 'before' run")
    parser.add_argument(
        "--retrain-steps", type=int, default=0, help="0 (default): as many as `r` would plan"
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, help="print a saved run's table and stop")
    parser.add_argument("--also", action="append", default=[], choices=sorted(VARIANTS))
    parser.add_argument(
        "--reuse", action="store_true", help="retrain an earlier --workdir's 'before' with --also"
    )
    args = parser.parse_args()
    if args.table:
        print(table([json.loads(line) for line in args.table.read_text().splitlines()]))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    out = args.out or workdir / "feedback_bench.jsonl"
    rows: list[dict] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        found = bench_seed(
            workdir, seed, args.steps, args.retrain_steps, args.also, args.reuse, args.corpus
        )
        for row in found:
            rows.append(row)
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(table(rows))
    print(f"rows: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
