"""The person's chat feedback as training examples.

- A **correction** (your version of a reply) is learned as the answer to the conversation
  before it: kind "correction", weighted by `[dataset] correction_weight`.
- **Preference pairs** (kind "preference") teach what to prefer: your version chosen over the
  model's reply, and a reply marked good chosen over one marked bad for the same request. The
  trainer raises the chosen reply's likelihood against the rejected one's (DPO, `ml/train.py`).

A marked reply without a partner of the other mark stays stored and waits for one. Every
feedback example is training data (none is held out): the blind test and evaluation measure
on the held-out writing and conversations instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from slmtui.dataset.example import Example
from slmtui.ingest.store import Feedback

FEEDBACK_PATH = "chat feedback"  # where the Dataset screen says a feedback example comes from
MOST_PAIRS_PER_REQUEST = 4  # good x bad replies to one request make at most this many pairs


def _example_id(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def _answered(messages: list[dict], reply: str) -> list[dict]:
    """The conversation and the reply to learn: the model's earlier replies in it are context,
    never learned (they are its words, not yours)."""
    context = [{**m, "train": False} if m["role"] == "assistant" else dict(m) for m in messages]
    return [*context, {"role": "assistant", "content": reply}]


def correction_examples(feedback: list[Feedback], weight: int) -> list[Example]:
    """One example per correction that differs from the model's reply (the newest of several
    corrections to the same reply wins); none when `weight` is 0."""
    if weight <= 0:
        return []
    newest: dict[tuple[str, str], Feedback] = {}
    for item in feedback:
        if item.kind == "correction" and item.text and item.text.strip() != item.reply.strip():
            newest[(item.request_key, item.reply)] = item
    return [
        Example(
            id=_example_id("correction", item.messages, item.text),
            kind="correction",
            messages=_answered(item.messages, item.text or ""),
            weight=weight,
        )
        for item in newest.values()
    ]


def preference_examples(feedback: list[Feedback]) -> list[Example]:
    """Your version over the model's reply; a good reply over a bad one to the same request."""
    pairs: dict[str, Example] = {}

    def pair(messages: list[dict], chosen: str, rejected: str) -> None:
        if chosen.strip() and chosen.strip() != rejected.strip():
            key = _example_id("preference", messages, chosen, rejected)
            pairs[key] = Example(
                id=key, kind="preference", messages=_answered(messages, chosen), rejected=rejected
            )

    marks: dict[str, dict[str, list[Feedback]]] = defaultdict(lambda: defaultdict(list))
    for item in feedback:
        if item.kind == "correction":
            pair(item.messages, item.text or "", item.reply)
        else:
            replies = marks[item.request_key][item.kind]
            if all(other.reply != item.reply for other in replies):
                replies.append(item)
    for by_mark in marks.values():
        combos = [(g, b) for g in by_mark["good"] for b in by_mark["bad"]]
        for good, bad in combos[-MOST_PAIRS_PER_REQUEST:]:
            pair(good.messages, good.reply, bad.reply)
    return list(pairs.values())
