"""One evaluation: a model against the base (and the version before it) on held-out writing.

For each model: perplexity on every held-out chunk, and its answers to the held-out requests
("continue this in my voice" and "write about ..."). The answers are profiled (sentence and
paragraph lengths, function words, punctuation, vocabulary) and compared with the author's
held-out text on the author's own scale of variation; the distance says how far each model
writes from the author, and the shifts say what moved. An authorship verifier (eval/verifier.py)
says how many of each model's answers read as the author's. Every comparison with the base
carries a bootstrap interval (eval/intervals.py). Base results are cached, so after the first
evaluation only the new model costs time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from slmtui.chat.engine import ChatTarget
from slmtui.chat.llama import offloaded_layers
from slmtui.chat.targets import resolve_target
from slmtui.config import Config
from slmtui.dataset.dialogue import assistant_prompt, your_names
from slmtui.dataset.generator import generator_for
from slmtui.eval.blind import BlindScore
from slmtui.eval.characteristic_words import (
    CharacteristicWord,
    characteristic_words,
    rate_per_1000,
)
from slmtui.eval.conversations import (
    ConversationScore,
    replies_in_place_of_writing,
    score_conversations,
)
from slmtui.eval.generations import GenerationSettings, file_key, generate
from slmtui.eval.heldout import HeldOut, HeldOutError, load_heldout, training_prompts
from slmtui.eval.intervals import (
    Interval,
    paired_interval,
    ppl_change_interval,
    ppl_interval,
)
from slmtui.eval.perplexity import Perplexity, perplexity
from slmtui.eval.privacy import PrivacyScore, score_privacy
from slmtui.eval.qa import QAScore, score_questions
from slmtui.eval.stylometry import (
    FeatureShift,
    Profile,
    StyleScale,
    feature_shifts,
    group_distances,
    profile_texts,
    style_distance,
)
from slmtui.eval.verifier import Verifier, VerifierError, share
from slmtui.files import atomic_output, read_json_if_valid
from slmtui.ingest.identity import matcher
from slmtui.ingest.store import Store
from slmtui.registry import ModelRegistry, RegistryError
from slmtui.workspace import Workspace

EVAL_JSON = "eval.json"
SAMPLES_SHOWN = 3
WORDS_SHOWN = 15
SHIFTS_SHOWN = 8
VERIFIER_PROMPTS = 12  # training passages the base model writes for, as the verifier's "not you"

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class ModelScore:
    """How one model did: its role is "tuned" (the one evaluated), "base" or "previous"."""

    role: str
    label: str
    model_path: str
    lora_path: str | None
    perplexity: Perplexity
    answers: list[str]
    profile: Profile
    distance: float
    group_distances: dict[str, float]
    author_words_per_1000: float  # how often it uses the author's characteristic words
    author_probabilities: list[float]  # the verifier's belief, per answer, that you wrote it
    author_attributed: list[bool]  # whether it attributes each answer to you

    @property
    def author_share(self) -> float:
        """Share of this model's answers the verifier attributes to the author."""
        return share(self.author_attributed)

    def as_dict(self) -> dict:
        return {
            "role": self.role,
            "label": self.label,
            "model_path": self.model_path,
            "lora_path": self.lora_path,
            "val_loss": self.perplexity.loss,
            "val_ppl": self.perplexity.ppl,
            "val_tokens": self.perplexity.tokens,
            "val_ppl_interval": ppl_interval(self.perplexity.per_text).as_list(),
            "style_distance": self.distance,
            "author_share": self.author_share,
            "author_probability": float(np.mean(self.author_probabilities or [0.0])),
            "group_distances": self.group_distances,
            "author_words_per_1000": self.author_words_per_1000,
            "profile": self.profile.as_dict(),
        }


@dataclass
class EvalResult:
    tuned: ModelScore
    base: ModelScore
    previous: ModelScore | None
    author: Profile
    heldout_texts: int
    prompts: list[dict]  # request and the author's own continuation
    shifts: list[FeatureShift]
    words: list[CharacteristicWord]
    settings: GenerationSettings
    seconds: float
    ppl_change_interval: Interval
    distance_ratio_interval: Interval
    verifier_margin_interval: Interval
    author_reference_share: float  # the author's own held-out text, as the verifier sees it
    verifier_accuracy: float  # how well it tells you from the base (cross-validated, balanced)
    conversations: ConversationScore | None = None  # held-out chats, when there are any
    qa: QAScore | None = None  # questions about your life (`--qa FILE`), when asked
    privacy: PrivacyScore | None = None  # what the tuned model repeats, against the base
    blind: BlindScore | None = None  # your own verdict so far (a version's card), if played
    created: float = field(default_factory=time.time)

    @property
    def ppl_change(self) -> float:
        """Relative change of perplexity, tuned against base (-0.33: 33% lower)."""
        return self.tuned.perplexity.ppl / self.base.perplexity.ppl - 1.0

    @property
    def distance_ratio(self) -> float:
        """Tuned model's style distance to the author over the base model's (lower is better)."""
        return self.tuned.distance / self.base.distance if self.base.distance > 0 else 0.0

    @property
    def verifier_margin(self) -> float:
        """How many more of the tuned model's answers read as the author's than the base's."""
        return self.tuned.author_share - self.base.author_share

    def as_dict(self) -> dict:
        models = [self.tuned, self.base] + ([self.previous] if self.previous else [])
        return {
            "format": 1,
            "created": self.created,
            "seconds": self.seconds,
            "model": self.tuned.label,
            "summary": {
                "val_ppl_base": self.base.perplexity.ppl,
                "val_ppl": self.tuned.perplexity.ppl,
                "val_ppl_previous": self.previous.perplexity.ppl if self.previous else None,
                "ppl_change": self.ppl_change,
                "style_distance_base": self.base.distance,
                "style_distance": self.tuned.distance,
                "style_distance_previous": self.previous.distance if self.previous else None,
                "distance_ratio": self.distance_ratio,
                "ppl_change_interval": self.ppl_change_interval.as_list(),
                "distance_ratio_interval": self.distance_ratio_interval.as_list(),
                "author_share_base": self.base.author_share,
                "author_share": self.tuned.author_share,
                "author_share_reference": self.author_reference_share,
                "verifier_margin": self.verifier_margin,
                "verifier_margin_interval": self.verifier_margin_interval.as_list(),
                "verifier_accuracy": self.verifier_accuracy,
            },
            "heldout": {
                "texts": self.heldout_texts,
                "prompts": len(self.prompts),
                "kinds": {
                    kind: sum(p["kind"] == kind for p in self.prompts)
                    for kind in ("continue", "write", "reply")
                },
            },
            "author": self.author.as_dict(),
            "models": [model.as_dict() for model in models],
            "shifts": [
                {**asdict(shift), "moved_closer": shift.moved_closer} for shift in self.shifts
            ],
            "characteristic_words": [asdict(word) for word in self.words],
            "samples": [
                {
                    **prompt,
                    **{model.role: model.answers[index] for model in models},
                }
                for index, prompt in enumerate(self.prompts[:SAMPLES_SHOWN])
            ],
            "settings": asdict(self.settings),
            "conversations": self.conversations.as_dict() if self.conversations else None,
            "qa": self.qa.as_dict() if self.qa else None,
            "privacy": self.privacy.as_dict() if self.privacy else None,
            "blind": self.blind.as_card() if self.blind and self.blind.rounds else None,
        }


class EvalError(RuntimeError):
    """The evaluation cannot run; the message says why and what to do."""


def cached_perplexity(cache: Path, target: ChatTarget, heldout: HeldOut) -> Perplexity:
    """Perplexity from the cache when this model was already scored on this held-out text."""
    key = "|".join(
        ("v2", file_key(target.model_path), file_key(target.lora_path), heldout.text_key)
    )
    path = cache / "eval" / "perplexity.json"
    known = read_json_if_valid(path) or {}
    if key in known:
        return Perplexity(**known[key])
    result = perplexity(target.model_path, heldout.scored_texts, target.lora_path)
    known[key] = asdict(result)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
    return result


def previous_target(workspace: Workspace, target: ChatTarget) -> ChatTarget | None:
    """The model the user had before this one: the version before vN, or the active version
    when the evaluated model is a fresh adapter."""
    registry = ModelRegistry(workspace.models)
    if target.lora_path is not None:
        active = registry.active()
        return ChatTarget(active.name, active.gguf) if active else None
    versions = registry.versions()
    current = next((v for v in versions if v.name == target.label), None)
    older = [v for v in versions if current is not None and v.number < current.number]
    return ChatTarget(older[-1].name, older[-1].gguf) if older else None


def held_out_requests(
    workspace: Workspace,
    base_spec: str,
    max_prompts: int,
    max_write: int,
    progress: Progress | None,
) -> tuple[HeldOut, list]:
    """The held-out passages and requests, and the training-passage requests whose base
    answers the verifier learns "not you" from. The base model writes any missing "write
    about" request (once: they are cached with training's)."""
    generator = generator_for(base_spec) if max_write else None
    key = generator.key if generator is not None else ""

    def step(done: int, total: int) -> None:
        if progress is not None and total:
            progress("requests: base model", done, total)

    try:
        with Store(workspace.db_path) as store:
            heldout = load_heldout(store, max_prompts, max_write, generator, key, step)
            others = training_prompts(store, VERIFIER_PROMPTS, key)
    finally:
        if generator is not None:
            generator.close()
    if not heldout.prompts:
        raise EvalError("The held-out passages are too short to cut into requests.")
    return heldout, others


def evaluate(
    workspace: Workspace,
    spec: str | None = None,
    *,
    max_prompts: int = 12,
    max_write: int = 6,
    settings: GenerationSettings | None = None,
    compare_previous: bool = True,
    progress: Progress | None = None,
    questions: Path | None = None,
) -> EvalResult:
    """Evaluate the model `spec` names (as chat names them: None, "adapter", "vN"); with
    `questions`, a QA file (eval/qa.py), also how it answers questions about your life."""
    started = time.perf_counter()
    config = workspace.load_config()
    if settings is None:
        # Asked as training asked: the system prompt that says who the assistant is.
        with Store(workspace.db_path) as store:
            settings = GenerationSettings(
                system_prompt=assistant_prompt(store, config),
                gpu_layers=offloaded_layers(config.chat.gpu_layers),
            )
    target = resolve_target(workspace, config.model.base, spec)
    if target.label == "base":
        raise EvalError(
            "There is no trained model to evaluate yet: train one first (`slmtui train`)."
        )
    base = resolve_target(workspace, config.model.base, "base")
    yours = None  # the verifier's "you": your training writing, unless chats stand in for it
    try:
        heldout, others = held_out_requests(
            workspace, config.model.base, max_prompts, max_write, progress
        )
    except HeldOutError:
        fallback = replies_in_place_of_writing(workspace, config)
        if fallback is None:
            raise
        heldout, others, yours = fallback
    previous = previous_target(workspace, target) if compare_previous else None

    def step(what: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(what, done, total))

    roles = [("tuned", target), ("base", base)] + ([("previous", previous)] if previous else [])
    scored: dict[str, tuple[ChatTarget, Perplexity, list[str]]] = {}
    for role, model in roles:
        if progress is not None:
            progress(f"perplexity: {model.label}", 0, 1)
        ppl = cached_perplexity(workspace.cache, model, heldout)
        answers = generate(
            model, heldout.prompts, workspace.cache, settings, step(f"writing: {model.label}")
        )
        scored[role] = (model, ppl, answers)
    base_writing = generate(base, others, workspace.cache, settings, step("writing: base, own"))
    try:
        verifier = Verifier.fit(yours or training_texts(workspace), base_writing)
    except VerifierError as exc:
        raise EvalError(f"Too little writing to tell you from the base model: {exc}.") from exc
    conversations = score_conversations(workspace, config, target, base, settings, step)
    result = compare(heldout, scored, verifier, settings, time.perf_counter() - started)
    result.conversations = conversations
    if questions is not None:
        models = [("tuned", target), ("base", base)]
        result.qa = score_questions(workspace, config, questions, models, settings, step)
    result.privacy = privacy_of(workspace, config, result)
    result.blind = blind_score(workspace, target)
    result.seconds = time.perf_counter() - started
    return result


def blind_score(workspace: Workspace, target: ChatTarget) -> BlindScore | None:
    """The blind test's score so far, beside the automatic figures (a version's only)."""
    try:
        card = ModelRegistry(workspace.models).get(target.label).card
    except RegistryError:
        return None
    return BlindScore.from_card(card)


def privacy_of(workspace: Workspace, config: Config, result: EvalResult) -> PrivacyScore:
    """What each model wrote in this evaluation (answers and chat replies) against the
    training text (your writing and the chats' training messages) and the other people of
    your chats (eval/privacy.py)."""
    with Store(workspace.db_path) as store:
        messages = [row[0] for row in store.db.execute(
            "SELECT text FROM messages WHERE split = 'train'"
        )]  # fmt: skip
        chats = store.chats()
        yours = matcher(your_names(store, config.identity.names, chats))
    others = {sender for chat in chats for sender in chat.participants if not yours(sender)}
    written = {role: list(getattr(result, role).answers) for role in ("base", "tuned")}
    if result.conversations is not None:
        for role, replies in result.conversations.written.items():
            written[role] += replies
    return score_privacy(
        training_texts(workspace) + messages, others, written["base"], written["tuned"]
    )


def training_texts(workspace: Workspace) -> list[str]:
    """The author's training passages: the verifier's "you"."""
    with Store(workspace.db_path) as store:
        return [chunk.text for chunk in store.live_chunks() if chunk.split == "train"]


def compare(
    heldout: HeldOut,
    scored: dict[str, tuple[ChatTarget, Perplexity, list[str]]],
    verifier: Verifier,
    settings: GenerationSettings,
    seconds: float,
) -> EvalResult:
    """Profiles, distances, verifier shares and intervals from what every model wrote."""
    author = profile_texts(heldout.texts)
    scale = StyleScale.from_segments(heldout.texts)
    base_profile = profile_texts(scored["base"][2])
    words = characteristic_words(author, base_profile, top=WORDS_SHOWN)
    characteristic = [word.word for word in words]

    def score(role: str) -> ModelScore:
        model, ppl, answers = scored[role]
        profile = base_profile if role == "base" else profile_texts(answers)
        return ModelScore(
            role=role,
            label=model.label,
            model_path=str(model.model_path),
            lora_path=str(model.lora_path) if model.lora_path else None,
            perplexity=ppl,
            answers=answers,
            profile=profile,
            distance=style_distance(author, profile, scale),
            group_distances=group_distances(author, profile, scale),
            author_words_per_1000=rate_per_1000(characteristic, profile) if words else 0.0,
            author_probabilities=verifier.author_probability(answers).tolist(),
            author_attributed=verifier.attributed(answers),
        )

    tuned, base = score("tuned"), score("base")
    return EvalResult(
        tuned=tuned,
        base=base,
        previous=score("previous") if "previous" in scored else None,
        author=author,
        heldout_texts=len(heldout.texts),
        prompts=[
            {"kind": p.kind, "request": p.request, "reference": p.reference}
            for p in heldout.prompts
        ],
        shifts=feature_shifts(author, base.profile, tuned.profile, scale),
        words=words,
        settings=settings,
        seconds=seconds,
        ppl_change_interval=ppl_change_interval(
            base.perplexity.per_text, tuned.perplexity.per_text
        ),
        distance_ratio_interval=distance_ratio_interval(author, scale, tuned.answers, base.answers),
        verifier_margin_interval=paired_interval(
            lambda idx: float(
                np.asarray(tuned.author_attributed)[idx].mean()
                - np.asarray(base.author_attributed)[idx].mean()
            ),
            len(tuned.answers),
            resamples=1000,
        ),
        author_reference_share=share(verifier.attributed([p.reference for p in heldout.prompts])),
        verifier_accuracy=verifier.accuracy,
    )


def distance_ratio_interval(
    author: Profile, scale: StyleScale, tuned: list[str], base: list[str]
) -> Interval:
    """Interval of the style distance ratio, the requests resampled together for both models
    (the author's side stays fixed: it is the target, not a sample of answers)."""

    def ratio(idx: np.ndarray) -> float:
        base_distance = style_distance(author, profile_texts([base[i] for i in idx]), scale)
        tuned_distance = style_distance(author, profile_texts([tuned[i] for i in idx]), scale)
        return tuned_distance / base_distance if base_distance > 0 else float("nan")

    return paired_interval(ratio, len(tuned))


def result_folder(workspace: Workspace, target_label: str, lora_path: str | None) -> Path:
    """Where an evaluation is kept: next to the version it scored, or in the run's folder."""
    if lora_path is not None:
        return Path(lora_path).parent
    return workspace.models / target_label


def save_result(workspace: Workspace, result: EvalResult) -> Path:
    """Write eval.json beside the model; the report is written next to it by report.py."""
    folder = result_folder(workspace, result.tuned.label, result.tuned.lora_path)
    path = folder / EVAL_JSON
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(result.as_dict(), indent=1, ensure_ascii=False), "utf-8")
    return path


def load_saved(folder: Path) -> dict | None:
    """A saved evaluation (the JSON dict) for a version or run folder, if there is one."""
    return read_json_if_valid(folder / EVAL_JSON)
