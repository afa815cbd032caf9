"""The words an author over-uses against a reference (the base model's writing, say), by the
log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), and how often
any text uses them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slmtui.eval.stylometry import Profile, per_1000, reject_single_string
from slmtui.eval.text_units import normalize_word, words_of


@dataclass(frozen=True)
class CharacteristicWord:
    """A word the author uses more than the reference does, with its z-scored log-odds ratio."""

    word: str
    z: float
    author_per_1000: float
    reference_per_1000: float
    author_count: int = 0
    reference_count: int = 0


def _word_counts(source: Profile | Sequence[str]) -> Counter[str]:
    if isinstance(source, Profile):
        return source.word_counts
    reject_single_string(source, "this function")
    counts: Counter[str] = Counter()
    for text in source:
        counts.update(normalize_word(w) for w in words_of(text))
    return counts


def word_log_odds(
    author: Profile | Sequence[str],
    reference: Profile | Sequence[str],
    prior_weight: float = 0.1,
) -> dict[str, float]:
    """z-scored log-odds ratio (author vs reference) of every word either uses.

    Monroe, Colaresi & Quinn (2008), "Fightin' Words", with an informative Dirichlet prior made
    of the pooled counts of both sides times `prior_weight`: the prior pulls rare words toward
    the pooled rate, so a word seen twice does not outrank one seen fifty times. z > 0: the
    author uses it more; about 0: both use it at the same rate.
    """
    return _log_odds(_word_counts(author), _word_counts(reference), prior_weight)


def _log_odds(ca: Counter[str], cr: Counter[str], prior_weight: float) -> dict[str, float]:
    na, nr = sum(ca.values()), sum(cr.values())
    if not na or not nr:
        return {}
    a0 = prior_weight * (na + nr)
    out: dict[str, float] = {}
    for word in ca.keys() | cr.keys():
        ya, yr = ca[word], cr[word]
        aw = prior_weight * (ya + yr)
        rest_a, rest_r = na + a0 - ya - aw, nr + a0 - yr - aw
        if rest_a <= 0 or rest_r <= 0:  # the word is a side's whole vocabulary: no odds to compare
            out[word] = 0.0
            continue
        delta = math.log((ya + aw) / rest_a) - math.log((yr + aw) / rest_r)
        out[word] = delta / math.sqrt(1.0 / (ya + aw) + 1.0 / (yr + aw))
    return out


def characteristic_words(
    author_texts: Profile | Sequence[str],
    reference_texts: Profile | Sequence[str],
    top: int = 15,
    min_count: int = 3,
    min_z: float = 1.96,
    prior_weight: float = 0.1,
) -> list[CharacteristicWord]:
    """The `top` words the author over-uses most relative to the reference, highest z first.

    Only words with a letter, seen at least `min_count` times in the author's text, with
    z >= `min_z` (1.96: about 5% two-sided; pass 0 for a plain ranking). The list can be short or
    empty when there is little text: that is an honest answer, not an error.
    """
    ca, cr = _word_counts(author_texts), _word_counts(reference_texts)
    na, nr = sum(ca.values()), sum(cr.values())
    scores = _log_odds(ca, cr, prior_weight)
    chosen = [
        CharacteristicWord(
            word=w,
            z=z,
            author_per_1000=per_1000(ca[w], na),
            reference_per_1000=per_1000(cr[w], nr),
            author_count=ca[w],
            reference_count=cr[w],
        )
        for w, z in scores.items()
        if ca[w] >= min_count and z >= min_z and any(ch.isalpha() for ch in w)
    ]
    chosen.sort(key=lambda c: (-c.z, c.word))
    return chosen[:top]


def rates_per_1000(words: str | Iterable[str], source: Profile | Sequence[str]) -> dict[str, float]:
    """How often `source` (a profile or texts) uses each of `words`, per 1000 words."""
    wanted = [words] if isinstance(words, str) else list(words)
    counts = _word_counts(source)
    total = sum(counts.values())
    return {w: per_1000(counts[normalize_word(w)], total) for w in wanted}


def rate_per_1000(words: str | Iterable[str], source: Profile | Sequence[str]) -> float:
    """How often `source` uses any of `words` together, per 1000 words.

    For the caller's "does the tuned model use the author's words?" line: pass the words of
    `characteristic_words` and the base or tuned generations (or their profiles).
    """
    return sum(rates_per_1000(words, source).values())
