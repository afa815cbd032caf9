"""Is it you? An authorship verifier on character n-grams.

Stylometry compares averages (sentence length, function words); a verifier looks at every
answer on its own. It is a logistic regression on TF-IDF weighted character 2-4-grams within
words, the standard first attack in authorship attribution because it catches spelling,
punctuation, function words and morphology at once without a language model. It is fitted on
the author's training text against the base model's own writing, then asked, for each model's
answers to the held-out requests, how likely each one is the author's. A tuned model that
sounds like the author gets more of its answers attributed to the author than the base does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

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


@dataclass
class Verifier:
    pipeline: Pipeline

    @classmethod
    def fit(cls, author: Sequence[str], others: Sequence[str]) -> Verifier:
        """Fit on the author's texts against other writing, both cut into answer-sized pieces."""
        mine, theirs = segments(author), segments(others)
        if len(mine) < 2 or len(theirs) < 2:
            raise VerifierError(
                f"a verifier needs at least two pieces of text on each side "
                f"(author {len(mine)}, other {len(theirs)})"
            )
        pipeline = make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2,
                max_features=60_000,
            ),
            LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000),
        )  # fmt: skip
        pipeline.fit(mine + theirs, [1] * len(mine) + [0] * len(theirs))
        return cls(pipeline)

    def author_probability(self, texts: Sequence[str]) -> np.ndarray:
        """For each text, the probability that the author wrote it (0 for an empty text)."""
        if not texts:
            return np.zeros(0)
        probabilities = self.pipeline.predict_proba(list(texts))[:, 1]
        return np.where([bool(text.strip()) for text in texts], probabilities, 0.0)


def attributed_share(probabilities: np.ndarray) -> float:
    """Share of answers the verifier attributes to the author (probability above one half)."""
    return float((probabilities > 0.5).mean()) if len(probabilities) else 0.0
