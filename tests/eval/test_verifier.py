"""The authorship verifier on real writing with a known answer: the samples' islander against
the invented IT engineer of benchmarks/corpora/marek, fitted on some of each, asked about the
rest."""

from pathlib import Path

import numpy as np
import pytest

from slmtui.eval.verifier import Verifier, VerifierError, attributed_share, segments

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
MAREK = ROOT / "benchmarks" / "corpora" / "marek"


def texts(*folders: Path) -> list[str]:
    return [path.read_text(encoding="utf-8") for f in folders for path in sorted(f.iterdir())]


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier.fit(
        texts(SAMPLES / "essays", SAMPLES / "journal"), texts(MAREK / "email", MAREK / "notes")
    )


def test_held_out_writing_of_each_author_is_attributed_correctly(verifier):
    author = verifier.author_probability(segments(texts(SAMPLES / "letters")))
    other = verifier.author_probability(segments(texts(MAREK / "postmortems", MAREK / "log")))
    assert attributed_share(author) >= 0.9
    assert attributed_share(other) <= 0.2
    assert author.mean() > other.mean() + 0.5


def test_an_empty_answer_is_never_the_authors(verifier):
    assert verifier.author_probability(["", "   "]).tolist() == [0.0, 0.0]
    assert verifier.author_probability([]).size == 0
    assert attributed_share(np.zeros(0)) == 0.0


def test_segments_are_about_answer_sized_and_lose_no_words():
    text = " ".join(f"w{i}" for i in range(230))
    pieces = segments([text], words=100)
    assert [len(piece.split()) for piece in pieces] == [100, 130]  # a short tail joins
    assert " ".join(pieces).split() == text.split()


def test_too_little_text_is_refused():
    with pytest.raises(VerifierError, match="at least two pieces"):
        Verifier.fit(["one short text"], ["another", "and another"])
