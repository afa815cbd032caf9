"""Your conversations as training examples: each of your replies is an answer, the turns before
it the request.

A conversation (cut by silences, `ingest/dialogue.py`) becomes turns (bursts of one sender).
Every turn of yours that follows someone else's becomes one example: the turns before it, up to
a token budget, as alternating user and assistant messages in the base model's chat template
(the others' turns merged into one user message, each line named by its speaker in a group),
then your reply, which is all the loss is on. A reply is held out when its conversation is
(the store decided that once, at ingest). Your identity comes from `[identity] names`, or the
name slmtui proposes when that is empty; the system prompt says who you are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from slmtui.config import Config, default_system_prompt
from slmtui.ingest.dialogue import Turn, merge_turns, split_conversations
from slmtui.ingest.identity import matcher, propose
from slmtui.ingest.store import ChatRow, Store


@dataclass(frozen=True)
class DialogueSettings:
    """What building dialogue examples needs from the settings."""

    names: tuple[str, ...] = ()
    system_prompt: str = ""
    conversation_gap_seconds: float = 7200.0
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
            conversation_gap_seconds=config.ingest.conversation_gap_minutes * 60,
            turn_gap_seconds=config.dataset.turn_gap_minutes * 60,
            context_tokens=config.dataset.context_tokens,
            ratio=config.dataset.dialogue_ratio,
            hide_other_names=config.dataset.hide_other_names,
            seed=config.dataset.seed,
        )


def your_names(store: Store, names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The configured names, else the one slmtui proposes from the chats (or nothing)."""
    if names:
        return tuple(names)
    proposed = propose_identity(store)
    return (proposed,) if proposed else ()


def propose_identity(store: Store) -> str | None:
    """The likeliest you among the chats' senders (see `ingest/identity.py`)."""
    hint = store.get_meta("identity_hint")
    owners = json.loads(hint) if hint else []
    return propose([chat.participants for chat in store.chats()], owners)


def system_prompt(settings: DialogueSettings, names: tuple[str, ...]) -> str:
    """The configured system prompt, else one made from your first name, else none."""
    if settings.system_prompt.strip():
        return settings.system_prompt.strip()
    return default_system_prompt(names[0]) if names else ""


def placeholder(name: str) -> str:
    """A stable stand-in for someone else's name: the same name always gives the same one."""
    return "Person " + hashlib.blake2b(name.encode(), digest_size=2).hexdigest().upper()


@dataclass
class DialogueBuild:
    train: list[dict]
    val: list[dict]
    stats: dict


def dialogue_examples(store: Store, settings: DialogueSettings) -> DialogueBuild:
    """Every reply of yours in every chat as an example, split as its conversation is."""
    names = your_names(store, settings.names)
    build = DialogueBuild([], [], {"chats": 0, "conversations": 0, "replies": 0, "val": 0})
    if not names:
        return build
    is_me = matcher(names)
    system = system_prompt(settings, names)
    for chat in store.chats():
        build.stats["chats"] += 1
        hide = _Placeholders(chat, is_me) if settings.hide_other_names else None
        messages = store.chat_messages(chat.key)
        gap = settings.conversation_gap_seconds
        for conversation in split_conversations(messages, lambda m: m.time, gap):
            build.stats["conversations"] += 1
            turns = merge_turns(conversation, settings.turn_gap_seconds)
            for index, turn in enumerate(turns):
                example = _example(chat, turns, index, is_me, settings, system, hide)
                if example is None:
                    continue
                held_out = turn.split == "val"
                build.stats["replies"] += 1
                build.stats["val"] += held_out
                (build.val if held_out else build.train).append(example)
    return build


def _example(
    chat: ChatRow,
    turns: list[Turn],
    index: int,
    is_me: Callable[[str], bool],
    settings: DialogueSettings,
    system: str,
    hide: _Placeholders | None,
) -> dict | None:
    turn = turns[index]
    if not is_me(turn.sender) or len(turn.text.strip()) <= 1:
        return None
    key = hashlib.sha256(f"{chat.key}\x1f{turn.start}\x1f{turn.text}".encode()).hexdigest()
    unit = int(hashlib.sha256(f"dialogue:{settings.seed}:{key}".encode()).hexdigest()[:16], 16)
    if unit / 2**64 >= settings.ratio:
        return None
    context: list[Turn] = []
    budget = settings.context_tokens
    for earlier in reversed(turns[:index]):
        if earlier.tokens > budget and context:
            break
        context.insert(0, earlier)
        budget -= earlier.tokens
        if budget <= 0:
            break
    while context and is_me(context[0].sender):
        context.pop(0)  # a request starts with someone else's words
    if not context:
        return None
    group = len(set(chat.members) | set(chat.participants)) > 2
    messages = [{"role": "system", "content": system}] if system else []
    for earlier in context:
        role = "assistant" if is_me(earlier.sender) else "user"
        text = hide.text(earlier.text) if hide else earlier.text
        if role == "user" and group:
            speaker = hide.speaker(earlier.sender) if hide else earlier.sender
            text = f"{speaker}: {text}"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + text
        else:
            messages.append({"role": role, "content": text})
    reply = hide.text(turn.text) if hide else turn.text
    messages.append({"role": "assistant", "content": reply})
    return {"kind": "dialogue", "messages": messages, "chunk": key, "chat": chat.key}


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
    messages = store.chat_messages(chat_key)
    gap = settings.conversation_gap_seconds
    return [
        merge_turns(conversation, settings.turn_gap_seconds)
        for conversation in split_conversations(messages, lambda m: m.time, gap)
    ]


def chat_overviews(store: Store, settings: DialogueSettings) -> list[ChatOverview]:
    is_me = matcher(your_names(store, settings.names))
    found = []
    for chat in store.chats():
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
