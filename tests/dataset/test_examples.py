"""Seeing and correcting the dataset: `slmtui dataset` lists every example as the model will
see it; an excluded example or document never reaches a snapshot; a request can be written anew."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from slmtui.dataset.examples import ExampleError, find, list_examples
from slmtui.jobs.prepare import prepare_run
from tests.conftest import SAMPLES, small_workspace

ESSAYS = sorted(path.name for path in (SAMPLES / "essays").iterdir())


def slmtui(workspace, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "dataset", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def listing(workspace, *args: str) -> dict:
    return json.loads(slmtui(workspace, "--json", *args).stdout)


def snapshot_text(run) -> str:
    return (run.dataset / "train.jsonl").read_text() + (run.dataset / "val.jsonl").read_text()


def chunk_texts(workspace, chunk: str | None = None, path: str | None = None) -> list[str]:
    from slmtui.ingest.store import Store

    with Store(workspace.db_path) as store:
        return [
            c.text for c in store.live_chunks()
            if (chunk is None or c.hash == chunk) and (path is None or c.path == path)
        ]  # fmt: skip


def sentences(text: str) -> list[str]:
    """The longer sentences of a text, as they stand inside a JSON line (the snapshot files).

    A 'continue' example cuts its chunk in two, so the chunk is looked for sentence by sentence.
    """
    found = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [json.dumps(s, ensure_ascii=False)[1:-1] for s in found if len(s) > 40]


def present(texts: list[str], snapshot: str) -> list[bool]:
    return [piece in snapshot for text in texts for piece in sentences(text)]


@pytest.fixture
def workspace(tmp_path):
    return small_workspace(tmp_path, ESSAYS[:4])


def test_listing_shows_every_example_by_kind_as_the_model_sees_it(workspace):
    data = listing(workspace)
    examples = data["examples"]
    trained = [e for e in examples if e["split"] == "train"]
    assert sum(data["counts"].values()) == len(trained) and data["excluded"] == 0
    assert {e["kind"] for e in trained} <= {"raw", "backtranslate", "continue", "rewrite"}
    for example in examples:
        assert len(example["id"]) == 10 and example["full_id"].startswith(example["id"])
        assert example["path"] in ESSAYS[:4] and example["trained"].strip()
        if example["kind"] == "raw":
            assert example["request"] == ""
        else:  # a chat pair: a request, and the reply training learns
            assert example["request"].strip()
    # Nothing was generated, so chunks planned as chat pairs wait as 'continue' pairs.
    assert any(e["status"] == "pending" and e["kind"] == "continue" for e in trained)
    only = listing(workspace, "--kind", "raw", "--document", ESSAYS[0])["examples"]
    assert only and all(e["kind"] == "raw" and e["path"] == ESSAYS[0] for e in only)
    human = slmtui(workspace).stdout
    assert "training examples (" in human and trained[0]["id"] in human


def test_excluded_text_never_reaches_a_training_snapshot(workspace):
    config = workspace.load_config()
    examples = listing(workspace)["examples"]
    example = next(e for e in examples if e["split"] == "train" and e["path"] != ESSAYS[1])
    document = ESSAYS[1]
    secret_example = chunk_texts(workspace, chunk=example["full_id"])[0]
    secret_document = chunk_texts(workspace, path=document)
    assert secret_document

    secrets = [secret_example, *secret_document]
    before = snapshot_text(prepare_run(workspace, config))
    assert all(present(secrets, before)) and example["full_id"] in before

    assert "left out of training" in slmtui(workspace, "exclude", example["id"][:7]).stdout
    slmtui(workspace, "exclude", document)
    data = listing(workspace)
    assert data["excluded"] == 1 + len(secret_document)
    after = snapshot_text(prepare_run(workspace, config))
    assert not any(present(secrets, after)) and example["full_id"] not in after
    assert (workspace.writing / document).is_file()  # the file stays in writing/

    slmtui(workspace, "include", example["id"])
    slmtui(workspace, "include", document)
    assert snapshot_text(prepare_run(workspace, config)) == before


def test_an_unknown_or_ambiguous_name_is_refused_with_a_reason(workspace):
    done = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "dataset", "exclude",
         "no-such-thing"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "neither an example ID nor a document" in done.stderr
    from slmtui.ingest.store import Store

    with Store(workspace.db_path) as store:
        views = list_examples(store, workspace.load_config().dataset, None)
    assert not any(view.status for view in views)  # without a generator nothing is pending
    with pytest.raises(ExampleError):
        find(views, "")
    assert find(views, views[0].id) == ("example", views[0].example.id)


def test_a_generated_request_can_be_written_anew(workspace):
    pending = next(e for e in listing(workspace)["examples"] if e["status"] == "pending")
    done = slmtui(workspace, "regenerate", pending["id"])
    assert done.stdout.startswith(f"new request for {pending['id']}: ")
    again = next(e for e in listing(workspace)["examples"] if e["id"] == pending["id"])
    assert again["status"] in ("", "rejected")  # written; the filter may still refuse it
    if again["status"] == "":
        assert again["kind"] == pending["planned"] and again["request"].strip()


def test_the_listing_and_the_snapshot_hold_the_same_examples(tmp_path):
    """One dataset plan: `slmtui dataset` lists exactly what a run trains on, conversations and
    the identity pairs included, before and after the person leaves some out."""
    import shutil

    from slmtui.config_file import write_identity
    from slmtui.dataset.snapshot import read_examples

    workspace = small_workspace(tmp_path, ESSAYS[:2], ingest=False)
    shutil.copytree(SAMPLES / "chats", workspace.writing / "chats")
    config = write_identity(workspace.config_path, "Odile Marchbank")

    def agree() -> list[dict]:
        listed = listing(workspace)["examples"]
        run = prepare_run(workspace, config)
        for split in ("train", "val"):
            shown = {(e["full_id"], e["kind"]) for e in listed
                     if e["split"] == split and not e["excluded"]}  # fmt: skip
            written = {(e.id, e.kind) for e in read_examples(run.dataset / f"{split}.jsonl")}
            assert shown == written
        return listed

    listed = agree()
    kinds = {e["kind"] for e in listed}
    assert {"dialogue", "identity"} <= kinds
    for kind in ("dialogue", "identity"):
        slmtui(workspace, "exclude", next(e["id"] for e in listed if e["kind"] == kind))
    after = agree()
    assert sum(e["excluded"] for e in after) == 2


def test_the_train_preview_reads_the_store_without_a_pass_of_its_own(workspace):
    """The Train screen's plan takes the store as the app's watcher keeps it: a file the
    watcher has not read yet is not read by the preview either; `slmtui train` reads it."""
    import shutil

    from slmtui.ingest.store import Store

    shutil.copy(SAMPLES / "essays" / ESSAYS[4], workspace.writing / ESSAYS[4])
    config = workspace.load_config()
    preview = prepare_run(workspace, config, preview=True, scan=False)
    with Store(workspace.db_path) as store:
        assert store.document(ESSAYS[4]) is None
    run = prepare_run(workspace, config)
    new_text = chunk_texts(workspace, path=ESSAYS[4])
    assert new_text and not any(present(new_text, snapshot_text(preview)))
    assert all(present(new_text, snapshot_text(run)))
