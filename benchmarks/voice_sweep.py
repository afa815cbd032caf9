"""Which defaults make the model sound most like its author, on several corpora and seeds.

For every corpus (a folder of writing), variant (a few settings changed from the defaults) and
seed, this trains from scratch with the cpu-quick preset, runs `slmtui eval` on the new adapter,
and records perplexity change, style distance ratio and verifier margin with their intervals.
The table shows, per corpus and variant, the mean over seeds and the spread (lowest to
highest), then the mean over corpora. Base scores and the base model's requests are cached per
workspace, so only the first row of a corpus pays for them.

Run: .venv/bin/python benchmarks/voice_sweep.py [--corpus DIR ...] [--seeds 0,1] [--only NAME,...]
     [--names NAME,...]   (whose replies a chat history teaches: its owner's [identity] names)
     .venv/bin/python benchmarks/voice_sweep.py --table OUT.jsonl   (print a saved sweep again)
Without --corpus: samples/ and benchmarks/corpora/marek. A real corpus that may not be shipped
lives outside the repository and is passed with --corpus (README: "Choosing the defaults"); the
large chat history is rebuilt by benchmarks/corpora/history_from_irc.py and swept with
`--corpus DIR --names tdonohue`. Besides the voice, each row records the plan's estimate against
the wall time of the whole `slmtui train`, and the replies learned, in part and lost.
Each row is appended as a JSON line to --out (default: voice_sweep.jsonl in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui.config import Config, with_changes  # noqa: E402
from slmtui.config_file import render_default_toml  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402

DEFAULT_CORPORA = [ROOT / "samples", ROOT / "benchmarks" / "corpora" / "marek"]
VARIANTS: dict[str, dict[str, dict]] = {
    "default": {},
    "lr 1e-3": {"train": {"learning_rate": 1e-3}},  # the default before this sweep
    "lr 5e-4": {"train": {"learning_rate": 5e-4}},
    "rank 8": {"train": {"lora_r": 8, "lora_alpha": 16.0}},
    "rank 32": {"train": {"lora_r": 32, "lora_alpha": 64.0}},
    "raw only": {"dataset": {"raw_ratio": 1.0, "backtranslate_ratio": 0.0, "continue_ratio": 0.0}},
    "no backtranslation": {
        "dataset": {"raw_ratio": 0.5, "backtranslate_ratio": 0.0, "continue_ratio": 0.5}
    },
    "48 steps": {"train": {"max_steps": 48}},
    "2 passes": {"train": {"max_epochs": 2.0}},
    "6 passes": {"train": {"max_epochs": 6.0}},
    "3 minutes": {"train": {"minutes": 3.0}},
    "1 hour": {"train": {"minutes": 60.0}},  # the "evening" budget
    # The quick preset as a CPU without fast bfloat16 (most laptops) runs it.
    "float32": {"train": {"precision": "float32"}},
    # Writing only: what the chats add to replies (and cost the writing), on a corpus with chats.
    "no dialogue": {"dataset": {"dialogue_ratio": 0.0}},
}


def slmtui(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def configure(
    workspace: Workspace, changes: dict[str, dict], seed: int, names: tuple[str, ...] = ()
) -> None:
    config = with_changes(Config(), "train", preset="cpu-quick", seed=seed)
    if names:  # a chat history: whose replies are the voice
        config = with_changes(config, "identity", names=list(names))
    for section, values in changes.items():
        config = with_changes(config, section, **values)
    workspace.config_path.write_text(render_default_toml(config), encoding="utf-8")


def events_of(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def last_event(output: str) -> dict:
    events = events_of(output)
    return events[-1] if events else {}


def run_variant(
    workspace: Workspace, corpus: str, name: str, seed: int, names: tuple[str, ...] = ()
) -> dict:
    configure(workspace, VARIANTS[name], seed, names)
    row = {"corpus": corpus, "variant": name, "seed": seed, "changes": VARIANTS[name]}
    started = time.perf_counter()
    trained = slmtui(workspace.root, "train", "--from-scratch", "--json")
    train_wall = time.perf_counter() - started
    finished = last_event(trained.stdout)
    if trained.returncode != 0 or finished.get("event") != "finished":
        return {**row, "error": finished.get("reason") or trained.stderr[-500:]}
    plan = next((e for e in events_of(trained.stdout) if e["event"] == "started"), {})
    evaluated = slmtui(workspace.root, "eval", "--json", "--no-previous", "--model", "adapter")
    result = last_event(evaluated.stdout)  # the evaluation job's `finished` event
    if evaluated.returncode != 0 or "summary" not in result:
        return {**row, "error": result.get("reason") or evaluated.stderr[-500:]}
    return {
        **row,
        "dtype": plan.get("dtype"),
        "steps": finished["steps"],
        "epochs": plan.get("epochs"),
        "share": plan.get("share"),
        # ("replies" alone is the evaluation's count of held-out replies scored)
        "replies_to_learn": plan.get("replies"),
        "replies_in_part": plan.get("replies_shortened"),
        "replies_not_learned": plan.get("replies_lost"),
        # The plan a person is shown (the time budget, which replanning keeps) against the
        # wall time of the whole `slmtui train`, dataset snapshot included.
        "planned_seconds": plan.get("estimated_seconds"),
        "train_wall_seconds": train_wall,
        "train_seconds": finished["seconds"],
        "eval_seconds": result["seconds"],
        "wall_seconds": time.perf_counter() - started,
        "heldout": result["heldout"],
        **result["summary"],
        **{k: v for k, v in (result.get("conversations") or {}).items() if k != "samples"},
    }


def corpus_workspace(corpus: Path, folder: Path) -> Workspace:
    """A workspace whose writing/ is a copy of the corpus, ingested; one left by an earlier
    sweep in the same --workdir is reused with its cached requests and base scores."""
    if (folder / corpus.name / "slmtui.toml").is_file():
        workspace = Workspace.open(folder / corpus.name)
    else:
        workspace = Workspace.init(folder / corpus.name)
        shutil.rmtree(workspace.writing)
        # A corpus's questions for `eval --qa` (samples/qa.json) are not its writing.
        shutil.copytree(corpus, workspace.writing, ignore=shutil.ignore_patterns("qa.json"))
    ingested = slmtui(workspace.root, "ingest")
    if ingested.returncode != 0:
        raise SystemExit(f"ingest of {corpus} failed: {ingested.stderr[-500:]}")
    return workspace


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    """'-31.2% (-33.0..-29.4)': the mean over seeds and the lowest and highest."""
    if not values:
        return "-"
    low, high = min(values) * scale, max(values) * scale
    return f"{statistics.mean(values) * scale:+.1f}{unit} ({low:+.1f}..{high:+.1f})"


def print_table(rows: list[dict]) -> None:
    """One line per corpus and variant (mean over seeds, spread), then the mean over corpora."""
    good = [row for row in rows if "error" not in row]
    print(
        f"\n{'corpus':<14} {'variant':<18} {'seeds':>5} {'ppl change %':>24} "
        f"{'style ratio':>22} {'verifier margin pts':>24} {'epochs':>6} {'train s':>7}"
    )
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in good:
        groups.setdefault((row["corpus"], row["variant"]), []).append(row)
    for (corpus, variant), group in groups.items():
        print(_line(corpus, variant, group))
    for variant in dict.fromkeys(row["variant"] for row in good):
        per_corpus = [
            {key: _mean_of(group, key) for key in _MEASURES}
            for (_, name), group in groups.items()
            if name == variant
        ]
        print(_line("mean", variant, per_corpus, seeds="-"))
    chats = [row for row in good if row.get("reply_ppl_change") is not None]
    if chats:
        print(f"\n{'held-out conversations':<33} {'seeds':>5} {'reply ppl change %':>24} "
              f"{'reply style ratio':>22} {'verifier: base -> tuned':>24} "
              f"{'words: you, base, tuned':>24} {'for others':>11}")  # fmt: skip
        replies: dict[tuple[str, str], list[dict]] = {}
        for row in chats:
            replies.setdefault((row["corpus"], row["variant"]), []).append(row)
        for (corpus, variant), group in replies.items():
            ratios = [r["reply_distance_ratio"] for r in group]
            shares = ", ".join(
                f"{100 * r['reply_author_share_base']:.0f}% -> {100 * r['reply_author_share']:.0f}%"
                for r in group
            )
            words = (
                f"{_mean_of(group, 'reply_words_yours') or 0:.1f}, "
                f"{_mean_of(group, 'reply_words_base') or 0:.1f}, "
                f"{_mean_of(group, 'reply_words') or 0:.1f}"
            )
            others = (
                f"{100 * (_mean_of(group, 'reply_for_others_base') or 0):.0f}% -> "
                f"{100 * (_mean_of(group, 'reply_for_others') or 0):.0f}%"
            )
            print(
                f"{corpus:<14} {variant:<18} {len(group):>5} "
                f"{spread([r['reply_ppl_change'] for r in group], 100, '%'):>24} "
                f"{statistics.mean(ratios):.2f}x ({min(ratios):.2f}..{max(ratios):.2f})"
                f"{shares:>26} {words:>24} {others:>11}"
            )
    timed = [row for row in good if row.get("planned_seconds")]
    if timed:
        print(
            f"\n{'time and replies':<33} {'seed':>5} {'dtype':>9} {'plan s':>7} {'wall s':>7} "
            f"{'wall/plan':>9} {'eval s':>7} {'share':>6} {'replies, in part, lost':>24}"
        )
        for row in timed:
            replies = (
                f"{row.get('replies_to_learn') or 0:,}, {row.get('replies_in_part') or 0:,}, "
                f"{row.get('replies_not_learned') or 0:,}"
            )
            print(
                f"{row['corpus']:<14} {row['variant']:<18} {row['seed']:>5} "
                f"{row.get('dtype') or '-':>9} {row['planned_seconds']:>7.0f} "
                f"{row['train_wall_seconds']:>7.0f} "
                f"{row['train_wall_seconds'] / row['planned_seconds']:>9.2f} "
                f"{row['eval_seconds']:>7.0f} {100 * (row.get('share') or 0):>5.1f}% {replies:>24}"
            )
    for row in rows:
        if "error" in row:
            print(f"{row['corpus']:<14} {row['variant']:<18} seed {row['seed']}: {row['error']}")


def _mean_of(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row.get(key) is not None]
    return statistics.mean(values) if values else None


_MEASURES = ("ppl_change", "distance_ratio", "verifier_margin", "epochs", "train_seconds")


def _line(corpus: str, variant: str, group: list[dict], seeds: str | None = None) -> str:
    column = {key: [row[key] for row in group if row.get(key) is not None] for key in _MEASURES}
    ratio = column["distance_ratio"]
    ratio_text = (
        f"{statistics.mean(ratio):.2f}x ({min(ratio):.2f}..{max(ratio):.2f})" if ratio else "-"
    )
    epochs = statistics.mean(column["epochs"]) if column["epochs"] else 0.0
    seconds = statistics.mean(column["train_seconds"]) if column["train_seconds"] else 0.0
    return (
        f"{corpus:<14} {variant:<18} {seeds or len(group):>5} "
        f"{spread(column['ppl_change'], 100, '%'):>24} {ratio_text:>22} "
        f"{spread(column['verifier_margin'], 100):>24} {epochs:>6.2f} {seconds:>7.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", help="a folder of writing")
    parser.add_argument("--seeds", default="0,1", help="training seeds (default 0,1)")
    parser.add_argument("--only", help="comma-separated variant names (default: default)")
    parser.add_argument("--out", type=Path, help="JSON lines file the rows are appended to")
    parser.add_argument("--table", type=Path, help="print the table of a saved sweep and stop")
    parser.add_argument("--workdir", type=Path, help="where the workspaces are (kept, reused)")
    parser.add_argument(
        "--names", default="",
        help="comma-separated [identity] names: whose replies a chat-history corpus teaches",
    )  # fmt: skip
    args = parser.parse_args()
    if args.table:
        print_table([json.loads(line) for line in args.table.read_text().splitlines() if line])
        return 0
    names = args.only.split(",") if args.only else ["default"]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    identity = tuple(name for name in args.names.split(",") if name)
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="slmtui-voice-sweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = args.out or folder / "voice_sweep.jsonl"
    print(f"rows: {out}", flush=True)
    rows: list[dict] = []
    for corpus in args.corpus or DEFAULT_CORPORA:
        workspace = corpus_workspace(corpus.resolve(), folder)
        for name in names:
            for seed in seeds:
                row = run_variant(workspace, corpus.name, name, seed, identity)
                rows.append(row)
                with out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps({k: row.get(k) for k in ("corpus", "variant", "seed", "ppl_change",
                      "distance_ratio", "verifier_margin", "reply_ppl_change",
                      "reply_distance_ratio", "train_seconds", "error")}),
                      flush=True)  # fmt: skip
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
