"""The authorship verifier on real writing with a known answer: the samples' islander against
the invented IT engineer of benchmarks/corpora/marek, fitted on some of each, asked about the
rest."""

from pathlib import Path

import numpy as np
import pytest

from slmtui.eval.verifier import Verifier, VerifierError, best_cut, segments, share

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
    author = segments(texts(SAMPLES / "letters"))
    other = segments(texts(MAREK / "postmortems", MAREK / "log"))
    assert share(verifier.attributed(author)) >= 0.9
    assert share(verifier.attributed(other)) <= 0.2
    assert verifier.author_probability(author).mean() > verifier.author_probability(other).mean()
    assert verifier.accuracy >= 0.9 and 0 < verifier.threshold < 1


def test_an_empty_answer_is_never_the_authors(verifier):
    assert verifier.author_probability(["", "   "]).tolist() == [0.0, 0.0]
    assert verifier.author_probability([]).size == 0
    assert share([]) == 0.0
    assert verifier.attributed(["", "   "]) == [False, False]


def test_the_cut_is_where_the_two_sides_separate_best_not_one_half():
    """Probabilities pushed up for both sides (scarce other text): the cut moves up with them."""
    probabilities = np.array([0.97, 0.95, 0.93, 0.9, 0.88, 0.72, 0.7, 0.66, 0.6, 0.55])
    labels = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    cut, accuracy = best_cut(probabilities, labels)
    assert cut == pytest.approx(0.80) and accuracy == 1.0  # between 0.72 and 0.88
    assert (probabilities[labels == 0] > 0.5).all()  # one half would call them all the author's


def test_segments_are_about_answer_sized_and_lose_no_words():
    text = " ".join(f"w{i}" for i in range(230))
    pieces = segments([text], words=100)
    assert [len(piece.split()) for piece in pieces] == [100, 130]  # a short tail joins
    assert " ".join(pieces).split() == text.split()


def test_too_little_text_is_refused():
    with pytest.raises(VerifierError, match="at least two pieces"):
        Verifier.fit(["one short text"], ["another", "and another"])
