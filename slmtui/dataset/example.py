"""One example as training sees it, and the one way it is written to and read from a line.

A snapshot is two JSON-lines files of these. An example's `id` names it for the person
(`slmtui dataset exclude ID`) and for replay: a passage's example is its chunk's hash, a
dialogue example the hash of its stretch of conversation, an identity pair the hash of its
question and answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Example:
    """Raw `text`, or chat `messages` whose assistant turns are learned (unless one says
    `"train": false`: a dialogue example's earlier turn of yours kept as context). A
    preference pair (kind "preference") is `messages` ending in the chosen reply, and the
    `rejected` one: training raises the first's likelihood against the second's."""

    id: str
    kind: str
    text: str | None = None
    messages: list[dict] | None = None
    chat: str | None = None  # a dialogue example's chat export (its key)
    # A preference pair: the reply the model should prefer less than `messages`' last one.
    rejected: str | None = None
    weight: int = 1  # times the example is learned per pass (a correction: [dataset] setting)

    @property
    def request(self) -> str:
        """What the model is asked ('' for raw text, which has no request)."""
        return self.messages[-2]["content"] if self.messages and len(self.messages) > 1 else ""

    @property
    def learned_text(self) -> str:
        """The part training learns: the replies of a chat example, all of a raw one."""
        if self.messages is None:
            return self.text or ""
        learned = [
            m["content"] for m in self.messages if m["role"] == "assistant" and m.get("train", True)
        ]
        return "\n---\n".join(learned)

    def as_dict(self) -> dict:
        found: dict = {"id": self.id, "kind": self.kind}
        if self.messages is not None:
            found["messages"] = self.messages
        else:
            found["text"] = self.text or ""
        if self.chat is not None:
            found["chat"] = self.chat
        if self.rejected is not None:
            found["rejected"] = self.rejected
        if self.weight != 1:
            found["weight"] = self.weight
        return found

    def to_line(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> Example:
        """An example from its JSON object; a snapshot written before format 2 named the
        ID `chunk`, and a replayed run may hold one."""
        return cls(
            id=str(data.get("id", data.get("chunk", ""))),
            kind=str(data.get("kind", "raw")),
            text=data.get("text"),
            messages=data.get("messages"),
            chat=data.get("chat"),
            rejected=data.get("rejected"),
            weight=int(data.get("weight", 1)),
        )
