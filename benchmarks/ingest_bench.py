"""Ingest speed and memory against the Foundation targets, measured in one run.

Generates a corpus of N documents (about 5 KB of prose each, made by reshuffling the sentences
of samples/ with a fixed seed, so that documents are distinct rather than duplicates), then:

1. first ingest of 2,000 documents: MB/s against the 2 MB/s target;
2. a second ingest with nothing changed: its time as a share of the first (target <= 5%);
3. one edited file under a live watcher: seconds from the end of the write until the store shows
   it (target <= 1.5 s, debounce included);
4. peak RSS of a first ingest of 500 and of 2,000 documents, each in a fresh process: the ratio
   shows whether memory grows with the corpus (target: about 1.0).

Chat exports (`--messages`, default 100,000, generated in each exporter's layout):

5. parsing: messages per second of `read_chats` per format against the 50,000 messages/s
   target, and its peak memory (tracemalloc) for a quarter of the messages and for all of them,
   as a multiple of the export's size;
6. a re-export with 1% new messages, ingested into the workspace that holds the first export:
   its time as a share of the first ingest (target <= 5%).

Run: .venv/bin/python benchmarks/ingest_bench.py [--documents 2000] [--messages 100000]
     [--skip-documents] [--skip-chats]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slmtui.ingest.chats import read_chats  # noqa: E402
from slmtui.ingest.extract import extract  # noqa: E402
from slmtui.ingest.ingestor import Ingestor  # noqa: E402
from slmtui.ingest.normalize import normalize_text  # noqa: E402
from slmtui.ingest.store import Store  # noqa: E402
from slmtui.tokenizer import load_tokenizer  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402


def sample_sentences() -> list[str]:
    sentences: list[str] = []
    for path in sorted((ROOT / "samples").rglob("*")):
        # The samples' writing: not their chats, nor the questions beside them (qa.json).
        if path.is_file() and "chats" not in path.parts and path.name != "qa.json":
            text = normalize_text(extract(path, path.read_bytes()))
            sentences += [s for s in re.split(r"(?<=[.?])\s+", text) if len(s) > 20]
    return sentences


def make_corpus(folder: Path, documents: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    sentences = sample_sentences()
    total = 0
    for index in range(documents):
        paragraphs, size = [], 0
        while size < 5000:
            paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 7)))
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        body = "\n\n".join(paragraphs)
        suffix = ".md" if index % 3 == 0 else ".txt"
        path = folder / f"part{index // 200:02d}" / f"doc{index:05d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        total += len(body.encode())
    return total


def timed_ingest(workspace: Workspace) -> tuple[float, int]:
    with Ingestor(workspace, workspace.load_config(), tokenizer=load_tokenizer()) as ingestor:
        started = time.perf_counter()
        report = ingestor.scan()
        return time.perf_counter() - started, report.bytes_read


def edit_latency(workspace: Workspace, trials: int = 5) -> list[float]:
    from slmtui.ingest.watcher import LiveIngest

    live = LiveIngest(workspace, workspace.load_config(), on_report=lambda report: None)
    live.start()
    live.ready.wait(timeout=600)
    latencies = []
    target = next(workspace.writing.rglob("*.txt"))
    rel = target.relative_to(workspace.writing).as_posix()
    with Store(workspace.db_path) as store:
        for trial in range(trials):
            marker = f"Edited in trial {trial}, with a new sentence about the tide."
            with target.open("a", encoding="utf-8") as handle:
                handle.write(f"\n\n{marker}")
            written = time.perf_counter()
            while not any(marker in chunk[1] for chunk in store.chunks_of(rel)):
                time.sleep(0.01)
            latencies.append(time.perf_counter() - written)
            time.sleep(0.5)
    live.stop()
    return latencies


def peak_rss_child(documents: int) -> float:
    """Peak RSS (MB) of a fresh process that makes and ingests a corpus of this size."""
    code = (
        "import sys, resource, tempfile; from pathlib import Path; "
        f"sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "import ingest_bench as b; from slmtui.workspace import Workspace; "
        "ws = Workspace.init(Path(tempfile.mkdtemp()) / 'ws'); "
        f"b.make_corpus(ws.writing, {documents}); "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "b.timed_ingest(ws); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# -- chat exports -----------------------------------------------------------------------------

T0 = 1735689600.0  # 2025-01-01
PEOPLE = ("Odile Marchbank", "Tamsin Marchbank", "Hamish Quill")


def chat_messages(count: int, seed: int = 11) -> list[tuple[float, str, str]]:
    """`count` messages in conversations of 5 to 40 messages (half a minute to two minutes
    apart) with 3 to 30 hours of silence between them, three senders, texts cut from the
    samples' sentences (so lengths and characters are a person's, not lorem ipsum)."""
    rng = random.Random(seed)
    sentences = sample_sentences()
    messages = []
    when, left = T0, rng.randint(5, 40)
    for _ in range(count):
        words = rng.choice(sentences).split()
        text = " ".join(words[: rng.randint(3, 18)])
        messages.append((when, PEOPLE[rng.randrange(3)], text))
        left -= 1
        if left == 0:
            when += rng.randint(3, 30) * 3600.0
            left = rng.randint(5, 40)
        else:
            when += float(rng.randint(30, 120))
    return messages


def export_files(messages: list[tuple[float, str, str]]) -> dict[str, tuple[str, bytes]]:
    """The same messages in each layout: format -> (file name, bytes)."""
    from tests import chat_exports as make

    account = make.telegram_account(
        [make.telegram_chat(messages, name="Tamsin", chat_id=1)], first_name="Odile",
        username="odile",
    )  # fmt: skip
    slack = make.slack_files({"general": messages}, {name: name for name in PEOPLE})
    # The same messages over ten channels: a zip is read and stored a chat at a time.
    channels = {f"channel-{i}": messages[i::10] for i in range(10)}
    slack_ten = make.slack_files(channels, {name: name for name in PEOPLE})
    return {
        "whatsapp-android": ("WhatsApp Chat with Tamsin.txt", make.whatsapp_android(messages)),
        "whatsapp-ios": ("WhatsApp Chat - Tamsin.zip",
                         make.zipped({"_chat.txt": make.whatsapp_ios(messages)})),
        "telegram": ("result.json", account),
        "discord": ("Friends - general [99].json", make.discord_channel(messages)),
        "messenger": ("message_1.json", make.messenger_thread(messages, title="Tamsin")),
        "slack-zip": ("Slack export.zip", make.zipped(slack)),
        "slack-zip-10-ch": ("Slack export.zip", make.zipped(slack_ten)),
    }  # fmt: skip


def parse_rate(name: str, data: bytes, repeats: int = 3) -> tuple[float, int]:
    """Best seconds of `repeats` parses, and the messages kept."""
    best, kept = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        kept = read_all(name, data)
        best = min(best, time.perf_counter() - started)
    return best, kept


def read_all(name: str, data: bytes) -> int:
    """Read every chat of an export as ingest does, one at a time; the messages kept."""
    return sum(len(chat.messages) for chat in read_chats(Path(name), data).chats)


def parse_peak(name: str, data: bytes) -> int:
    """Peak bytes allocated while parsing (the export's bytes were read before)."""
    import tracemalloc

    tracemalloc.start()
    read_all(name, data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def reingest_share(count: int) -> dict:
    """First ingest of a WhatsApp export, then the same chat exported again with 1% new
    messages, in the same file: seconds of both and the share."""
    workspace = Workspace.init(Path(tempfile.mkdtemp(prefix="slmtui-bench-")) / "ws")
    messages = chat_messages(count + count // 100)
    from tests import chat_exports as make

    path = workspace.writing / "WhatsApp Chat with Tamsin.txt"
    path.write_bytes(make.whatsapp_android(messages[:count]))
    first_s, _ = timed_ingest(workspace)
    path.write_bytes(make.whatsapp_android(messages))
    second_s, _ = timed_ingest(workspace)
    with Store(workspace.db_path) as store:
        stored = store.stats().messages
    return {"first_s": first_s, "second_s": second_s, "share": second_s / first_s,
            "stored": stored}  # fmt: skip


def chat_results(count: int) -> dict:
    full = export_files(chat_messages(count))
    quarter = export_files(chat_messages(count // 4))
    results: dict = {"messages": count, "formats": {}}
    for fmt, (name, data) in full.items():
        seconds, kept = parse_rate(name, data)
        small_name, small_data = quarter[fmt]
        results["formats"][fmt] = {
            "mb": len(data) / 1e6,
            "seconds": seconds,
            "messages_per_s": count / seconds,
            "kept": kept,
            "peak_over_size_quarter": parse_peak(small_name, small_data) / len(small_data),
            "peak_over_size_full": parse_peak(name, data) / len(data),
        }
    results["reingest"] = reingest_share(count)
    return results


def print_chats(results: dict) -> None:
    print(f"\nchat exports: {results['messages']:,} messages each")
    for fmt, row in results["formats"].items():
        rate = row["messages_per_s"]
        print(
            f"  {fmt:<17} {row['mb']:5.1f} MB  {row['seconds']:6.2f} s  {rate:>9,.0f} msg/s   "
            f"target 50,000   ratio {rate / 50_000:5.2f}x   peak memory "
            f"{row['peak_over_size_quarter']:.1f}x / {row['peak_over_size_full']:.1f}x the "
            "export (quarter / full)"
        )
    again = results["reingest"]
    print(
        f"  re-export, 1% new: first ingest {again['first_s']:.2f} s, "
        f"again {again['second_s']:.3f} s   target <= 5%   "
        f"ratio {100 * again['share']:.2f}%   ({again['stored']:,} stored)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--skip-documents", action="store_true")
    parser.add_argument("--skip-chats", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_tokenizer()  # build the cached tokenizer outside the timings
    chats = None if args.skip_chats else chat_results(args.messages)
    if args.skip_documents:
        print(json.dumps(chats, indent=2)) if args.json else print_chats(chats)
        return

    workspace = Workspace.init(Path(tempfile.mkdtemp(prefix="slmtui-bench-")) / "ws")
    corpus_bytes = make_corpus(workspace.writing, args.documents)
    first_s, first_bytes = timed_ingest(workspace)
    second_s, second_bytes = timed_ingest(workspace)
    latencies = edit_latency(workspace)
    small_rss = peak_rss_child(args.documents // 4)
    large_rss = peak_rss_child(args.documents)

    results = {
        "documents": args.documents,
        "corpus_mb": corpus_bytes / 1e6,
        "first_ingest_s": first_s,
        "first_ingest_mb_per_s": first_bytes / 1e6 / first_s,
        "second_ingest_s": second_s,
        "second_ingest_bytes_read": second_bytes,
        "second_over_first": second_s / first_s,
        "edit_latency_s_median": statistics.median(latencies),
        "edit_latency_s_max": max(latencies),
        "peak_rss_mb_quarter_corpus": small_rss,
        "peak_rss_mb_full_corpus": large_rss,
        "rss_growth_ratio": large_rss / small_rss,
    }
    if args.json:
        print(json.dumps({**results, "chats": chats}, indent=2))
        return
    rate = results["first_ingest_mb_per_s"]
    print(f"corpus: {args.documents} documents, {results['corpus_mb']:.1f} MB")
    print(
        f"first ingest   {first_s:7.2f} s  {rate:5.2f} MB/s   target 2 MB/s   ratio {rate / 2:.2f}x"
    )
    print(
        f"second ingest  {second_s:7.3f} s  {second_bytes} bytes read   target <= 5% of first   "
        f"ratio {100 * results['second_over_first']:.2f}%"
    )
    print(
        f"edit latency   median {results['edit_latency_s_median']:.2f} s, max "
        f"{results['edit_latency_s_max']:.2f} s   target <= 1.5 s   "
        f"ratio {results['edit_latency_s_max'] / 1.5:.2f}"
    )
    print(
        f"peak RSS       {small_rss:.0f} MB for {args.documents // 4} documents, "
        f"{large_rss:.0f} MB for {args.documents}   "
        f"growth ratio {results['rss_growth_ratio']:.2f} (4x the corpus)"
    )
    if chats:
        print_chats(chats)


if __name__ == "__main__":
    main()
