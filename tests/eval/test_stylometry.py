"""Stylometry: exact counts on small texts, and a distance that behaves like a distance.

All passages below were written for these tests.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest

from slmtui.eval.characteristic_words import (
    CharacteristicWord,
    characteristic_words,
    rate_per_1000,
    rates_per_1000,
    word_log_odds,
)
from slmtui.eval.stylometry import (
    FEATURE_GROUPS,
    FUNCTION_WORDS,
    FeatureShift,
    Profile,
    StyleScale,
    feature_shifts,
    group_distances,
    profile_texts,
    style_distance,
)
from slmtui.eval.text_units import moving_window_ratios, split_sentences

# Two paragraphs, hand-counted: sentences of 9, 5, 3 and 5 words; 22 words; 20 types, of which
# "the" and "late" occur twice, so 18 hapax.
SMALL = (
    "The fox ran, and the dog slept; nobody cared. It was late -- very late.\n\n"
    "I stayed home… Then Mr. Brown called — twice!\n"
)

# One author's casual diary voice: first person, short sentences, dashes, contractions.
AUTHOR = [
    "I woke up late again. The kettle was already cold — somebody had boiled it and left. "
    "I don't mind, really. I made toast, burnt the edges, and ate it standing at the window. "
    "The street was quiet. A man walked his dog past the bakery, then stopped, then walked back. "
    "I think he forgot something. I always forget something. Today it was my keys, which I "
    "found in the fridge, next to the butter. Don't ask.",
    "We went to the market on Saturday. It was busy — too busy, honestly. I bought apples, a "
    "loaf of rye, and a tiny cactus I didn't need. My sister laughed at me. She's like that. We "
    "sat by the fountain and shared the bread. Pigeons came, of course. I gave them the crust "
    "and they fought over it like it was gold. I'm not proud of how much I enjoyed that. Then "
    "it rained, so we ran home.",
    "I can't sleep. It's two in the morning and the radiator is ticking like a clock. I counted "
    "the ticks for a while — got to three hundred and gave up. Tomorrow I have to call the "
    "landlord about the window. He won't answer. He never answers. I'll leave a message, and "
    "he'll text back a thumbs-up, and nothing will happen. That's how it goes here. Still, I "
    "like the flat. I like the light in the mornings.",
    "My bike has a flat tyre. Again. I patched it last week, and I was sure the patch would "
    "hold — it didn't. So I walked to work, which took forty minutes, and I was late, and "
    "nobody noticed. I'm not sure if that's good or bad. At lunch I sat on the steps and "
    "watched the pigeons. I've started to recognise some of them. One has a bent foot. I call "
    "him Captain.",
]

# The same voice, not used to build the author's profile or scale.
HELD_OUT = (
    "I finally fixed the shelf. It only took three weekends — and one trip to the hardware shop "
    "where the man sighed at me. I'd bought the wrong screws, twice. Now the shelf is up and "
    "I'm scared to put anything on it. I put a single book there, just to test. It held. Then I "
    "added a plant. It still held. I stood back and felt like an engineer. My sister says it's "
    "crooked. It isn't."
)

# A different voice: long impersonal sentences, semicolons, no contractions, no "I".
FORMAL = (
    "The municipal council, having considered the report submitted by its committee on public "
    "works, resolved that the reconstruction of the northern bridge should proceed without "
    "further delay; the costs, which had risen considerably over the preceding years, were to "
    "be shared between the county and the national treasury. It was further noted that the "
    "residents of the adjacent districts, whose access to the market had been severely "
    "restricted during the closure, deserved both an explanation and a measure of compensation, "
    "although the precise form of such compensation remained a matter for subsequent "
    "deliberation. The committee's chairman, in presenting these conclusions, emphasised that "
    "the structural surveys had been thorough; nevertheless, several members expressed "
    "reservations regarding the proposed timetable."
)


def per_1000(count: int, words: int) -> float:
    return count * 1000 / words


# --- counting ---------------------------------------------------------------------------------


def test_counts_and_lengths_of_a_small_text():
    p = profile_texts([SMALL])
    assert (p.texts, p.words, p.sentences, p.paragraphs) == (1, 22, 4, 2)
    assert p.characters == len(SMALL)
    assert p.sentence_lengths == [9, 5, 3, 5]
    assert p.paragraph_lengths == [14, 8]
    assert p.sentence_mean == 5.5
    assert p.sentence_median == 5
    assert p.sentence_sd == pytest.approx(math.sqrt(19 / 4))
    assert p.paragraph_mean == 11


def test_rates_of_function_words_and_punctuation():
    p = profile_texts([SMALL])
    assert p.function_words["the"] == pytest.approx(per_1000(2, 22))
    assert p.function_words["and"] == pytest.approx(per_1000(1, 22))
    assert p.function_words["you"] == 0
    punct = p.punctuation
    assert punct["comma"] == pytest.approx(per_1000(1, 22))
    assert punct["semicolon"] == pytest.approx(per_1000(1, 22))
    assert punct["dash"] == pytest.approx(per_1000(2, 22))  # "--" and "—"
    assert punct["ellipsis"] == pytest.approx(per_1000(1, 22))
    assert punct["exclamation"] == pytest.approx(per_1000(1, 22))
    assert punct["question"] == punct["colon"] == punct["double_quote"] == 0


def test_dash_forms_and_what_is_not_a_dash():
    # spaced hyphen, en dash, em dash, double hyphen: 4 dashes; a compound word, a number range
    # and a date are not dashes.
    text = "One - two – three — four -- five. A well-known pair, pages 10–12, in 2024-05."
    p = profile_texts([text])
    assert p.punctuation["dash"] == pytest.approx(per_1000(4, p.words))


def test_curly_and_straight_quotes_and_ellipsis_forms():
    text = '“Stop,” she said. "Now." He waited... Then he went . . . Home ‘soon’ he thought.'
    p = profile_texts([text])
    assert p.punctuation["double_quote"] == pytest.approx(per_1000(4, p.words))
    assert p.punctuation["ellipsis"] == pytest.approx(per_1000(2, p.words))
    assert p.punctuation["single_quote"] == pytest.approx(per_1000(1, p.words))


def test_richness_of_the_small_text():
    p = profile_texts([SMALL])
    assert (p.types, p.hapax) == (20, 18)
    assert p.hapax_ratio == pytest.approx(18 / 20)
    # shorter than the window: plain type-token ratio
    assert p.mattr == pytest.approx(20 / 22)
    assert p.ttr == pytest.approx(20 / 22)


def test_mattr_does_not_fall_with_length():
    vocabulary = [f"w{i}" for i in range(50)]
    text = " ".join(vocabulary * 3)  # 150 words cycling over 50: every 100-word window has 50
    p = profile_texts([text])
    assert p.words == 150
    assert p.ttr == pytest.approx(50 / 150)
    assert p.mattr == pytest.approx(0.5)
    assert p.hapax_window == 0  # every word appears exactly twice in every window


def test_moving_window_ratios_by_hand():
    # windows of 2 over a a b b: [a a] 1/2, [a b] 2/2, [b b] 1/2 -> mean 2/3;
    # hapax/types: 0/1, 2/2, 0/1 -> 1/3
    assert moving_window_ratios(["a", "a", "b", "b"], window=2) == pytest.approx((2 / 3, 1 / 3))
    assert moving_window_ratios([], window=5) == (0.0, 0.0)


def test_mean_word_length_and_contractions():
    p = profile_texts(["I don't know, it's fine and we're here. She’d go."])
    assert p.words == 10
    assert p.contractions == pytest.approx(per_1000(4, 10))  # don't it's we're she'd
    assert p.word_length == pytest.approx((1 + 5 + 4 + 4 + 4 + 3 + 5 + 4 + 5 + 2) / 10)


def test_habits_of_the_small_text():
    p = profile_texts([SMALL])
    assert p.i_start == pytest.approx(1 / 4)
    # non-initial words: 8 + 4 + 2 + 4 = 18, of which "Mr" and "Brown" are capitalised
    assert p.mid_caps == pytest.approx(2 / 18)


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("Mr. Smith went home.", ["Mr. Smith went home."]),
        ("Dr. Lee came, e.g. at noon. She left.", ["Dr. Lee came, e.g. at noon.", "She left."]),
        ("J. R. Smith wrote it. It sold.", ["J. R. Smith wrote it.", "It sold."]),
        (
            "I waited... then I left. Then rain fell!",
            ["I waited... then I left.", "Then rain fell!"],
        ),
        ('"Why?" he asked. Nobody answered.', ['"Why?" he asked.', "Nobody answered."]),
        ("“Stop,” she said. “Now.” We ran.", ["“Stop,” she said.", "“Now.”", "We ran."]),
        ("We ate at 5 p.m. and slept. Good?", ["We ate at 5 p.m. and slept.", "Good?"]),
        ("Cheap (really.) Yes, 3.50 each.", ["Cheap (really.)", "Yes, 3.50 each."]),
        ("Wow!!! Really?! fine.", ["Wow!!!", "Really?!", "fine."]),
        ("No ending here", ["No ending here"]),
    ],
)
def test_sentence_splitter(paragraph, expected):
    assert split_sentences(paragraph) == expected


def test_abbreviation_is_one_sentence_in_a_profile():
    p = profile_texts(["Mr. Smith went home."])
    assert (p.sentences, p.sentence_lengths) == (1, [4])


def test_words_add_up_and_a_profile_of_nothing_is_zero():
    p = profile_texts(AUTHOR)
    assert sum(p.sentence_lengths) == p.words == sum(p.paragraph_lengths)
    empty = profile_texts([])
    assert empty.words == 0
    assert all(v == 0 for v in empty.features().values())


def test_one_string_is_refused():
    with pytest.raises(TypeError):
        profile_texts("a single text, not a list")


def test_feature_names_and_groups():
    features = profile_texts([SMALL]).features()
    assert 50 <= len(FUNCTION_WORDS) <= 80
    assert len(set(FUNCTION_WORDS)) == len(FUNCTION_WORDS)
    assert {name.split(".")[0] for name in features} == set(FEATURE_GROUPS)
    for name in ("fw.i", "fw.you", "fw.we", "punct.comma", "len.sentence_mean", "len.sentence_sd"):
        assert name in features
    for name in ("len.paragraph_mean", "rich.mattr", "rich.hapax", "rich.word_length"):
        assert name in features


# --- distance ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scale() -> StyleScale:
    return StyleScale.from_segments(AUTHOR)


@pytest.fixture(scope="module")
def author() -> Profile:
    return profile_texts(AUTHOR)


def test_identical_profiles_are_at_distance_zero_and_distance_is_symmetric(author, scale):
    assert style_distance(author, profile_texts(list(AUTHOR)), scale) == 0
    other = profile_texts([FORMAL])
    assert style_distance(author, other, scale) > 0
    assert style_distance(author, other, scale) == style_distance(other, author, scale)


def test_distance_is_a_mean_over_groups(author, scale):
    other = profile_texts([HELD_OUT])
    per_group = group_distances(author, other, scale)
    assert list(per_group) == list(FEATURE_GROUPS)
    assert style_distance(author, other, scale) == pytest.approx(sum(per_group.values()) / 5)


def test_held_out_same_voice_is_closer_than_another_voice(author, scale):
    same = style_distance(author, profile_texts([HELD_OUT]), scale)
    different = style_distance(author, profile_texts([FORMAL]), scale)
    assert same < different
    assert different > 2 * same


def replace_first(texts: list[str], old: str, new: str, count: int) -> list[str]:
    """Replace the first `count` occurrences of `old` across the texts, in order."""
    out = []
    for text in texts:
        while count and old in text:
            text = text.replace(old, new, 1)
            count -= 1
        out.append(text)
    return out


@pytest.mark.parametrize(("old", "new"), [(", ", "; "), (". ", "! ")])
def test_distance_grows_with_the_planted_change(author, scale, old, new):
    levels = [0, 3, 6, 9]
    distances = [
        style_distance(author, profile_texts(replace_first(AUTHOR, old, new, k)), scale)
        for k in levels
    ]
    assert distances[0] == 0
    assert all(a < b for a, b in itertools.pairwise(distances)), distances


def test_longer_sentences_move_the_length_group(author, scale):
    merged = profile_texts(replace_first(AUTHOR, ". I ", ", and I ", 8))
    assert merged.sentence_mean > author.sentence_mean
    per_group = group_distances(author, merged, scale)
    assert per_group["len"] > 0.5


# --- scale ------------------------------------------------------------------------------------


def test_scale_of_a_feature_the_author_never_varies_is_floored():
    same = StyleScale.from_segments([SMALL, SMALL, SMALL])
    assert same.method == "segments" and same.segments == 3
    assert all(math.isfinite(v) and v > 0 for v in same.scales.values())
    # never used: the group's absolute floor; used but never varied: 10% of its rate
    assert same.of("fw.might") == 1.0
    assert same.of("punct.comma") == pytest.approx(0.1 * per_1000(1, 22))
    d = style_distance(profile_texts([SMALL]), profile_texts([FORMAL]), same)
    assert math.isfinite(d) and d > 0


def test_scale_measures_spread_across_segments(scale):
    rates = [profile_texts([t]).function_words["i"] for t in AUTHOR]
    mean = sum(rates) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in rates) / 3)
    assert scale.method == "segments" and scale.segments == 4
    assert scale.of("fw.i") == pytest.approx(max(sd, 0.1 * mean, 1.0))
    assert scale.means["fw.i"] == pytest.approx(mean)


@pytest.mark.parametrize("texts", [[], [AUTHOR[0]], [AUTHOR[0], "   \n\n  "]])
def test_fewer_than_two_segments_fall_back_to_a_defined_scale(texts):
    fallback = StyleScale.from_segments(texts)
    assert fallback.method == "fallback"
    assert all(math.isfinite(v) and v > 0 for v in fallback.scales.values())
    d = style_distance(profile_texts(AUTHOR), profile_texts([FORMAL]), fallback)
    assert math.isfinite(d) and d > 0


def test_scale_round_trips_through_json(scale):
    again = StyleScale.from_dict(json.loads(json.dumps(scale.as_dict())))
    assert again == scale


def test_profile_as_dict_is_json(author):
    data = json.loads(json.dumps(author.as_dict()))
    assert data["counts"]["words"] == author.words
    assert data["sentence_lengths"] == author.sentence_lengths
    assert data["features"] == pytest.approx(author.features())
    assert "word_counts" not in data
    full = json.loads(json.dumps(author.as_dict(include_word_counts=True)))
    assert full["word_counts"]["pigeons"] == 2


# --- shifts -----------------------------------------------------------------------------------


def test_feature_shifts_order_and_z(author, scale):
    base = profile_texts([FORMAL])
    # the tuned model kept the formal voice but picked up the author's dashes and short sentences
    tuned = profile_texts([FORMAL.replace("; ", " — ").replace(", ", ". ")])
    shifts = feature_shifts(author, base, tuned, scale)
    assert all(isinstance(s, FeatureShift) for s in shifts)
    assert len(shifts) == len(author.features())
    by_name = {s.name: s for s in shifts}
    dash = by_name["punct.dash"]
    assert dash.base_z == pytest.approx((base.punctuation["dash"] - author.punctuation["dash"]) /
                                        scale.of("punct.dash"))  # fmt: skip
    assert dash.moved_closer and by_name["len.sentence_mean"].moved_closer
    improvements = [s.improvement for s in shifts]
    closer = [x for x in improvements if x > 0]
    away = [x for x in improvements if x < 0]
    assert closer and away
    assert improvements[: len(closer)] == sorted(closer, reverse=True)
    assert improvements[len(closer) : len(closer) + len(away)] == sorted(away)
    assert all(x == 0 for x in improvements[len(closer) + len(away) :])
    assert shifts[0].moved_closer and not shifts[len(closer)].moved_closer


# --- characteristic words ---------------------------------------------------------------------


def test_characteristic_words_find_a_planted_word():
    author = ["We carried the lantern down to the river and sat on the stones."] * 12
    reference = ["We carried the basket down to the river and sat on the stones."] * 12
    author.append("A feather fell. A feather landed.")  # twice only: below the minimum count
    reference.append("A pebble fell. A pebble landed.")
    words = characteristic_words(author, reference_texts=reference, top=15)
    assert [w.word for w in words] == ["lantern"]
    lantern = words[0]
    assert isinstance(lantern, CharacteristicWord)
    assert lantern.z > 1.96
    assert lantern.author_per_1000 == pytest.approx(per_1000(12, 12 * 13 + 6))
    assert lantern.reference_per_1000 == 0
    scores = word_log_odds(author, reference)
    assert abs(scores["river"]) < 1e-9  # both use it at the same rate
    assert scores["basket"] < -1.96  # the reference's word, not the author's
    everything = characteristic_words(author, reference, top=100, min_z=-100)
    assert "feather" not in {w.word for w in everything}  # seen fewer than 3 times


def test_characteristic_words_of_a_real_voice_against_another():
    words = characteristic_words(AUTHOR, reference_texts=[FORMAL], top=5, min_z=0)
    assert words and "i" in {w.word for w in words}
    assert all(a.z >= b.z for a, b in itertools.pairwise(words))


def test_rate_per_1000_over_texts_and_profiles():
    texts = ["The lantern and the lamp.", "A lantern."]  # 7 words
    assert rate_per_1000("lantern", texts) == pytest.approx(per_1000(2, 7))
    assert rate_per_1000(["Lantern", "lamp"], profile_texts(texts)) == pytest.approx(per_1000(3, 7))
    assert rates_per_1000(["lamp", "moon"], texts) == {
        "lamp": pytest.approx(per_1000(1, 7)),
        "moon": 0,
    }


def test_the_module_loads_neither_textual_nor_torch():
    code = (
        "import json, sys; import slmtui.eval.stylometry; "
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"textual", "torch", "transformers", "numpy"}
