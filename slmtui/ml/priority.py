"""Which examples a run trains on first when its budget covers only part of the text.

Five minutes on a history of years sees a few percent of it. Which few percent decides the
voice, so it is not left to hash order: examples new since the last run come first; then the
rest in an order whose every prefix is spread evenly over each source (each chat, each kind of
writing example) and, within a source, over time (the snapshot keeps a chat's conversations in
time order); a reply you wrote many times over ("ok", "lol", "heh") counts once, its repeats go
last. Pure Python: the order is tested without a model.
"""

from __future__ import annotations

import re
from collections import defaultdict

from slmtui.dataset.example import Example

SHORT_REPLY_WORDS = 3  # a reply of at most this many words is a stock answer when it repeats
_NOT_WORD = re.compile(r"[^\w\s]+")


def spread(index: int) -> float:
    """The van der Corput point of `index`: 0, 1/2, 1/4, 3/4, 1/8, ... Sorting a source's items
    by this takes, at any prefix, items evenly spaced over the whole source."""
    point, scale = 0.0, 0.5
    while index:
        point += scale * (index & 1)
        index >>= 1
        scale /= 2
    return point


def stock_replies(example: Example) -> tuple[str, ...] | None:
    """The learned replies of an example made only of short replies, normalized (lower case, no
    punctuation); None when any learned reply says more."""
    if example.messages is None:
        return None
    replies = [
        " ".join(_NOT_WORD.sub(" ", m["content"].lower()).split())
        for m in example.messages
        if m["role"] == "assistant" and m.get("train", True)
    ]
    if not replies or any(len(reply.split()) > SHORT_REPLY_WORDS for reply in replies):
        return None
    return tuple(replies)


def training_order(examples: list[Example], new: int = 0) -> list[int]:
    """Indices of `examples` in the order a budget should take them: the first `new` (new
    since the last run) as they are, then the others spread over sources and time, stock
    replies already seen at the end."""
    sources: dict[str, list[int]] = defaultdict(list)
    for index in range(new, len(examples)):
        example = examples[index]
        sources[example.chat or example.kind].append(index)
    keyed = []
    for name, members in sorted(sources.items()):
        # A source's items in spread order, each keyed by its rank's share of the source: any
        # prefix of the whole takes each source in proportion to its size, spread over its time.
        ranked = sorted(range(len(members)), key=spread)
        for rank, position in enumerate(ranked):
            keyed.append(((rank + 0.5) / len(members), name, members[position]))
    ordered = [index for _, _, index in sorted(keyed)]
    seen: set[str] = set()
    first, repeats = [], []
    for index in ordered:
        stock = stock_replies(examples[index])
        if stock is not None and set(stock) <= seen:
            repeats.append(index)
            continue
        seen.update(stock or ())
        first.append(index)
    return list(range(min(new, len(examples)))) + first + repeats
