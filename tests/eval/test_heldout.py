"""Held-out requests on the ingested samples: "continue" spread over the held-out passages, and
"write about" requests written by a generator and cached with training's requests."""

import re

import pytest

from slmtui.eval.heldout import HeldOutError, load_heldout, training_prompts


def request_writer(calls: list[str], refuse_first: bool = False):
    """A generator as the dataset calls one: prompt in, request out (the base model's job),
    naming the longest word of the passage it was shown."""

    def write(prompt: str) -> str:
        calls.append(prompt)
        if refuse_first and len(calls) == 1:
            return "Sure! Here is a request for you."
        word = max(re.findall(r"[a-z]{4,}", prompt.split("\n\n", 1)[-1]), key=len)
        return f"Request: Write a short piece about the {word} and what it meant to you."

    return write


@pytest.fixture
def store(samples_workspace, make_ingestor):
    ingestor = make_ingestor(samples_workspace)
    ingestor.scan()
    return ingestor.store


def test_continue_and_write_requests_from_several_held_out_documents(store):
    calls: list[str] = []
    heldout = load_heldout(store, 6, 4, request_writer(calls), "writer-1")
    kinds = [prompt.kind for prompt in heldout.prompts]
    assert kinds == ["continue"] * 6 + ["write"] * 4
    assert len(calls) == 4
    write = [prompt for prompt in heldout.prompts if prompt.kind == "write"]
    assert write[0].request.startswith("Write a short piece about")  # cleaned as in training
    assert write[0].reference in heldout.texts  # the whole passage is the reference
    continued = {prompt.chunk_hash for prompt in heldout.prompts if prompt.kind == "continue"}
    assert not continued & {prompt.chunk_hash for prompt in write}
    paths = {c.path for c in store.live_chunks() if c.split == "val"}
    assert len(paths) >= 5

    again = load_heldout(store, 6, 4, None, "writer-1")  # cached: no generator needed
    assert again.prompts == heldout.prompts and len(calls) == 4


def test_a_rejected_request_is_left_out(store):
    heldout = load_heldout(store, 2, 3, request_writer([], refuse_first=True), "writer-2")
    assert [prompt.kind for prompt in heldout.prompts] == ["continue"] * 2 + ["write"] * 2


def test_without_a_generator_key_only_continue_requests(store):
    heldout = load_heldout(store, 3, 4)
    assert [prompt.kind for prompt in heldout.prompts] == ["continue"] * 3


def test_training_prompts_never_use_held_out_passages(store):
    held = {chunk.hash for chunk in store.live_chunks() if chunk.split == "val"}
    prompts = training_prompts(store, 8)
    assert len(prompts) == 8 and not {prompt.chunk_hash for prompt in prompts} & held


def test_no_held_out_writing_says_what_to_do(tmp_path):
    from slmtui.ingest.store import Store

    with Store(tmp_path / "state.db") as empty, pytest.raises(HeldOutError, match="writing/"):
        load_heldout(empty)
