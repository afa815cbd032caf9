"""Is it you? An authorship verifier on character n-grams.

Stylometry compares averages (sentence length, function words); a verifier looks at every
answer on its own. It is a logistic regression on TF-IDF weighted character 2-4-grams within
words, the standard first attack in authorship attribution because it catches spelling,
punctuation, function words and morphology at once without a language model. It is fitted on
the author's training text against the base model's own writing, then asked, for each model's
answers to the held-out requests, how likely each one is the author's. A tuned model that
sounds like the author gets more of its answers attributed to the author than the base does.

The base model's writing is scarce beside the author's (a few dozen answers against hundreds of
passages), and a base model continuing the author's own passage borrows its topic words, so a
probability of one half is the wrong cut: most base answers land above it. The cut is instead
the one that best separates the two sides in a cross-validated fit on the fitting texts
(balanced accuracy), and that accuracy is reported as the verifier's own quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline

from slmtui.eval.heldout import spread

SEGMENT_WORDS = 100  # about the length of an evaluation answer


class VerifierError(ValueError):
    """Too little text on one side to fit a verifier."""


def segments(texts: Sequence[str], words: int = SEGMENT_WORDS) -> list[str]:
    """Texts cut into pieces of about `words` words (a shorter tail joins the piece before)."""
    pieces: list[str] = []
    for text in texts:
        tokens = text.split()
        cut = [tokens[i : i + words] for i in range(0, len(tokens), words)]
        if len(cut) > 1 and len(cut[-1]) < words // 2:
            tail = cut.pop()
            cut[-1] += tail
        pieces += [" ".join(part) for part in cut if part]
    return pieces


def _pipeline() -> Pipeline:
    return make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2,
                max_features=60_000,
            ),
            LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000),
        )  # fmt: skip


def best_cut(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The probability cut with the best balanced accuracy, and that accuracy. The cut sits
    halfway between the lowest probability it lets in and the next one below, so a text
    a little less sure than any seen in the fit is still judged by the gap, not its edge."""
    values = np.unique(probabilities)
    best_index, best_accuracy = 0, -1.0
    for index, cut in enumerate(values):
        accuracy = (
            (probabilities[labels == 1] >= cut).mean() + (probabilities[labels == 0] < cut).mean()
        ) / 2
        if accuracy > best_accuracy:
            best_index, best_accuracy = index, float(accuracy)
    below = values[best_index - 1] if best_index > 0 else 0.0
    return float((values[best_index] + below) / 2), best_accuracy


# Pieces a side is fitted on at most, spread over its texts: more does not separate two
# writers better, and a cross-validated fit on the ten thousand pieces of a long chat history
# took minutes.
MAX_PIECES = 600


@dataclass
class Verifier:
    pipeline: Pipeline
    threshold: float  # a probability at or above it attributes a text to the author
    accuracy: float  # cross-validated balanced accuracy on the fitting texts at that cut

    @classmethod
    def fit(cls, author: Sequence[str], others: Sequence[str]) -> Verifier:
        """Fit on the author's texts against other writing, both cut into answer-sized pieces."""
        mine = spread(segments(author), MAX_PIECES)
        theirs = spread(segments(others), MAX_PIECES)
        if len(mine) < 2 or len(theirs) < 2:
            raise VerifierError(
                f"a verifier needs at least two pieces of text on each side "
                f"(author {len(mine)}, other {len(theirs)})"
            )
        texts, labels = mine + theirs, np.array([1] * len(mine) + [0] * len(theirs))
        folds = StratifiedKFold(min(5, len(mine), len(theirs)), shuffle=True, random_state=0)
        held = cross_val_predict(_pipeline(), texts, labels, cv=folds, method="predict_proba")
        threshold, accuracy = best_cut(held[:, 1], labels)
        pipeline = _pipeline()
        pipeline.fit(texts, labels)
        return cls(pipeline, threshold, accuracy)

    def author_probability(self, texts: Sequence[str]) -> np.ndarray:
        """For each text, the probability that the author wrote it (0 for an empty text)."""
        if not texts:
            return np.zeros(0)
        probabilities = self.pipeline.predict_proba(list(texts))[:, 1]
        return np.where([bool(text.strip()) for text in texts], probabilities, 0.0)

    def attributed(self, texts: Sequence[str]) -> list[bool]:
        """For each text, whether the verifier attributes it to the author."""
        return (self.author_probability(texts) >= self.threshold).tolist()


def share(attributed: Sequence[bool]) -> float:
    """Share of texts attributed to the author (0 for none)."""
    return float(np.mean(attributed)) if len(attributed) else 0.0
