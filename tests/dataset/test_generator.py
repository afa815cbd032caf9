"""The real base model (bundled SmolLM2-135M GGUF) writing requests through llama.cpp."""

from __future__ import annotations

import time

import pytest

from slmtui.config import DatasetConfig
from slmtui.dataset.build import build_dataset
from slmtui.dataset.generator import LlamaGenerator
from slmtui.dataset.kinds import PROMPT_VERSION, generator_prompt
from slmtui.dataset.request_filter import check_generation, clean_generation
from slmtui.dataset.snapshot import read_examples
from slmtui.tokenizer import bundled_gguf_path

pytestmark = pytest.mark.slow

FOLDERS = ("blog/", "journal/", "letters/")


@pytest.fixture(scope="module")
def generator():
    with LlamaGenerator(bundled_gguf_path()) as made:
        yield made


class Timed:
    """Records each reply and how long it took."""

    def __init__(self, generator):
        self.generator = generator
        self.calls: list[tuple[str, str, float]] = []

    def __call__(self, prompt: str) -> str:
        started = time.perf_counter()
        reply = self.generator(prompt)
        self.calls.append((prompt, reply, time.perf_counter() - started))
        return reply


def test_key_is_stable_and_loads_nothing():
    path = bundled_gguf_path()
    first, second = LlamaGenerator(path), LlamaGenerator(path)
    assert first.key == second.key
    assert first.key.endswith(f":p{PROMPT_VERSION}")
    assert LlamaGenerator(path, temperature=0.7).key != first.key
    assert first._llm is None  # nothing loaded until the first call


def test_real_model_backtranslates_three_passages(
    generator, samples_workspace, make_ingestor, tmp_path
):
    ingestor = make_ingestor(samples_workspace)
    ingestor.scan()
    chosen = {}
    for chunk in ingestor.store.live_chunks():
        folder = chunk.path.split("/")[0] + "/"
        if chunk.split == "train" and folder in FOLDERS and folder not in chosen:
            chosen[folder] = chunk
    assert sorted(chosen) == sorted(FOLDERS)
    hashes = {chunk.hash for chunk in chosen.values()}
    config = DatasetConfig(raw_ratio=0, backtranslate_ratio=1, continue_ratio=0)
    timed = Timed(generator)
    build = build_dataset(
        ingestor.store,
        tmp_path / "ds",
        config,
        timed,
        generator.key,
        chunk_filter=lambda chunk: chunk.hash in hashes,
    )
    assert len(timed.calls) == 3 and build.stats["generated"] == 3
    passages = {chunk.hash: chunk.text for chunk in chosen.values()}
    accepted = 0
    for (prompt, reply, seconds), chunk in zip(timed.calls, chosen.values(), strict=True):
        assert isinstance(reply, str) and reply.strip()
        verdict = check_generation(clean_generation(reply), passages[chunk.hash], prompt=prompt)
        accepted += verdict is None
        cleaned = clean_generation(reply)
        print(f"\n{chunk.path} ({seconds:.2f}s): {reply!r} -> {cleaned!r}: {verdict or 'accepted'}")
        assert prompt == generator_prompt("backtranslate", chunk.text)
    assert build.stats["rejected"] == 3 - accepted
    assert build.stats["kinds"]["backtranslate"] == accepted
    for example in read_examples(build.train_path):
        answer = example.messages[1]["content"]
        if example.kind == "backtranslate":
            assert answer == passages[example.id]
        else:  # a rejected request falls back to a continue example
            assert example.kind == "continue" and passages[example.id].endswith(answer)
    # Greedy and cached: the same replies come back, and a rebuild asks the model nothing.
    assert generator(timed.calls[0][0]) == timed.calls[0][1]
    again = Timed(generator)
    rebuilt = build_dataset(
        ingestor.store,
        tmp_path / "again",
        config,
        again,
        generator.key,
        chunk_filter=lambda chunk: chunk.hash in hashes,
    )
    assert again.calls == [] and rebuilt.hash == build.hash


def test_a_prompt_longer_than_the_context_gives_an_empty_reply(generator):
    assert generator("word " * 3000) == ""
