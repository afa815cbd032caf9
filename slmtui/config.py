"""The one configuration object, read from a workspace's `slmtui.toml`.

Every setting is a dataclass field whose metadata carries its help text and its allowed values, so
that the same declaration validates the file, writes the commented default file for `slmtui init`,
and tells the user what a bad value should have been.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A setting in slmtui.toml is unknown or has a bad value; the message names key and file."""


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    minimum=None,
    maximum=None,
    check: Callable[[Any], str | None] | None = None,
):
    """A config field with the facts needed to validate it and to document it in the TOML file.

    `check`, if given, returns what is wrong with a value (or None), for rules beyond a type,
    choices and a range.
    """
    meta = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "check": check,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModelConfig:
    base: str = setting(
        "default",
        "Base model: 'default' (the bundled SmolLM2-135M-Instruct GGUF), a path to a GGUF file, "
        "or a local Hugging Face folder.",
    )


@dataclass(frozen=True)
class IngestConfig:
    max_file_mb: float = setting(
        20.0, "Files larger than this many megabytes are skipped.", minimum=0.001, maximum=4096
    )
    chunk_tokens: int = setting(
        384, "Target size of a chunk in base-model tokens.", minimum=32, maximum=8192
    )
    min_chunk_tokens: int = setting(
        16, "Chunks shorter than this many tokens are dropped.", minimum=1, maximum=1024
    )
    validation_fraction: float = setting(
        0.1,
        "Share of tokens held out for validation: passages chosen in hash order, from at least "
        "five documents once there are ten. A passage keeps its split for good.",
        minimum=0.0,
        maximum=0.9,
    )
    near_duplicate_threshold: float = setting(
        0.8,
        "Estimated Jaccard similarity above which a chunk counts as a near duplicate.",
        minimum=0.3,
        maximum=1.0,
    )
    strip_email_quotes: bool = setting(
        True, "Remove quoted replies ('> ...', 'On ... wrote:') and signatures from emails."
    )
    scrub_pii: bool = setting(
        False, "Replace personal details (see 'scrub') with placeholders before storing text."
    )
    scrub: list = setting(
        ["emails", "phones", "urls"],
        "What scrub_pii replaces (also: addresses, such as '14 Quay Street').",
        choices=("emails", "phones", "urls", "addresses"),
    )
    conversation_gap_minutes: float = setting(
        120.0,
        "In chat exports, a silence longer than this starts a new conversation (conversations "
        "are what the train/validation split and the examples are cut by).",
        minimum=1.0,
        maximum=100000.0,
    )


@dataclass(frozen=True)
class IdentityConfig:
    names: list = setting(
        [],
        "The names and handles that are you in chat exports (any of them matches, ignoring "
        "case). Empty: slmtui proposes the sender present in every chat (see `slmtui status`).",
    )
    system_prompt: str = setting(
        "",
        "Who the assistant is: the system prompt of chat examples built from your writing and "
        "conversations, and of chat by default. `slmtui init` writes one with your name; empty: "
        "made from the first of `names`.",
    )


def default_system_prompt(name: str) -> str:
    """The system prompt of a person called `name` (written by `slmtui init`, editable)."""
    return f"You are {name}. Answer in your own words and your own voice."


@dataclass(frozen=True)
class WatchConfig:
    debounce_seconds: float = setting(
        0.4,
        "A changed file is read once its size and mtime have not changed for this long.",
        minimum=0.05,
        maximum=30,
    )
    poll_seconds: float = setting(
        0.1, "How often pending changes are checked.", minimum=0.02, maximum=5
    )


@dataclass(frozen=True)
class DatasetConfig:
    raw_ratio: float = setting(
        0.4, "Share of training chunks used as plain text continuation.", minimum=0.0, maximum=1.0
    )
    backtranslate_ratio: float = setting(
        0.3,
        "Share turned into chat pairs: the base model writes the request a passage answers.",
        minimum=0.0,
        maximum=1.0,
    )
    continue_ratio: float = setting(
        0.3,
        "Share turned into 'continue this in my voice' pairs (first part in, the rest out).",
        minimum=0.0,
        maximum=1.0,
    )
    rewrite_ratio: float = setting(
        0.0,
        "Share turned into 'rewrite this in my voice' pairs from the base model's paraphrase.",
        minimum=0.0,
        maximum=1.0,
    )
    dialogue_ratio: float = setting(
        1.0,
        "Share of your replies in chat exports turned into dialogue examples (your reply, the "
        "conversation before it as the request); 0 leaves conversations out of training.",
        minimum=0.0,
        maximum=1.0,
    )
    turn_gap_minutes: float = setting(
        5.0,
        "Consecutive chat messages of one sender less than this apart are one turn.",
        minimum=0.0,
        maximum=1440.0,
    )
    context_tokens: int = setting(
        384,
        "At most this many tokens of the conversation before a reply go into its request.",
        minimum=16,
        maximum=8192,
    )
    hide_other_names: bool = setting(
        False,
        "Replace the names of the people you chat with by stable placeholders ('Person 1') in "
        "dialogue examples.",
    )
    seed: int = setting(0, "Seed for which chunk becomes which kind of example.", minimum=0)
    correction_weight: int = setting(
        4,
        "Times each of your corrections in chat (your version of a reply) is learned in a "
        "pass: a handful of corrections among thousands of examples would otherwise hardly "
        "count. 0 leaves corrections out of training (preference pairs stay).",
        minimum=0,
        maximum=100,
    )
    prepare_in_background: bool = setting(
        True,
        "While the app or `slmtui watch` runs, let the base model write the requests of chat "
        "pairs as chunks arrive (paused while training or exporting).",
    )


@dataclass(frozen=True)
class TrainConfig:
    preset: str = setting(
        "auto",
        "Training preset; 'auto' picks one for the detected hardware.",
        choices=("auto", "cpu-quick", "cpu-full", "gpu"),
    )
    max_steps: int = setting(
        0,
        "Optimizer steps; 0 means the preset's number, which for cpu-quick and gpu is what "
        "fits in `minutes` (at most two passes over the training text).",
        minimum=0,
    )
    max_epochs: float = setting(
        0.0,
        "Most passes over the training text a cpu-quick or gpu run makes within its minutes; "
        "0 means the preset's 2.",
        minimum=0.0,
        maximum=100.0,
    )
    minutes: float = setting(
        0.0,
        "Training time the cpu-quick and gpu presets plan their steps for, from the measured "
        "speed of this machine; 0 means 5 minutes.",
        minimum=0.0,
        maximum=24 * 60.0,
    )
    learning_rate: float = setting(
        0.0, "Peak learning rate; 0 means the preset's.", minimum=0.0, maximum=1.0
    )
    lora_r: int = setting(16, "LoRA rank.", minimum=1, maximum=1024)
    lora_alpha: float = setting(32.0, "LoRA alpha (scale = alpha / r).", minimum=0.0)
    lora_dropout: float = setting(
        0.0,
        "Dropout on the LoRA path; 0 skips the dropout mask, about 10% faster on a CPU.",
        minimum=0.0,
        maximum=0.9,
    )
    seq_len: int = setting(
        0, "Tokens per packed sequence; 0 means the preset's.", minimum=0, maximum=65536
    )
    batch_tokens: int = setting(
        0, "Tokens per optimizer step; 0 means the preset's.", minimum=0, maximum=10_000_000
    )
    gradient_checkpointing: str | bool = setting(
        "auto",
        "Recompute activations in the backward pass instead of keeping them: 'auto' is on for "
        "CUDA (activations are what fills a card) and off on a CPU (RAM is ample; it costs "
        "about a third more compute); 'on' or 'off' decide. (true and false, as older "
        "versions wrote, mean 'on' and 'auto'.)",
        choices=("auto", "on", "off", True, False),
    )
    precision: str = setting(
        "auto",
        "Matmul precision; 'auto' takes bfloat16 where the hardware computes it natively "
        "(AVX512-BF16 or AMX CPUs, NVIDIA compute capability 8.0 and newer), float16 with a "
        "gradient scaler on older NVIDIA cards, float32 on other CPUs.",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    qlora: str | bool = setting(
        "auto",
        "Hold the base in 4-bit NF4 (QLoRA): 'auto' does on CUDA when its 16-bit weights "
        "would take more than qlora_weights_share of the card, 'on' always (on a CPU too, "
        "slowly), 'off' never. (true and false, as older versions wrote, mean 'auto' and "
        "'off'.)",
        choices=("auto", "on", "off", True, False),
    )
    qlora_weights_share: float = setting(
        0.35,
        "With qlora = 'auto': the share of the card's memory the base's 16-bit weights may "
        "take before they are held in 4 bits instead (the rest is for activations).",
        minimum=0.0,
        maximum=1.0,
    )
    replay_fraction: float = setting(
        0.3,
        "When continuing from the last adapter, share of old examples mixed into the new ones "
        "(at least 32 of them, or all there are: a handful of new examples, such as a few "
        "corrections from chat, would otherwise pull the whole voice toward themselves); 0 "
        "replays none.",
        minimum=0.0,
        maximum=1.0,
    )
    eval_every: int = setting(0, "Evaluate every N steps; 0: at start and end only.", minimum=0)
    val_tokens: int = setting(
        8192,
        "Tokens of held-out text training measures itself on, a sample that stays the same "
        "from run to run (the base model's figure on it is then cached, and a retrain pays only "
        "for the adapter's); the time it takes is part of the plan. 0: all of the held-out "
        "split, which grows with your writing. `slmtui eval` measures on the whole split.",
        minimum=0,
    )
    checkpoint_every: int = setting(50, "Save a resumable checkpoint every N steps.", minimum=1)
    checkpoint_seconds: float = setting(
        60.0,
        "Also save one when this many seconds passed since the last (0: by steps only), so a "
        "killed run loses at most about this much work.",
        minimum=0.0,
        maximum=86400.0,
    )
    seed: int = setting(0, "Random seed for LoRA init and example order.", minimum=0)
    preference_weight: float = setting(
        1.0,
        "Weight of the preference loss (DPO, the base with the adapter off as its reference) "
        "beside the ordinary loss, for the pairs your chat feedback makes: your version chosen "
        "over the model's reply, a reply marked good over one marked bad. 0 trains no pairs.",
        minimum=0.0,
        maximum=100.0,
    )

    @property
    def checkpointing(self) -> str:
        """'auto', 'on' or 'off' (an older file's true/false read as 'on'/'auto')."""
        value = self.gradient_checkpointing
        return {True: "on", False: "auto"}.get(value, value) if isinstance(value, bool) else value

    @property
    def qlora_mode(self) -> str:
        """'auto', 'on' or 'off' (an older file's true/false read as 'auto'/'off')."""
        value = self.qlora
        return {True: "auto", False: "off"}.get(value, value) if isinstance(value, bool) else value


# Training budgets by name, in minutes: what `slmtui train --minutes` and the Train screen
# offer besides a number. "quick" is the cpu-quick and gpu presets' own budget.
TRAINING_BUDGETS = {"quick": 5.0, "evening": 60.0}


def budget_minutes(text: str) -> float:
    """Minutes from a budget's name ("quick", "evening") or a number of minutes."""
    if text.strip().lower() in TRAINING_BUDGETS:
        return TRAINING_BUDGETS[text.strip().lower()]
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0.0
    if not 0 < minutes <= 24 * 60:
        names = ", ".join(f"{name} ({value:g})" for name, value in TRAINING_BUDGETS.items())
        raise ConfigError(f"A training budget is minutes (up to a day) or one of {names}: {text!r}")
    return minutes


# The types `slmtui export --quant` offers, largest first (slmtui.export.quantize runs them).
EXPORT_QUANTS = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")


def budget_key(quant: str) -> str:
    """The [export] key of a type's budget: 'Q4_K_M' -> 'q4_k_m_max_ppl_increase'."""
    return f"{quant.lower()}_max_ppl_increase"


def _budget(default: float, quant: str, why: str):
    return setting(
        default,
        f"Most perplexity increase, in percent against F16 on your held-out writing, at which a "
        f"{quant} export is still published ({why}).",
        minimum=0.0,
        maximum=1000.0,
    )


@dataclass(frozen=True)
class ChatConfig:
    gpu_layers: int = setting(
        -1,
        "Layers of the model llama.cpp puts on the GPU, for chat, compare, serve, eval and the "
        "request writer: -1 all of them when llama.cpp was built for CUDA (none on a CPU "
        "build), 0 none, N the first N. While a training or export job holds the card, the "
        "app loads models with none.",
        minimum=-1,
    )


@dataclass(frozen=True)
class RecallConfig:
    """What is recalled from your writing and chats for a message (chat, `slmtui recall`)."""

    enabled: bool = setting(
        True,
        "Before each reply in chat, find what you wrote that bears on the message (passages of "
        "your writing, turns of your chats) and give it to the model as notes, with their "
        "sources. The chat screen's recall key and `slmtui chat --no-recall` turn it off.",
    )
    passages: int = setting(
        4, "At most this many passages and chat windows per message.", minimum=1, maximum=20
    )
    tokens: int = setting(
        900,
        "At most this many tokens of notes per message (the best one is kept even when longer), "
        "so that notes leave the conversation room in the model's context.",
        minimum=50,
        maximum=16384,
    )
    turns: int = setting(
        3,
        "Turns shown on either side of a matching chat message, so that a note says who said what.",
        minimum=0,
        maximum=20,
    )


@dataclass(frozen=True)
class ExportConfig:
    COMMENT: ClassVar[str] = (
        "Every export writes and verifies an F16 GGUF first; each smaller type is then measured\n"
        "against it on your held-out writing (perplexity, KL divergence, top-1 agreement) and\n"
        "published only within its budget below. README: 'Choosing a quantization'."
    )
    quants: list = setting(
        ["F16"],
        "The types an export publishes (one version holds them all; chat uses the first that "
        "passes): F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M.",
        choices=EXPORT_QUANTS,
        check=lambda value: None if value else 'names no type; give at least one, e.g. ["F16"]',
    )
    q8_0_max_ppl_increase: float = _budget(1.5, "Q8_0", "measured +0.2 to +0.9%")
    q6_k_max_ppl_increase: float = _budget(3.0, "Q6_K", "measured +0.8 to +1.1%")
    q5_k_m_max_ppl_increase: float = _budget(
        6.0, "Q5_K_M", "measured +3 to +10% where 576-wide rows fall back to Q5_1"
    )
    q4_k_m_max_ppl_increase: float = _budget(12.0, "Q4_K_M", "measured +2.9 to +9.3%")

    def budget(self, quant: str) -> float | None:
        """The budget of a type in percent, or None for F16 (proven exact by verification)."""
        return getattr(self, budget_key(quant), None)


@dataclass(frozen=True)
class UIConfig:
    theme: str = setting("slmtui-dark", "Colour theme: a name from themes/*.toml or Textual's.")


KEY_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")


def key_list_problem(value: str) -> str | None:
    """What is wrong with a keys setting ("f1,question_mark"), or None.

    Key names are Textual's, an open set ("f2", "ctrl+q", "question_mark" or "?"), so this checks
    their shape; the app checks the names themselves against the keys Textual knows.
    """
    if not value.strip():
        return 'names no key; give at least one, for example "f2"'
    for part in value.split(","):
        key = part.strip()
        if not key:
            return f"has an empty key in {value!r}; separate keys with single commas"
        if any(ch.isspace() for ch in key):
            return f"has {key!r}; key names have no spaces (the space bar is 'space')"
        if key == "+":
            continue
        *modifiers, name = key.split("+")
        unknown = [m for m in modifiers if m not in KEY_MODIFIERS]
        if unknown or not name:
            return (
                f"has {key!r}; write modifiers in lower case before the key, joined by '+' "
                f"({', '.join(KEY_MODIFIERS)}), for example 'ctrl+g'"
            )
        if len(name) > 1 and not (name.isascii() and name.replace("_", "").isalnum()):
            return f"has {key!r}, which is not a key name (for example 'f2', 'g', 'question_mark')"
    return None


def key_setting(default: str, help: str):
    return setting(default, help, check=key_list_problem)


@dataclass(frozen=True)
class KeysConfig:
    COMMENT: ClassVar[str] = (
        "Keys for the app's screens and jobs, as Textual names them: 'g', 'f2', 'ctrl+g',\n"
        "'question_mark' (or '?'), 'escape'. Give alternatives with commas: \"f1,question_mark\".\n"
        "A key that types a character (g) types it while the chat input has the focus.\n"
        "Keys inside a screen (s start, e export, esc back, ...) are fixed; these may not use them."
    )
    library: str = key_setting("l", "Library: the files in writing/ and the dataset.")
    dataset: str = key_setting(
        "D", "Dataset: every training example; exclude one or a document, new requests."
    )
    train: str = key_setting("t", "Train: start, stop and resume training.")
    models: str = key_setting("m", "Models: the published versions, export, activate, delete.")
    chat: str = key_setting("c", "Chat with the newest model.")
    compare: str = key_setting("v", "Compare: one prompt to the base and the newest model.")
    retrain: str = key_setting("r", "Start a new training run now, from any screen.")
    help: str = key_setting("question_mark", "Help: every key.")
    quit: str = key_setting("ctrl+q", "Quit slmtui.")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)


def with_changes(config: Config, section: str, **changes: Any) -> Config:
    """A copy of config with some settings of one section changed (configs are frozen)."""
    return replace(config, **{section: replace(getattr(config, section), **changes)})


__all__ = [
    "Config",
    "ConfigError",
    "DatasetConfig",
    "ExportConfig",
    "IdentityConfig",
    "IngestConfig",
    "KeysConfig",
    "ModelConfig",
    "RecallConfig",
    "TrainConfig",
    "UIConfig",
    "WatchConfig",
    "default_system_prompt",
    "with_changes",
]
