"""Your conversations as training examples: each of your replies is an answer, the turns before
it the request.

A conversation (cut by silences once, at ingest: `ingest/split_policy.py`) becomes turns
(bursts of one sender). Every turn of yours that follows someone else's becomes one example:
the turns before it, up to a token budget, as alternating user and assistant messages in the
base model's chat template (the others' turns merged into one user message, each line marked
`[name]` by its speaker in a group: chat/speakers.py), then your reply, which is all the
loss is on. A reply is held out when its conversation is (the store decided that once, at
ingest). Your identity comes from `[identity] names`, or the name slmtui proposes when that is
empty; the system prompt says who you are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from slmtui.chat.speakers import speaker_line
from slmtui.config import Config, default_system_prompt
from slmtui.dataset.example import Example
from slmtui.ingest.dialogue import Turn, merge_turns
from slmtui.ingest.identity import aliases_of, matcher, propose
from slmtui.ingest.store import ChatRow, Store, StoredMessage


@dataclass(frozen=True)
class DialogueSettings:
    """What building dialogue examples needs from the settings."""

    names: tuple[str, ...] = ()
    system_prompt: str = ""
    turn_gap_seconds: float = 300.0
    context_tokens: int = 384
    ratio: float = 1.0
    hide_other_names: bool = False
    seed: int = 0

    @classmethod
    def from_config(cls, config: Config) -> DialogueSettings:
        return cls(
            names=tuple(config.identity.names),
            system_prompt=config.identity.system_prompt,
            turn_gap_seconds=config.dataset.turn_gap_minutes * 60,
            context_tokens=config.dataset.context_tokens,
            ratio=config.dataset.dialogue_ratio,
            hide_other_names=config.dataset.hide_other_names,
            seed=config.dataset.seed,
        )


def your_names(
    store: Store, names: tuple[str, ...] | list[str], chats: list[ChatRow] | None = None
) -> tuple[str, ...]:
    """The configured names, else the one slmtui proposes from the chats (or nothing)."""
    if names:
        return tuple(names)
    proposed = propose_identity(store, chats)
    return (proposed,) if proposed else ()


def propose_identity(store: Store, chats: list[ChatRow] | None = None) -> str | None:
    """The likeliest you among the chats' senders (see `ingest/identity.py`)."""
    hint = store.get_meta("identity_hint")
    owners = json.loads(hint) if hint else []
    chats = store.chats() if chats is None else chats  # read once by callers that have them
    return propose([chat.participants for chat in chats], owners)


def system_prompt(settings: DialogueSettings, names: tuple[str, ...]) -> str:
    """The configured system prompt, else one made from your first name, else none."""
    if settings.system_prompt.strip():
        return settings.system_prompt.strip()
    return default_system_prompt(names[0]) if names else ""


# Asked of the assistant, answered with your name: the system prompt says who you are, but a
# small model tuned on your writing alone invents a name about five times in six (measured on
# the samples); these few pairs tie the name to the question. They are not your writing, so
# they are never held out or measured.
NAME_QUESTIONS = (
    "What is your name?",
    "What's your name?",
    "Who are you?",
    "Who am I talking to?",
    "What should I call you?",
    "Tell me your name.",
)


def identity_examples(names: tuple[str, ...], system: str) -> list[Example]:
    """ "What is your name?" and its kin, answered with your name (full, then first)."""
    if not names:
        return []
    full = names[0].strip()
    first = full.split()[0]
    answers = (f"{full}.", f"I'm {first}.") if first != full else (f"{full}.", f"I'm {full}.")
    head = [{"role": "system", "content": system}] if system else []
    return [
        Example(
            id=hashlib.sha256(f"identity\x1f{question}\x1f{answer}".encode()).hexdigest(),
            kind="identity",
            messages=[
                *head,
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ],
        )
        for question in NAME_QUESTIONS
        for answer in answers
    ]


def assistant_prompt(store: Store, config: Config) -> str:
    """The system prompt training gave chat examples, for chat and evaluation to ask with
    (empty when nobody is known: then none was given)."""
    settings = DialogueSettings.from_config(config)
    return system_prompt(settings, your_names(store, settings.names))


def placeholder(name: str) -> str:
    """A stable stand-in for someone else's name: the same name always gives the same one."""
    return "Person " + hashlib.blake2b(name.encode(), digest_size=2).hexdigest().upper()


@dataclass
class DialogueBuild:
    """Your conversations' examples by split; what the person left out, apart (for listing)."""

    train: list[Example]
    val: list[Example]
    stats: dict
    names: tuple[str, ...] = ()  # who answered: the configured or the proposed you
    left_out: list[tuple[str, Example]] = field(default_factory=list)  # (split, example)
    paths: dict[str, str] = field(default_factory=dict)  # chat key -> the export it is listed under


def dialogue_examples(store: Store, settings: DialogueSettings) -> DialogueBuild:
    """Every reply of yours in every chat, in examples of a few turns each, split as its
    conversation is. What the person left out (an example by its ID, a whole export) goes to
    `left_out` and is not counted."""
    chats = store.chats()
    names = your_names(store, settings.names, chats)
    build = DialogueBuild([], [], {"chats": 0, "conversations": 0, "replies": 0, "val": 0}, names)
    build.paths = {chat.key: (chat.paths[0] if chat.paths else chat.name) for chat in chats}
    if not names:
        return build
    is_me = matcher(names, aliases_of(chats))
    system = system_prompt(settings, names)
    exclusions = store.exclusions()
    for chat in chats:
        # Left out when every export holding it is excluded (`slmtui dataset exclude PATH`).
        whole_chat_out = bool(chat.paths) and set(chat.paths) <= exclusions.documents
        build.stats["chats"] += not whole_chat_out
        hide = _Placeholders(chat, is_me) if settings.hide_other_names else None
        for conversation in stored_conversations(store.chat_messages(chat.key)):
            build.stats["conversations"] += not whole_chat_out
            turns = merge_turns(conversation, settings.turn_gap_seconds)
            answers = [i for i in answerable(turns, is_me) if _kept(chat, turns[i], settings)]
            for start, replies in windows(turns, answers, is_me, settings.context_tokens):
                example = _example(chat, turns[start : replies[-1] + 1], start, replies, is_me,
                                   system, hide)  # fmt: skip
                held_out = turns[replies[0]].split == "val"
                if whole_chat_out or example.id in exclusions.examples:
                    build.left_out.append(("val" if held_out else "train", example))
                    continue
                build.stats["replies"] += len(replies)
                build.stats["val"] += len(replies) if held_out else 0
                (build.val if held_out else build.train).append(example)
    return build


def stored_conversations(messages: list[StoredMessage]) -> list[list[StoredMessage]]:
    """A chat's time-ordered messages grouped by the conversation ingest cut them into; the
    messages an ingest pass is still cutting (no conversation yet) wait for the next read."""
    found: dict[int, list[StoredMessage]] = {}
    for message in messages:
        if message.conversation is not None:
            found.setdefault(message.conversation, []).append(message)
    return list(found.values())


def answerable(turns: list[Turn], is_me: Callable[[str], bool]) -> list[int]:
    """Indices of your turns that answer something: someone else spoke before them in the
    conversation, and they are more than one character."""
    found, heard = [], False
    for index, turn in enumerate(turns):
        if not is_me(turn.sender):
            heard = True
        elif heard and len(turn.text.strip()) > 1:
            found.append(index)
    return found


def windows(
    turns: list[Turn], answers: list[int], is_me: Callable[[str], bool], budget: int
) -> list[tuple[int, list[int]]]:
    """Cut a conversation into examples: (first turn, your replies learned in it).

    Each reply gets the turns before it, up to `budget` tokens (at least one, starting with
    someone else's), as its request; one example carries every following reply whose own
    context still starts at the same turn within the budget, so a short conversation is one
    example and the shared context is paid for once. Every reply is learned exactly once."""
    found: list[tuple[int, list[int]]] = []
    position = 0
    while position < len(answers):
        first = answers[position]
        start, used = first, 0
        while start > 0 and used + turns[start - 1].tokens <= budget:
            start -= 1
            used += turns[start].tokens
        start = min(start, first - 1)
        while start < first and is_me(turns[start].sender):
            start += 1
        position += 1
        if start == first:
            continue
        replies = [first]
        while position < len(answers):
            context = sum(turn.tokens for turn in turns[start : answers[position]])
            if context > budget:
                break
            replies.append(answers[position])
            position += 1
        found.append((start, replies))
    return found


def _kept(chat: ChatRow, turn: Turn, settings: DialogueSettings) -> bool:
    """Whether a reply is among the share `dialogue_ratio` keeps (stable per reply)."""
    key = f"dialogue:{settings.seed}:{chat.key}\x1f{turn.start}\x1f{turn.text}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2**64 < settings.ratio


def _example(
    chat: ChatRow,
    turns: list[Turn],
    offset: int,
    replies: list[int],
    is_me: Callable[[str], bool],
    system: str,
    hide: _Placeholders | None,
) -> Example:
    """One example: the turns as alternating messages; your replies in `replies` (indices in
    the conversation) are learned, your other turns there are context (`"train": false`)."""
    group = len(set(chat.members) | set(chat.participants)) > 2
    learned = {index - offset for index in replies}
    messages = [{"role": "system", "content": system}] if system else []
    for index, turn in enumerate(turns):
        role = "assistant" if is_me(turn.sender) else "user"
        text = hide.text(turn.text) if hide else turn.text
        if role == "user" and group:
            speaker = hide.speaker(turn.sender) if hide else turn.sender
            text = speaker_line(speaker, text)
        if role == "user" and messages and messages[-1]["role"] == "user":
            # Others' turns in a row are one request; two of yours stay two turns.
            messages[-1]["content"] += "\n" + text
            continue
        message = {"role": role, "content": text}
        if role == "assistant" and index not in learned:
            message["train"] = False
        messages.append(message)
    key = f"{chat.key}\x1f{turns[0].start}\x1f{turns[-1].start}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Example(id=digest, kind="dialogue", messages=messages, chat=chat.key)


def reply_requests(example: Example) -> list[list[dict]]:
    """A dialogue example as one conversation per learned reply: the messages up to it."""
    messages = example.messages or []
    return [
        messages[: index + 1]
        for index, message in enumerate(messages)
        if message["role"] == "assistant" and message.get("train", True)
        and any(m["role"] == "user" for m in messages[:index])
    ]  # fmt: skip


class _Placeholders:
    """Other people's names in one chat, as speakers and inside texts, replaced by stand-ins."""

    def __init__(self, chat: ChatRow, is_me: Callable[[str], bool]):
        others = {name for name in {*chat.members, *chat.participants} if not is_me(name)}
        self.is_me = is_me
        forms = {form: name for name in others for form in (name, *name.split()[:1])}
        forms = {form: name for form, name in forms.items() if len(form) > 2}
        alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
        self.forms = forms
        self.pattern = re.compile(rf"\b(?:{alternatives})\b") if alternatives else None

    def speaker(self, sender: str) -> str:
        return sender if self.is_me(sender) else placeholder(sender)

    def text(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: placeholder(self.forms[m.group(0)]), text)


@dataclass(frozen=True)
class ChatOverview:
    """A chat as the Library lists it: its row, and its conversations and turns."""

    chat: ChatRow
    conversations: int
    held_out: int  # conversations kept aside for evaluation
    turns: int
    your_turns: int


def chat_conversations(store: Store, chat_key: str, settings: DialogueSettings) -> list[list[Turn]]:
    """A chat's conversations, each as its turns."""
    return [
        merge_turns(conversation, settings.turn_gap_seconds)
        for conversation in stored_conversations(store.chat_messages(chat_key))
    ]


def chat_overviews(store: Store, settings: DialogueSettings) -> list[ChatOverview]:
    chats = store.chats()
    is_me = matcher(your_names(store, settings.names, chats), aliases_of(chats))
    found = []
    for chat in chats:
        conversations = chat_conversations(store, chat.key, settings)
        turns = [turn for conversation in conversations for turn in conversation]
        found.append(
            ChatOverview(
                chat,
                len(conversations),
                sum(any(t.split == "val" for t in c) for c in conversations),
                len(turns),
                sum(is_me(turn.sender) for turn in turns),
            )
        )
    return found
