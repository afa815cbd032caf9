"""The blind test: which one is yours?

A round is a held-out request (the start of a held-out passage, or a held-out conversation up to
one of your replies) with two answers in random order: what you wrote (held out, never trained
on) and what a published version writes. You pick the one you think is yours. Over the rounds,
how often you picked yourself out, with a binomial interval: near 50% you cannot tell the model
from yourself, which is what the tool is for; near 100% it does not sound like you yet.

Rounds alternate between writing and conversations (where there are both), spread over the
held-out material, and a round is never shown twice for the same version: the score, the
rounds played and which were shown are kept in the version's card (`registry.update_card`).
Both answers are cut to the same number of words at most (at a sentence end where one is near),
so length gives neither away.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from slmtui.chat.engine import ChatTarget
from slmtui.chat.llama import offloaded_layers
from slmtui.config import Config
from slmtui.dataset.dialogue import assistant_prompt, dialogue_examples
from slmtui.eval.conversations import held_out_settings, replies_of, reply_prompt
from slmtui.eval.generations import GenerationSettings, generate
from slmtui.eval.heldout import EvalPrompt, HeldOutError, load_heldout, spread
from slmtui.eval.intervals import Interval, binomial_interval
from slmtui.ingest.store import Store
from slmtui.registry import ModelRegistry, ModelVersion
from slmtui.workspace import Workspace

ROUNDS = 10  # rounds in a sitting
MOST_WORDS = 90  # an answer shown is cut to the shorter one's length, and to at most this
CONTEXT_WORDS = 80  # of the passage's start or the conversation, at most this much is shown
KIND_WORDS = {"continue": "writing", "reply": "a conversation"}


class BlindError(RuntimeError):
    """No held-out material, or no rounds left for this version; the message says what to do."""


@dataclass(frozen=True)
class Round:
    """One round as shown: the request, and the two answers in the order drawn."""

    id: str  # the held-out request's key
    kind: str  # "continue" (a passage's start) or "reply" (a conversation)
    context: str
    yours: str
    model: str
    yours_first: bool

    @property
    def answers(self) -> tuple[str, str]:
        return (self.yours, self.model) if self.yours_first else (self.model, self.yours)

    def picked_yours(self, choice: int) -> bool:
        """Whether answer `choice` (1 or 2) is the one you wrote."""
        return (choice == 1) == self.yours_first


@dataclass
class BlindScore:
    """A version's blind test so far, as its card keeps it."""

    rounds: int = 0
    picked_yours: int = 0
    shown: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.picked_yours / self.rounds if self.rounds else 0.0

    @property
    def interval(self) -> Interval:
        return binomial_interval(self.picked_yours, self.rounds)

    def as_card(self) -> dict:
        low, high = self.interval.as_list()
        return {
            "rounds": self.rounds, "picked_yours": self.picked_yours,
            "share": round(self.share, 4), "interval": [round(low, 4), round(high, 4)],
            "shown": self.shown,
        }  # fmt: skip

    @classmethod
    def from_card(cls, card: dict) -> BlindScore:
        found = card.get("blind") if isinstance(card.get("blind"), dict) else {}
        return cls(
            int(found.get("rounds", 0)),
            int(found.get("picked_yours", 0)),
            [str(key) for key in found.get("shown", [])],
        )

    def words(self) -> str:
        """'you picked yourself out 7 of 10 times (70%, 95% interval 40–89%)'."""
        if not self.rounds:
            return "no blind rounds played yet"
        low, high = self.interval.as_list()
        return (
            f"you picked yourself out {self.picked_yours} of {self.rounds} times "
            f"({100 * self.share:.0f}%, 95% interval {100 * low:.0f}–{100 * high:.0f}%); "
            "50% means you cannot tell it from you"
        )


def blind_requests(workspace: Workspace, config: Config) -> list[EvalPrompt]:
    """Every held-out request a round can ask, writing and conversations alternating."""
    with Store(workspace.db_path) as store:
        try:
            writing = load_heldout(store, max_prompts=10_000, max_write=0).prompts
        except HeldOutError:
            writing = []
        build = dialogue_examples(store, held_out_settings(config))
    replies = [reply_prompt(conversation) for conversation in replies_of(build.val)]
    replies = [prompt for prompt in replies if len(prompt.reference.split()) >= 3]
    mixed: list[EvalPrompt] = []
    for index in range(max(len(writing), len(replies))):
        mixed += [kind[index] for kind in (writing, replies) if index < len(kind)]
    return mixed


def draw(requests: list[EvalPrompt], score: BlindScore, count: int) -> list[EvalPrompt]:
    """`count` requests not shown to this version before, spread over what is left."""
    shown = set(score.shown)
    fresh = [prompt for prompt in requests if prompt.chunk_hash not in shown]
    return spread(fresh, count)


SENTENCE_ENDS = (".", "!", "?", '."', '!"', '?"', ".'", "!'", "?'", ".)")


def _words(text: str, count: int) -> str:
    """The first `count` words, ending at the last sentence end in their second half if there
    is one, and unmarked: an answer cut mid-sentence, or a mark on one answer only, would
    give it away."""
    words = text.split()
    if len(words) <= count:
        return " ".join(words)
    kept = words[:count]
    for end in range(len(kept), len(kept) // 2, -1):
        if kept[end - 1].endswith(SENTENCE_ENDS):
            return " ".join(kept[:end])
    return " ".join(kept)


def context_of(prompt: EvalPrompt) -> str:
    """What a round shows before the answers: the passage's start, or the conversation's last
    turns (the system prompt left out); at most CONTEXT_WORDS words of its end."""
    if prompt.kind == "reply":
        turns = [m["content"] for m in prompt.messages if m["role"] != "system"]
        text = "\n".join(turns[-4:])
    else:
        text = prompt.request.split("\n\n", 1)[-1]
    words = text.split(" ")
    return ("… " if len(words) > CONTEXT_WORDS else "") + " ".join(words[-CONTEXT_WORDS:])


def make_round(prompt: EvalPrompt, answer: str, version: str) -> Round:
    """The round of one request: both answers cut to the same length, the order drawn from the
    request and the version (the same round reads the same if it is asked again)."""
    length = min(MOST_WORDS, len(prompt.reference.split()), max(1, len(answer.split())))
    seed = hashlib.sha256(f"{prompt.chunk_hash}\x1f{version}".encode()).digest()
    yours_first = random.Random(seed).random() < 0.5
    return Round(
        prompt.chunk_hash, prompt.kind, context_of(prompt),
        _words(prompt.reference, length), _words(answer.strip(), length), yours_first,
    )  # fmt: skip


def model_answers(
    workspace: Workspace, config: Config, target: ChatTarget, prompts: list[EvalPrompt], progress
) -> list[str]:
    """What the version writes for each request (cached, as evaluation's answers are)."""
    with Store(workspace.db_path) as store:
        settings = GenerationSettings(
            system_prompt=assistant_prompt(store, config),
            gpu_layers=offloaded_layers(config.chat.gpu_layers),  # on the card, as chat is
        )
    return generate(target, prompts, workspace.cache, settings, progress)


def prepare_rounds(
    workspace: Workspace,
    config: Config,
    version: ModelVersion,
    count: int = ROUNDS,
    progress=None,
) -> list[Round]:
    """The next `count` rounds for a version (fewer when fewer are left)."""
    requests = blind_requests(workspace, config)
    if not requests:
        raise BlindError(
            "No held-out writing or conversations to test with: add more to writing/ (about a "
            "tenth of it is kept aside, never trained on)."
        )
    prompts = draw(requests, BlindScore.from_card(version.card), count)
    if not prompts:
        raise BlindError(
            f"Every held-out request has been shown for {version.name} "
            f"({len(requests)} rounds): add writing to get more."
        )
    target = ChatTarget(version.name, version.gguf)
    answers = model_answers(workspace, config, target, prompts, progress)
    return [make_round(p, a, version.name) for p, a in zip(prompts, answers, strict=True)]


def record(registry: ModelRegistry, version: str, played: Round, choice: int) -> BlindScore:
    """Count a round for the version (its card), and return the score so far."""
    score = BlindScore.from_card(registry.get(version).card)
    if played.id in score.shown:
        return score  # a round counts once
    score.rounds += 1
    score.picked_yours += played.picked_yours(choice)
    score.shown.append(played.id)
    registry.update_card(version, blind=score.as_card())
    return score
