"""The floor of the reply style measure: your own replies, measured as a model's are.
All replies below were written for these tests.
"""

from __future__ import annotations

import math

import pytest

from slmtui.eval.conversations import own_distance, segments
from slmtui.eval.stylometry import StyleScale, profile_texts, style_distance

# One person's chat replies: short, lower case, dashes and contractions, "we" and "I".
YOURS = [
    "yeah I saw that - looks fine to me, merge it",
    "hmm, not sure. I'd wait for the tests first",
    "we can't ship that today, the build's still red",
    "ok I'll take a look after lunch",
    "that's the old config - we dropped it last week",
    "I think so? let me check the logs",
    "nope, still broken on my machine",
    "we should ask Sam, he wrote that part",
    "sure - I'll open a ticket for it",
    "lol that's my fault, sorry. fixing now",
    "I'd rather not touch it before the release",
    "fine by me, go ahead",
    "can't reproduce it here - which browser?",
    "we talked about this yesterday, didn't we",
    "I'm out tomorrow, so Friday at the earliest",
    "good catch - I missed that completely",
    "that works. I'll update the wiki",
    "hmm, the numbers don't add up - I'll rerun it",
    "we've got two weeks, plenty of time",
    "I'll merge once it's green",
    "no idea, never used that tool",
    "yep, same here - it's the cache again",
    "I'd keep it simple for now",
    "we'll see on Monday, I guess",
]
# Someone else entirely: long, formal, no contractions.
FORMAL = [
    "Thank you for your message. The committee will consider the proposal at its next meeting.",
    "Please note that all submissions must be received by the fifteenth of the month.",
    "It is recommended that the configuration be reviewed by the responsible department.",
    "The results of the investigation will be published in due course, subject to approval.",
    "We would be grateful if you could confirm your attendance at your earliest convenience.",
    "In accordance with the policy, access to the archive is restricted to authorised staff.",
]


@pytest.fixture(scope="module")
def scale() -> StyleScale:
    return StyleScale.from_segments(segments(YOURS, 4))


def test_your_own_replies_sit_closer_than_another_voice(scale):
    author = profile_texts(YOURS[:12])
    floor = own_distance(author, YOURS[12:], 4, scale)
    assert 0 < floor < style_distance(author, profile_texts(FORMAL[:4]), scale)


def test_the_floor_is_the_mean_over_disjoint_samples(scale):
    author = profile_texts(YOURS[:12])
    mine = YOURS[12:]  # 12 replies: three disjoint samples of four
    expected = sum(style_distance(author, profile_texts(mine[i::3]), scale) for i in range(3)) / 3
    assert own_distance(author, mine, 4, scale) == pytest.approx(expected)


def test_too_few_replies_of_yours_leave_no_floor(scale):
    author = profile_texts(YOURS[:12])
    assert math.isnan(own_distance(author, YOURS[12:15], 4, scale))
