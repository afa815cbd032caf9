"""Held-out conversations: does the model answer the way you answer?

The replies of yours in conversations the store held out (decided once, at ingest) are the
test. Two measures, base against tuned, each with a bootstrap interval:

- perplexity on your replies, each given the conversation before it, in the model's own chat
  template, scored as training scores a dialogue example (the reply and its turn-end token);
- the style of each model's replies to those requests against your own replies (the stylometry
  of the writing evaluation, on your training replies' scale of variation), and how many of
  them a verifier fitted on your training replies against the base model's replies attributes
  to you.

Two dozen replies are a small sample of anyone's style, so each figure comes with what you
yourself score measured the same way: your held-out replies are the style reference (all of
them, not only the two dozen answered, which alone are too few to be a steady reference), and
as many of your training replies as the models answered stand in for a model that answers
exactly like you. On a long history of short messages the base model's replies can sit close to
that floor, and no model can come closer to you than you do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from slmtui.chat.engine import ChatTarget
from slmtui.chat.speakers import others_in, speaks_for_others
from slmtui.config import Config
from slmtui.dataset.dialogue import DialogueSettings, dialogue_examples, reply_requests
from slmtui.eval.generations import GenerationSettings, file_key, generate
from slmtui.eval.heldout import EvalPrompt, HeldOut, spread
from slmtui.eval.intervals import Interval, paired_interval, ppl_change_interval
from slmtui.eval.perplexity import Perplexity, reply_perplexity
from slmtui.eval.stylometry import Profile, StyleScale, profile_texts, style_distance
from slmtui.eval.verifier import Verifier, VerifierError, share
from slmtui.files import read_json_if_valid, write_json_atomic
from slmtui.ingest.store import Store
from slmtui.workspace import Workspace

SCORED_REPLIES = 40  # held-out replies scored for perplexity, at most ...
SCORED_REPLY_CHARS = 40_000  # ... and with their requests about this much text (~10k tokens)
ASKED_REPLIES = 24  # held-out requests each model answers
VERIFIER_REPLIES = 16  # training requests the base model answers, as the verifier's "not you"
SEGMENT_REPLIES = 8  # replies profiled together: one reply is too short to profile alone
# Your training replies the style scale and the verifier read, spread over your history: a
# scale and a verifier are as good from a thousand replies as from twenty thousand, and fitting
# on all of a years-long history took minutes.
FITTED_REPLIES = 1000
OWN_SAMPLES = 8  # samples of your own replies whose mean distance is the floor

Step = Callable[[str], Callable[[int, int], None] | None]


@dataclass
class ConversationScore:
    replies: int  # held-out replies scored for perplexity
    asked: int  # held-out requests answered
    base: Perplexity
    tuned: Perplexity
    distance_base: float
    distance_tuned: float
    # Replies of yours in place of a model's, as many as it answered: the floor of the distance.
    distance_yours: float
    author_share_base: float
    author_share_tuned: float
    author_share_yours: float  # your held-out replies the verifier reads as yours
    verifier_accuracy: float | None
    # Replies with a line in another participant's name (chat/speakers.py), as shown to you.
    for_others_base: float
    for_others_tuned: float
    # Mean words per reply: yours (the held-out replies asked; and all your training replies,
    # a steadier figure of your usual length), the base's, the tuned model's.
    words_yours: float
    words_trained: float
    words_base: float
    words_tuned: float
    ppl_change_interval: Interval
    distance_ratio_interval: Interval
    samples: list[dict]
    # Every reply each model wrote (the privacy check reads them; not in the JSON).
    written: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ppl_change(self) -> float:
        return self.tuned.ppl / self.base.ppl - 1.0

    @property
    def distance_ratio(self) -> float:
        return self.distance_tuned / self.distance_base if self.distance_base > 0 else 0.0

    @property
    def distance_ratio_yours(self) -> float:
        """The ratio your own replies reach: the best a model can do on these measures."""
        return self.distance_yours / self.distance_base if self.distance_base > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "replies": self.replies,
            "asked": self.asked,
            "reply_ppl_base": self.base.ppl,
            "reply_ppl": self.tuned.ppl,
            "reply_ppl_change": self.ppl_change,
            "reply_ppl_change_interval": self.ppl_change_interval.as_list(),
            "reply_style_distance_base": self.distance_base,
            "reply_style_distance": self.distance_tuned,
            "reply_distance_ratio": self.distance_ratio,
            "reply_distance_ratio_interval": self.distance_ratio_interval.as_list(),
            "reply_style_distance_yours": self.distance_yours,
            "reply_distance_ratio_yours": self.distance_ratio_yours,
            "reply_author_share_base": self.author_share_base,
            "reply_author_share": self.author_share_tuned,
            "reply_author_share_yours": self.author_share_yours,
            "reply_verifier_accuracy": self.verifier_accuracy,
            "reply_for_others_base": self.for_others_base,
            "reply_for_others": self.for_others_tuned,
            "reply_words_yours": self.words_yours,
            "reply_words_trained": self.words_trained,
            "reply_words_base": self.words_base,
            "reply_words": self.words_tuned,
            "samples": self.samples,
        }


def replies_of(examples: list[dict]) -> list[list[dict]]:
    """Each learned reply of the examples with the messages before it (plain role/content)."""
    return [
        [{"role": m["role"], "content": m["content"]} for m in conversation]
        for example in examples
        for conversation in reply_requests(example)
    ]


def reply_prompt(conversation: list[dict]) -> EvalPrompt:
    """The request of a reply: everything before it; the reply is the reference."""
    key = hashlib.sha256(json.dumps(conversation, ensure_ascii=False).encode()).hexdigest()
    return EvalPrompt(
        key, conversation[-2]["content"], conversation[-1]["content"], "reply",
        tuple(conversation[:-1]),
    )  # fmt: skip


def held_out_settings(config: Config) -> DialogueSettings:
    """Dialogue as evaluation sees it: every reply, whatever share training used (a model
    trained without its conversations is measured on the same held-out replies)."""
    return replace(DialogueSettings.from_config(config), ratio=1.0)


def replies_in_place_of_writing(
    workspace: Workspace, config: Config
) -> tuple[HeldOut, list[EvalPrompt], list[str]] | None:
    """For a workspace of chats and no held-out writing: your held-out replies stand in for
    the writing (their texts, a few at a time, are the held-out text; their requests the
    prompts), your training replies are the verifier's "you", and the base model's replies to
    training requests its "not you". None when there are no held-out replies either."""
    with Store(workspace.db_path) as store:
        build = dialogue_examples(store, held_out_settings(config))
    held, trained = replies_of(build.val), replies_of(build.train)
    if not held or not trained:
        return None
    prompts = [reply_prompt(conversation) for conversation in spread(held, ASKED_REPLIES)]
    heldout = HeldOut(segments([conversation[-1]["content"] for conversation in held]), prompts)
    others = [reply_prompt(conversation) for conversation in spread(trained, VERIFIER_REPLIES)]
    return heldout, others, [conversation[-1]["content"] for conversation in trained]


def scored_count(conversations: list[list[dict]]) -> int:
    """How many held-out replies to score: SCORED_REPLIES, fewer where the conversations are
    long (a meeting's replies come with hundreds of tokens of request), never under half."""
    chars = [sum(len(m["content"]) for m in conversation) for conversation in conversations]
    mean = sum(chars) / max(1, len(chars))
    fits = int(SCORED_REPLY_CHARS / max(mean, 1.0))
    return max(SCORED_REPLIES // 2, min(SCORED_REPLIES, fits))


def verified_shares(
    trained: list[str], base_own: list[str], replies: list[list[str]], step: Step
) -> tuple[list[float], float | None]:
    """The share of each list of replies a verifier fitted on your training replies (against
    the base model's own) reads as yours, and its accuracy (None: too little)."""
    progress = step("verifier")
    if progress is not None:
        progress(0, 1)
    try:
        verifier = Verifier.fit(segments(trained, 2), segments(base_own, 2))
        found = [share(verifier.attributed(texts)) for texts in replies]
        accuracy = verifier.accuracy
    except VerifierError:
        found, accuracy = [float("nan")] * len(replies), None
    if progress is not None:
        progress(1, 1)
    return found, accuracy


def mean_words(texts: list[str]) -> float:
    return float(np.mean([len(text.split()) for text in texts])) if texts else 0.0


def cached_reply_perplexity(
    cache: Path,
    target: ChatTarget,
    conversations: list[list[dict]],
    progress: Callable[[int, int], None] | None = None,
) -> Perplexity:
    """Reply perplexity from the cache when this model already scored these conversations
    (the base model's, after the first evaluation)."""
    digest = hashlib.sha256(json.dumps(conversations, ensure_ascii=False).encode()).hexdigest()
    key = "|".join(("replies-v1", file_key(target.model_path), file_key(target.lora_path),
                    digest[:16]))  # fmt: skip
    path = cache / "eval" / "reply-perplexity.json"
    known = read_json_if_valid(path) or {}
    if key in known:
        return Perplexity(**known[key])
    result = reply_perplexity(target.model_path, conversations, target.lora_path, progress)
    known[key] = asdict(result)
    write_json_atomic(path, known)
    return result


def own_distance(author: Profile, trained: list[str], count: int, scale: StyleScale) -> float:
    """The style distance of `count` of your own training replies to the author profile, the
    mean over up to OWN_SAMPLES disjoint samples spread over your history: what a model that
    answers exactly like you would score with as many replies as the models gave."""
    samples = min(OWN_SAMPLES, len(trained) // max(count, 1))
    if samples == 0:
        return float("nan")
    chosen = spread(trained, samples * count)
    distances = [
        style_distance(author, profile_texts(chosen[i::samples]), scale) for i in range(samples)
    ]
    return float(np.mean(distances))


def segments(texts: list[str], size: int = SEGMENT_REPLIES) -> list[str]:
    """Replies joined a few at a time, so each profiled piece has sentences to measure."""
    return ["\n\n".join(texts[i : i + size]) for i in range(0, len(texts), size)]


def score_conversations(
    workspace: Workspace,
    config: Config,
    tuned: ChatTarget,
    base: ChatTarget,
    settings: GenerationSettings,
    step: Step,
) -> ConversationScore | None:
    """Base and tuned on the held-out conversations; None when there are none."""
    with Store(workspace.db_path) as store:
        build = dialogue_examples(store, held_out_settings(config))
    held, trained_replies = replies_of(build.val), replies_of(build.train)
    if not held or not trained_replies:
        return None
    scored = spread(held, scored_count(held))
    base_ppl, tuned_ppl = (
        cached_reply_perplexity(workspace.cache, model, scored, step(f"reply perplexity: {who}"))
        for model, who in ((base, "base"), (tuned, tuned.label))
    )
    asked = [reply_prompt(conversation) for conversation in spread(held, ASKED_REPLIES)]
    base_replies = generate(base, asked, workspace.cache, settings, step("replies: base"))
    tuned_replies = generate(tuned, asked, workspace.cache, settings, step("replies: tuned"))
    yours = [prompt.reference for prompt in asked]
    trained = [c[-1]["content"] for c in spread(trained_replies, FITTED_REPLIES)]
    scale = StyleScale.from_segments(segments(trained))
    author = profile_texts([c[-1]["content"] for c in spread(held, FITTED_REPLIES)])

    def distance(replies: list[str]) -> float:
        return style_distance(author, profile_texts(replies), scale)

    def ratio(idx: np.ndarray) -> float:
        b = style_distance(author, profile_texts([base_replies[i] for i in idx]), scale)
        t = style_distance(author, profile_texts([tuned_replies[i] for i in idx]), scale)
        return t / b if b > 0 else float("nan")

    others = [
        reply_prompt(conversation) for conversation in spread(trained_replies, VERIFIER_REPLIES)
    ]
    base_own = generate(base, others, workspace.cache, settings, step("replies: base, own"))
    shares, accuracy = verified_shares(
        trained, base_own, [base_replies, tuned_replies, yours], step
    )
    # Everyone who speaks in a held-out request: a reply with a line in one of their names
    # speaks for them, whether or not that person is in the conversation it answers.
    speakers = others_in(message for prompt in asked for message in prompt.messages)

    def for_others(replies: list[str]) -> float:
        return float(np.mean([speaks_for_others(reply, speakers) for reply in replies]))

    return ConversationScore(
        replies=len(scored),
        asked=len(asked),
        base=base_ppl,
        tuned=tuned_ppl,
        distance_base=distance(base_replies),
        distance_tuned=distance(tuned_replies),
        distance_yours=own_distance(author, trained, len(asked), scale),
        author_share_base=shares[0],
        author_share_tuned=shares[1],
        author_share_yours=shares[2],
        verifier_accuracy=accuracy,
        for_others_base=for_others(base_replies),
        for_others_tuned=for_others(tuned_replies),
        words_yours=mean_words(yours),
        words_trained=mean_words([c[-1]["content"] for c in trained_replies]),
        words_base=mean_words(base_replies),
        words_tuned=mean_words(tuned_replies),
        ppl_change_interval=ppl_change_interval(base_ppl.per_text, tuned_ppl.per_text),
        distance_ratio_interval=paired_interval(ratio, len(asked)),
        samples=[
            {"request": p.request, "reference": p.reference, "base": b, "tuned": t}
            for p, b, t in list(zip(asked, base_replies, tuned_replies, strict=True))[:3]
        ],
        written={"base": base_replies, "tuned": tuned_replies},
    )
