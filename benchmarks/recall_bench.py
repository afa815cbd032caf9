"""Recall at size: query time, and what the index costs ingest and disk, in one run.

Generates a workspace of at least a million tokens of writing (documents made by reshuffling the
samples' sentences, as ingest_bench.py does) and 100,000 chat messages (one WhatsApp export),
then:

1. ingest into a store without the recall index (its triggers and FTS5 tables dropped before
   the first ingest) and into one with it, the same files, one after the other: the time with
   the index over the time without (target at most 1.2x);
2. the store's size on disk with the index against without it;
3. `recall` for 300 messages made of the samples' words (2 to 12 of them, as people type),
   after a warm-up: median and 95th percentile (target under 20 ms).

Run: .venv/bin/python benchmarks/recall_bench.py [--documents 900] [--messages 100000]
     [--queries 300]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_bench import chat_messages, make_corpus, sample_sentences  # noqa: E402

from slmtui.ingest.ingestor import Ingestor  # noqa: E402
from slmtui.ingest.store import Store  # noqa: E402
from slmtui.recall.search import recall  # noqa: E402
from slmtui.tokenizer import load_tokenizer  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402

INDEXED = ("chunks", "messages")


def without_index(workspace: Workspace) -> None:
    """A store at the current schema with the recall index and its triggers dropped."""
    with Store(workspace.db_path) as store:
        for table in INDEXED:
            for trigger in ("indexed", "unindexed", "reindexed"):
                store.db.execute(f"DROP TRIGGER {table}_{trigger}")
            store.db.execute(f"DROP TABLE {table}_text")
        store.db.commit()


def timed_ingest(workspace: Workspace, tokenizer) -> float:
    with Ingestor(workspace, workspace.load_config(), tokenizer=tokenizer) as ingestor:
        started = time.perf_counter()
        ingestor.scan()
        return time.perf_counter() - started


def store_bytes(workspace: Workspace) -> int:
    db = sqlite3.connect(workspace.db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return workspace.db_path.stat().st_size


def queries(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    sentences = sample_sentences()
    made = []
    for _ in range(count):
        words = rng.choice(sentences).split()
        start = rng.randrange(max(1, len(words) - 2))
        made.append(" ".join(words[start : start + rng.randint(2, 12)]))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=900)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    from tests.chat_exports import whatsapp_android

    folder = Path(tempfile.mkdtemp(prefix="recall-bench-"))
    try:
        writing = folder / "corpus"
        make_corpus(writing, args.documents)
        messages = chat_messages(args.messages)
        (writing / "WhatsApp Chat with Tamsin.txt").write_bytes(whatsapp_android(messages))
        tokenizer = load_tokenizer()
        workspaces = {}
        for name in ("without", "with"):
            workspace = Workspace.init(folder / name, name="Odile Marchbank")
            shutil.rmtree(workspace.writing)
            shutil.copytree(writing, workspace.writing)
            workspaces[name] = workspace
        without_index(workspaces["without"])
        seconds = {name: timed_ingest(ws, tokenizer) for name, ws in workspaces.items()}
        sizes = {name: store_bytes(ws) for name, ws in workspaces.items()}
        with Store(workspaces["with"].db_path) as store:
            stats = store.stats()
            asked = queries(args.queries)
            for message in asked[:10]:  # warm the page cache
                recall(store.db, message, limit=4, tokens=900)
            times = []
            for message in asked:
                started = time.perf_counter()
                recall(store.db, message, limit=4, tokens=900)
                times.append(1000 * (time.perf_counter() - started))
        tokens = stats.tokens_train + stats.tokens_val
        print(f"workspace: {args.documents} documents, {tokens:,} tokens of writing; "
              f"{args.messages:,} messages in one chat export")  # fmt: skip
        ratio = seconds["with"] / seconds["without"]
        print(f"ingest: {seconds['without']:.1f} s without the index, {seconds['with']:.1f} s "
              f"with it: {ratio:.2f}x (target <= 1.2x)")  # fmt: skip
        size_ratio = sizes["with"] / sizes["without"]
        print(f"store on disk: {sizes['without'] / 1e6:.1f} MB without, {sizes['with'] / 1e6:.1f}"
              f" MB with the index: {size_ratio:.2f}x")  # fmt: skip
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"recall over {len(times)} messages: median {statistics.median(times):.1f} ms, "
              f"95th percentile {p95:.1f} ms (target < 20 ms)")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
