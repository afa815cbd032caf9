"""The tokenizer part of a GGUF, built from a Hugging Face folder's tokenizer files.

A chat model whose GGUF tokenizer differs from the one it was trained with still loads and still
answers, just worse, and a wrong end-of-turn id makes it talk forever; so everything here is
explicit: token types, special ids, the BOS flag, the chat template, and llama.cpp's name for
the pre-tokenizer. Two tokenizer families are written:

- byte-level BPE (SmolLM2, Llama 3, Qwen2/3) as llama.cpp's "gpt2" model with merges;
- SentencePiece-style BPE (TinyLlama: `▁` for spaces and `<0xNN>` byte fallback) as llama.cpp's
  "llama" model, whose merge order is given by scores instead of a merge list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUFWriter, TokenType

from slmtui.export.errors import ConvertError
from slmtui.export.source_info import read_source_info

# Turn-end tokens: when the chat template uses one, generation must stop there (it is EOS).
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
SMOLLM2_VOCAB = 49152
LLAMA3_MIN_VOCAB = 128000
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
_CONTROL_LOOK = re.compile(r"<\|.*\|>")


@dataclass
class GGUFVocab:
    """Everything llama.cpp reads about the tokenizer, ready to be written."""

    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece-style)
    pre: str
    tokens: list[str]
    types: list[int]
    merges: list[str]
    scores: list[float] | None
    bos_id: int | None
    eos_id: int
    unk_id: int | None
    pad_id: int | None
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool | None
    chat_template: str | list | None

    def write(self, writer: GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.merges:
            writer.add_token_merges(self.merges)
        if self.bos_id is not None:
            writer.add_bos_token_id(self.bos_id)
        writer.add_eos_token_id(self.eos_id)
        if self.unk_id is not None:
            writer.add_unk_token_id(self.unk_id)
        if self.pad_id is not None:
            writer.add_pad_token_id(self.pad_id)
        # Written even when false: llama.cpp's default for a missing flag differs per model.
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)


def read_vocab(folder: Path, model_type: str, n_rows: int) -> GGUFVocab:
    """The GGUF tokenizer for a folder whose embedding matrix has `n_rows` rows.

    Token count always equals `n_rows`: ids the tokenizer does not use become `[PAD<id>]`.
    """
    folder = Path(folder)
    tj = _tokenizer_json(folder)
    tconfig = _json_object(folder / "tokenizer_config.json")
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise ConvertError(
            f"{folder}/tokenizer.json uses a {model.get('type')!r} tokenizer; slmtui writes "
            "only BPE tokenizers (byte-level like SmolLM2/Llama 3/Qwen, or SentencePiece-style "
            "like TinyLlama) into GGUF."
        )
    by_id = _id_to_token(model, tj.get("added_tokens") or [])
    if max(by_id) >= n_rows:
        raise ConvertError(
            f"{folder}: the tokenizer has token id {max(by_id)} but the embedding matrix has only "
            f"{n_rows} rows; the tokenizer does not belong to these weights."
        )
    ids = {token: index for index, token in by_id.items()}
    added = {a["id"]: bool(a.get("special")) for a in tj.get("added_tokens") or []}
    spm = _is_sentencepiece_style(tj)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    if not merges:
        raise ConvertError(f"{folder}/tokenizer.json has a BPE model without merges.")
    template = _chat_template(folder, tconfig)
    unk_text = _content(tconfig.get("unk_token")) or model.get("unk_token")
    tokens, types = _tokens_and_types(by_id, added, n_rows, spm, unk_text)
    generation = _json_object(folder / "generation_config.json")
    config = _json_object(folder / "config.json")
    return GGUFVocab(
        model="llama" if spm else "gpt2",
        pre="default" if spm else _pre_name(folder, model_type, tj, ids),
        tokens=tokens,
        types=types,
        merges=[] if spm else merges,
        scores=_merge_scores(by_id, added, merges, n_rows) if spm else None,
        bos_id=_special_id(ids, tconfig.get("bos_token"), config.get("bos_token_id")),
        eos_id=_eos_id(folder, ids, tconfig, generation, config, template),
        unk_id=ids.get(unk_text) if unk_text else None,
        pad_id=_special_id(
            ids,
            tconfig.get("pad_token"),
            generation.get("pad_token_id", config.get("pad_token_id")),
        ),
        add_bos=_adds_special(tconfig.get("add_bos_token"), tj, first=True),
        add_eos=_adds_special(tconfig.get("add_eos_token"), tj, first=False),
        add_space_prefix=_adds_space_prefix(tj) if spm else None,
        chat_template=template,
    )


def _tokenizer_json(folder: Path) -> dict:
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ConvertError(
            f"{folder} has no tokenizer.json. slmtui writes the model's fast tokenizer into the "
            "GGUF: save it into the folder with the tokenizer's save_pretrained()."
        )
    data = _json_object(path)
    if not data:
        raise ConvertError(f"{path} is empty or not a JSON object.")
    return data


def _json_object(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{path} is not readable JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _id_to_token(model: dict, added_tokens: list[dict]) -> dict[int, str]:
    by_id = {int(index): token for token, index in (model.get("vocab") or {}).items()}
    for entry in added_tokens:
        by_id[int(entry["id"])] = entry["content"]
    if not by_id:
        raise ConvertError("tokenizer.json has an empty vocabulary.")
    return by_id


def _is_sentencepiece_style(tj: dict) -> bool:
    """SentencePiece-converted BPE: byte fallback and `▁` for spaces, no byte-level mapping."""
    if (tj.get("model") or {}).get("byte_fallback"):
        return True
    around = json.dumps([tj.get("normalizer"), tj.get("pre_tokenizer")], ensure_ascii=False)
    return "Metaspace" in around or "▁" in around


def _tokens_and_types(
    by_id: dict[int, str], added: dict[int, bool], n_rows: int, spm: bool, unk: str | None
) -> tuple[list[str], list[int]]:
    tokens: list[str] = []
    types: list[int] = []
    for index in range(n_rows):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(TokenType.UNUSED)
            continue
        tokens.append(token)
        # SentencePiece-style tokenizers list <unk> among the added tokens; it keeps its own type.
        if spm and token == unk:
            kind = TokenType.UNKNOWN
        elif spm and _BYTE_TOKEN.fullmatch(token):
            kind = TokenType.BYTE
        elif index in added:
            control = added[index] or _CONTROL_LOOK.fullmatch(token) is not None
            kind = TokenType.CONTROL if control else TokenType.USER_DEFINED
        else:
            kind = TokenType.NORMAL
        types.append(int(kind))
    if len(set(tokens)) != len(tokens):
        raise ConvertError("tokenizer.json maps two ids to the same token text.")
    return tokens, types


def _merge_scores(
    by_id: dict[int, str], added: dict[int, bool], merges: list[str], n_rows: int
) -> list[float]:
    """Scores that make llama.cpp's SentencePiece merger follow the BPE merge order.

    llama.cpp merges the adjacent pair whose result has the highest score; BPE merges the pair
    with the lowest rank. So a token made by merge number r scores -r, and tokens no merge makes
    (characters, bytes, specials) score below every merge.
    """
    rank: dict[str, int] = {}
    for index, merge in enumerate(merges):
        left, _, right = merge.partition(" ")
        rank.setdefault(left + right, index)
    floor = -float(len(merges))
    scores = [floor] * n_rows
    for index, token in by_id.items():
        if index not in added and token in rank:
            scores[index] = -float(rank[token])
        elif index in added:
            scores[index] = 0.0
    return scores


def _content(value: object) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _special_id(ids: dict[str, int], token: object, fallback: object) -> int | None:
    text = _content(token)
    if text is not None and text in ids:
        return ids[text]
    if isinstance(fallback, list):
        fallback = fallback[0] if fallback else None
    return int(fallback) if isinstance(fallback, int) else None


def _eos_id(
    folder: Path,
    ids: dict[str, int],
    tconfig: dict,
    generation: dict,
    config: dict,
    template: str | list | None,
) -> int:
    """The turn-end token when the chat template uses one, else the tokenizer's EOS."""
    text = json.dumps(template) if template else ""
    for token in TURN_END_TOKENS:
        if token in ids and token in text:
            return ids[token]
    found = _special_id(
        ids, tconfig.get("eos_token"), generation.get("eos_token_id", config.get("eos_token_id"))
    )
    if found is None:
        raise ConvertError(
            f"{folder} names no end-of-sequence token (eos_token in tokenizer_config.json or "
            "eos_token_id in generation_config.json); without one, generation never stops."
        )
    return found


def _chat_template(folder: Path, tconfig: dict) -> str | list | None:
    """The chat template from chat_template.jinja (newer transformers) or tokenizer_config."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = tconfig.get("chat_template")
    if template:
        return template
    return _json_object(folder / "chat_template.json").get("chat_template")


def _adds_special(flag: object, tj: dict, *, first: bool) -> bool:
    """Whether the tokenizer puts a special token first (BOS) or last (EOS) of every text.

    tokenizer_config.json's flag wins; otherwise tokenizer.json's post-processor tells.
    """
    if isinstance(flag, bool):
        return flag
    processors = [tj.get("post_processor") or {}]
    if processors[0].get("type") == "Sequence":
        processors = processors[0].get("processors") or []
    for processor in processors:
        if processor.get("type") == "TemplateProcessing":
            single = processor.get("single") or []
            if single:
                edge = single[0] if first else single[-1]
                return "SpecialToken" in edge
    return False


def _adds_space_prefix(tj: dict) -> bool:
    """Whether the SentencePiece-style tokenizer puts `▁` before the first word."""
    normalizer = json.dumps(tj.get("normalizer"))
    if '"Prepend"' in normalizer:
        return True
    pre = tj.get("pre_tokenizer") or {}
    if pre.get("type") == "Metaspace":
        return pre.get("prepend_scheme", "always") != "never" and pre.get("add_prefix_space", True)
    return False


def _pre_name(folder: Path, model_type: str, tj: dict, ids: dict[str, int]) -> str:
    """llama.cpp's name for the pre-tokenizer (`tokenizer.ggml.pre`).

    A folder made from a GGUF recorded the name (slmtui-source.json); otherwise it is recognised
    from the tokenizer itself, and a tokenizer we cannot place is refused rather than guessed,
    because a wrong name silently changes how text is split.
    """
    recorded = read_source_info(folder).get("tokenizer_pre")
    if isinstance(recorded, str) and recorded:
        return recorded
    if model_type in ("qwen2", "qwen3"):
        # Qwen2.5 and Qwen3 ship Qwen2's split regex, and transformers even imposes it on every
        # qwen2 folder whatever tokenizer.json says: that is what the model was trained with.
        return "qwen2"
    if _looks_like_smollm(tj):
        return "smollm"
    if len(ids) >= LLAMA3_MIN_VOCAB and "<|eot_id|>" in ids:
        return "llama-bpe"
    if len(ids) == SMOLLM2_VOCAB and "<|im_end|>" in ids:
        return "smollm"
    raise ConvertError(
        f"Cannot tell which llama.cpp pre-tokenizer matches the tokenizer in {folder} (it is "
        "neither SmolLM2's, Llama 3's nor Qwen2's). If you know llama.cpp's name for it, record "
        "it with slmtui.export.source_info.write_source_info(folder, NAME) and export again."
    )


def _looks_like_smollm(tj: dict) -> bool:
    """SmolLM2's pre-tokenizer: every digit alone, then GPT-2's byte-level regex split."""
    pre = tj.get("pre_tokenizer") or {}
    steps = (pre.get("pretokenizers") or []) if pre.get("type") == "Sequence" else []
    if len(steps) != 2:
        return False
    digits, byte_level = steps
    return (
        digits.get("type") == "Digits"
        and bool(digits.get("individual_digits"))
        and byte_level.get("type") == "ByteLevel"
        and bool(byte_level.get("use_regex", True))
    )
