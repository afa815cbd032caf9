"""How a body of text writes: a stylometric profile, and a distance between two profiles.

slmtui uses this to tell the user how close the tuned model's writing is to theirs, and in what
respects it moved: a model can match the author's vocabulary yet still write sentences twice as
long, and a single number would hide that. Everything here is pure Python (stdlib only): no torch,
no textual, so `slmtui eval` can run it on a laptop in a second.

What is measured
----------------
Texts are cut into paragraphs, sentences and words (`text_units.py`). A `Profile` keeps the
counts, the sentence and paragraph length lists, and the features below. `Profile.features()`
gives them flat, by name, grouped by prefix:

- ``fw.<word>``: rate per 1000 words of each word in `FUNCTION_WORDS` (78 common English function
  words). Function-word rates are the classic authorship signal: frequent, topic-independent and
  used without thinking.
- ``punct.<name>``: rate per 1000 words of comma, semicolon, colon, dash (— or – or a spaced
  " - " or "--"), exclamation (a run of ! counts once), question (a run of ? counts once),
  ellipsis (… or ... or . . .), parenthesis (opening brackets), double_quote (every straight or
  curly mark) and single_quote (opening ‘ or a straight ' that opens a word after a space).
- ``len.sentence_mean``, ``len.sentence_median``, ``len.sentence_sd`` (words per sentence),
  ``len.paragraph_mean`` (words per paragraph).
- ``rich.mattr``: moving-average type-token ratio over windows of `MATTR_WINDOW` words (plain TTR
  when the text is shorter), so it does not fall as a text gets longer the way plain TTR does;
  ``rich.hapax``: hapax legomena / types, averaged over the same windows for the same reason (the
  whole-text ratio is kept in the profile for reporting); ``rich.word_length``: mean characters per
  word.
- ``habit.i_start``: share of sentences that start with "I" (or I'm, I've, ...);
  ``habit.mid_caps``: share of words after the first of a sentence that are capitalised, not
  counting "I"; ``habit.contractions``: contractions (n't, 're, 've, 'll, 'd, 'm, it's, that's, ...)
  per 1000 words.

Windows run over all texts' words concatenated, so many short generations are measured like one
long one. Standard deviations inside a profile are population ones (0 for a single sentence).

The distance (Burrows' Delta in spirit)
---------------------------------------
Burrows' Delta z-scores each feature by its spread in a reference corpus and averages absolute
differences. Here the spread is the author's own: `StyleScale.from_segments` profiles each of the
author's texts alone and takes, for every feature, the sample standard deviation across those
segments, floored at ``max(sd, relative * |mean|, absolute)`` with the (relative, absolute) pair of
the feature's group (`FLOORS`), so a feature the author never varies (or never uses) cannot make a
tiny difference look enormous. With fewer than two non-empty segments there is no spread to
measure, and the scale falls back to ``max(FALLBACK_RELATIVE * |value|, absolute)`` from the one
segment's values (or the absolute floors alone with none); `StyleScale.method` says which.

``style_distance(a, b, scale)`` is the mean over feature groups of the mean, within the group, of
``|a_f - b_f| / scale_f``. Averaging per group first keeps 78 function words from drowning out four
length features. It is 0 exactly for identical profiles, symmetric, and in units of "the author's
own segment-to-segment variation": about 1 means as different as two of the author's own passages
typically are from each other's average, per feature.

`feature_shifts` reports, per feature, where a base and a tuned model sit relative to the author
in the same z units; `characteristic_words.py` finds the words the author over-uses relative to a
reference (the base model's output, say) by the log-odds ratio with an informative Dirichlet
prior (Monroe, Colaresi & Quinn 2008), and `rate_per_1000` says how often any text uses them.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slmtui.eval.text_units import (
    MATTR_WINDOW,
    PUNCTUATION_PATTERNS,
    is_contraction,
    is_i_word,
    moving_window_ratios,
    normalize_word,
    split_paragraphs,
    split_sentences,
    words_of,
)

"""Words per window for the moving-average type-token and hapax ratios."""

FUNCTION_WORDS: tuple[str, ...] = (
    # articles and determiners
    "the", "a", "an", "this", "that", "these", "some", "no", "all",
    # pronouns
    "i", "me", "my", "you", "your", "we", "us", "our", "he", "him", "his", "she", "her", "it",
    "its", "they", "them", "their",
    # prepositions
    "of", "in", "on", "at", "to", "for", "with", "from", "by", "about", "into", "over", "after",
    "like",
    # conjunctions
    "and", "but", "or", "so", "if", "because", "as", "than", "when", "while", "though", "then",
    # auxiliaries and copulas
    "is", "are", "was", "were", "be", "been", "am", "have", "has", "had", "do", "did", "will",
    "would", "can", "could", "should", "might",
    # adverbs, negation, wh-words
    "not", "just", "very", "there", "what", "which", "who",
)  # fmt: skip

PUNCTUATION_NAMES: tuple[str, ...] = (
    "comma",
    "semicolon",
    "colon",
    "dash",
    "exclamation",
    "question",
    "ellipsis",
    "parenthesis",
    "double_quote",
    "single_quote",
)

FEATURE_GROUPS: tuple[str, ...] = ("fw", "punct", "len", "rich", "habit")

FLOORS: dict[str, tuple[float, float]] = {
    "fw": (0.10, 1.0),  # per 1000 words
    "punct": (0.10, 1.0),  # per 1000 words
    "len": (0.05, 0.5),  # words
    "rich.mattr": (0.0, 0.005),  # bounded ratios: a relative floor would swamp their real spread
    "rich.hapax": (0.0, 0.01),
    "rich.word_length": (0.0, 0.02),  # characters
    "habit.i_start": (0.10, 0.01),  # share of sentences
    "habit.mid_caps": (0.10, 0.005),  # share of words
    "habit.contractions": (0.10, 1.0),  # per 1000 words
}
"""(relative, absolute) floors of a feature's scale, by full feature name or else by group."""

FALLBACK_RELATIVE = 0.25
"""Scale as a share of |value| when the author has fewer than two segments (no spread to measure).

A crude stand-in: typical segment-to-segment variation of function-word rates is 30-60% of the
rate, of sentence length about 20%. Pass two or more segments to get a measured scale."""


# --- the profile -----------------------------------------------------------------------------


def per_1000(count: float, words: int) -> float:
    return count * 1000.0 / words if words else 0.0


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _pstdev(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Profile:
    """How a body of text writes. Build it with `profile_texts`; read it with `features()`."""

    texts: int
    words: int
    sentences: int
    paragraphs: int
    characters: int  # len() of the texts as given
    sentence_lengths: list[int]  # words per sentence, in order
    paragraph_lengths: list[int]  # words per paragraph, in order
    function_words: dict[str, float]  # FUNCTION_WORDS -> per 1000 words
    punctuation: dict[str, float]  # PUNCTUATION_NAMES -> per 1000 words
    types: int
    hapax: int
    ttr: float  # types / words over everything: depends on length, for reporting only
    hapax_ratio: float  # hapax / types over everything: depends on length, for reporting only
    mattr: float
    hapax_window: float  # hapax / types averaged over MATTR windows
    window: int
    word_length: float
    i_start: float  # share of sentences
    mid_caps: float  # share of non-initial words, "I" excluded
    contractions: float  # per 1000 words
    word_counts: Counter[str] = field(default_factory=Counter, repr=False)

    @property
    def sentence_mean(self) -> float:
        return _mean(self.sentence_lengths)

    @property
    def sentence_median(self) -> float:
        return _median(self.sentence_lengths)

    @property
    def sentence_sd(self) -> float:
        return _pstdev(self.sentence_lengths)

    @property
    def paragraph_mean(self) -> float:
        return _mean(self.paragraph_lengths)

    @property
    def paragraph_median(self) -> float:
        return _median(self.paragraph_lengths)

    @property
    def paragraph_sd(self) -> float:
        return _pstdev(self.paragraph_lengths)

    def features(self) -> dict[str, float]:
        """Every scalar feature the distance uses, by stable name, grouped by prefix."""
        out: dict[str, float] = {f"fw.{w}": self.function_words[w] for w in FUNCTION_WORDS}
        out.update({f"punct.{p}": self.punctuation[p] for p in PUNCTUATION_NAMES})
        out["len.sentence_mean"] = self.sentence_mean
        out["len.sentence_median"] = self.sentence_median
        out["len.sentence_sd"] = self.sentence_sd
        out["len.paragraph_mean"] = self.paragraph_mean
        out["rich.mattr"] = self.mattr
        out["rich.hapax"] = self.hapax_window
        out["rich.word_length"] = self.word_length
        out["habit.i_start"] = self.i_start
        out["habit.mid_caps"] = self.mid_caps
        out["habit.contractions"] = self.contractions
        return out

    def as_dict(self, include_word_counts: bool = False) -> dict[str, Any]:
        """Everything, JSON-serialisable. The full vocabulary count is left out unless asked for:
        it is as long as the vocabulary and only `rate_per_1000` needs it."""
        out: dict[str, Any] = {
            "counts": {
                "texts": self.texts,
                "words": self.words,
                "sentences": self.sentences,
                "paragraphs": self.paragraphs,
                "characters": self.characters,
            },
            "sentence_lengths": list(self.sentence_lengths),
            "paragraph_lengths": list(self.paragraph_lengths),
            "sentence_length": {
                "mean": self.sentence_mean,
                "median": self.sentence_median,
                "sd": self.sentence_sd,
            },
            "paragraph_length": {
                "mean": self.paragraph_mean,
                "median": self.paragraph_median,
                "sd": self.paragraph_sd,
            },
            "function_words": dict(self.function_words),
            "punctuation": dict(self.punctuation),
            "richness": {
                "types": self.types,
                "hapax": self.hapax,
                "ttr": self.ttr,
                "hapax_ratio": self.hapax_ratio,
                "mattr": self.mattr,
                "hapax_window": self.hapax_window,
                "window": self.window,
                "word_length": self.word_length,
            },
            "habits": {
                "i_start": self.i_start,
                "mid_caps": self.mid_caps,
                "contractions": self.contractions,
            },
            "features": self.features(),
        }
        if include_word_counts:
            out["word_counts"] = dict(self.word_counts.most_common())
        return out


def reject_single_string(texts: object, what: str) -> None:
    if isinstance(texts, str):
        raise TypeError(f"{what} takes a list of texts, not one string")


def profile_texts(texts: Sequence[str], window: int = MATTR_WINDOW) -> Profile:
    """Profile a list of texts as one body of writing (the empty list gives an all-zero profile)."""
    reject_single_string(texts, "profile_texts")
    sentence_lengths: list[int] = []
    paragraph_lengths: list[int] = []
    all_words: list[str] = []
    punct_counts = dict.fromkeys(PUNCTUATION_NAMES, 0)
    characters = 0
    i_starts = 0
    mid_total = 0
    mid_caps = 0
    for text in texts:
        characters += len(text)
        clean = text.replace("\r\n", "\n").replace("\r", "\n")
        for name, pattern in PUNCTUATION_PATTERNS.items():
            punct_counts[name] += len(pattern.findall(clean))
        for paragraph in split_paragraphs(clean):
            paragraph_words = 0
            for sentence in split_sentences(paragraph):
                raw = words_of(sentence)
                if not raw:
                    continue
                sentence_lengths.append(len(raw))
                paragraph_words += len(raw)
                all_words.extend(normalize_word(w) for w in raw)
                i_starts += is_i_word(raw[0])
                for word in raw[1:]:
                    if not is_i_word(word):
                        mid_total += 1
                        mid_caps += word[0].isupper()
            if paragraph_words:
                paragraph_lengths.append(paragraph_words)

    n = len(all_words)
    counts = Counter(all_words)
    types = len(counts)
    hapax = sum(1 for c in counts.values() if c == 1)
    mattr, hapax_window = moving_window_ratios(all_words, window)
    return Profile(
        texts=len(texts),
        words=n,
        sentences=len(sentence_lengths),
        paragraphs=len(paragraph_lengths),
        characters=characters,
        sentence_lengths=sentence_lengths,
        paragraph_lengths=paragraph_lengths,
        function_words={w: per_1000(counts[w], n) for w in FUNCTION_WORDS},
        punctuation={p: per_1000(punct_counts[p], n) for p in PUNCTUATION_NAMES},
        types=types,
        hapax=hapax,
        ttr=types / n if n else 0.0,
        hapax_ratio=hapax / types if types else 0.0,
        mattr=mattr,
        hapax_window=hapax_window,
        window=window,
        word_length=_mean([len(w) for w in all_words]),
        i_start=i_starts / len(sentence_lengths) if sentence_lengths else 0.0,
        mid_caps=mid_caps / mid_total if mid_total else 0.0,
        contractions=per_1000(sum(c for w, c in counts.items() if is_contraction(w)), n),
        word_counts=counts,
    )


# --- the scale and the distance --------------------------------------------------------------


def feature_label(name: str) -> str:
    """A feature's name as a person reads it, for the report and the Models screen."""
    group, _, rest = name.partition(".")
    if group == "fw":
        return f"“{rest}” per 1000 words"
    if group == "punct":
        return f"{rest.replace('_', ' ')}s per 1000 words"
    return {
        "len.sentence_mean": "words per sentence",
        "len.sentence_median": "median words per sentence",
        "len.sentence_sd": "spread of sentence length",
        "len.paragraph_mean": "words per paragraph",
        "rich.mattr": "vocabulary variety (MATTR)",
        "rich.hapax": "share of once-used words",
        "rich.word_length": "letters per word",
        "habit.i_start": "share of sentences starting with I",
        "habit.mid_caps": "capitalised words mid-sentence",
        "habit.contractions": "contractions per 1000 words",
    }.get(name, name)


def feature_group(name: str) -> str:
    """The group of a feature name: the part before the first dot."""
    return name.split(".", 1)[0]


def _floors(name: str) -> tuple[float, float]:
    return FLOORS.get(name) or FLOORS.get(feature_group(name)) or (0.10, 1e-6)


@dataclass(frozen=True)
class StyleScale:
    """Per-feature spread of the author's own writing: the unit of every z in this module."""

    scales: dict[str, float]  # feature -> floored standard deviation (always > 0)
    means: dict[str, float]  # feature -> mean over the author's segments
    segments: int  # non-empty segments measured
    method: str  # "segments" (measured spread) or "fallback" (fewer than two segments)

    @classmethod
    def from_segments(cls, texts: Sequence[str], window: int = MATTR_WINDOW) -> StyleScale:
        """Profile each text alone and measure each feature's spread across them.

        Texts without words are skipped. Segments of a few hundred words each work well; very
        short ones inflate the spread and so shrink every distance.
        """
        reject_single_string(texts, "StyleScale.from_segments")
        profiles = [p for p in (profile_texts([t], window) for t in texts) if p.words]
        return cls.from_profiles(profiles)

    @classmethod
    def from_profiles(cls, profiles: Sequence[Profile]) -> StyleScale:
        """The same from already computed per-segment profiles."""
        names = list(profile_texts([]).features())
        rows = [p.features() for p in profiles]
        scales: dict[str, float] = {}
        means: dict[str, float] = {}
        for name in names:
            values = [row.get(name, 0.0) for row in rows]
            relative, absolute = _floors(name)
            mean = _mean(values)
            means[name] = mean
            if len(values) >= 2:
                spread = statistics.stdev(values)
                scales[name] = max(spread, relative * abs(mean), absolute)
            else:
                scales[name] = max(FALLBACK_RELATIVE * abs(mean), absolute)
        method = "segments" if len(rows) >= 2 else "fallback"
        return cls(scales=scales, means=means, segments=len(rows), method=method)

    def of(self, name: str) -> float:
        """The scale of a feature; a feature this scale has never seen gets its absolute floor."""
        value = self.scales.get(name)
        if value is None or not value > 0 or not math.isfinite(value):
            return _floors(name)[1]
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "scales": dict(self.scales),
            "means": dict(self.means),
            "segments": self.segments,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleScale:
        return cls(
            scales={str(k): float(v) for k, v in data["scales"].items()},
            means={str(k): float(v) for k, v in data.get("means", {}).items()},
            segments=int(data.get("segments", 0)),
            method=str(data.get("method", "segments")),
        )


def group_distances(a: Profile, b: Profile, scale: StyleScale) -> dict[str, float]:
    """Mean |z-difference| within each feature group, in `FEATURE_GROUPS` order."""
    fa, fb = a.features(), b.features()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for name in sorted(fa.keys() | fb.keys()):
        group = feature_group(name)
        diff = abs(fa.get(name, 0.0) - fb.get(name, 0.0)) / scale.of(name)
        sums[group] = sums.get(group, 0.0) + diff
        counts[group] = counts.get(group, 0) + 1
    order = [g for g in FEATURE_GROUPS if g in sums] + sorted(set(sums) - set(FEATURE_GROUPS))
    return {g: sums[g] / counts[g] for g in order}


def style_distance(a: Profile, b: Profile, scale: StyleScale) -> float:
    """Mean over feature groups of the mean |z-difference| in the group (module docstring)."""
    per_group = group_distances(a, b, scale)
    return sum(per_group.values()) / len(per_group) if per_group else 0.0


@dataclass(frozen=True)
class FeatureShift:
    """One feature: the author's value, the two models', and each model's z from the author."""

    name: str
    author: float
    base: float
    tuned: float
    base_z: float  # (base - author) / scale
    tuned_z: float  # (tuned - author) / scale

    @property
    def moved_closer(self) -> bool:
        return abs(self.tuned_z) < abs(self.base_z)

    @property
    def improvement(self) -> float:
        """|base_z| - |tuned_z|: positive when tuning brought the feature toward the author."""
        return abs(self.base_z) - abs(self.tuned_z)

    @property
    def group(self) -> str:
        return feature_group(self.name)


def feature_shifts(
    author: Profile, base: Profile, tuned: Profile, scale: StyleScale
) -> list[FeatureShift]:
    """Every feature's move from base to tuned, relative to the author.

    Order: first the features that moved closer, biggest improvement (|base_z| - |tuned_z|)
    first; then those that moved away, worst regression first; then those that did not move.
    Ties go by name. So ``shifts[:5]`` are the best gains and
    ``[s for s in shifts if s.improvement < 0][:5]`` the worst losses.
    """
    fa, fb, ft = author.features(), base.features(), tuned.features()
    shifts = []
    for name, value in fa.items():
        s = scale.of(name)
        b, t = fb.get(name, 0.0), ft.get(name, 0.0)
        shifts.append(FeatureShift(name, value, b, t, (b - value) / s, (t - value) / s))
    closer = sorted(
        (x for x in shifts if x.improvement > 0), key=lambda x: (-x.improvement, x.name)
    )
    away = sorted((x for x in shifts if x.improvement < 0), key=lambda x: (x.improvement, x.name))
    still = sorted((x for x in shifts if x.improvement == 0), key=lambda x: x.name)
    return closer + away + still
