"""The base model as a local Hugging Face folder in safetensors, whatever `model.base` names.

Training (transformers + peft) wants a Hugging Face folder: config.json, model.safetensors and a
fast tokenizer. The default base ships as a Q4_1 GGUF, so we dequantize it once with transformers
(about 20 s) and cache the folder; later runs find the cache in well under a second.

The tokenizer in that folder is rebuilt from the GGUF's own vocabulary by slmtui.tokenizer (the
same one that counts tokens while chunking, checked equal to llama.cpp), not by transformers' GGUF
tokenizer conversion, which has been seen to set eos to the bos token and to prepend a BOS the
model was never trained with. For chat training, eos must be the turn-end token, or the trained
model never stops talking.

Weights are only ever read from safetensors or GGUF (never pickles), never with trust_remote_code,
and the hub is only contacted when the user names a hub model (docs/ARCHITECTURE.md, "Packages").
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.utils.quantization_config import QuantizationConfigMixin

from slmtui.export.source_info import write_source_info
from slmtui.files import place_folder
from slmtui.tokenizer import (
    DEFAULT_BASE,
    TokenizerError,
    bundled_gguf_path,
    tokenizer_from_gguf,
)

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3", "gemma3_text")
# Part of the cache key: bump it when what we write into a cached folder changes, so that folders
# written by an older slmtui are rebuilt instead of trusted.
CACHE_FORMAT = 2  # 2: slmtui-source.json records the GGUF's pre-tokenizer name
# What a hub download may fetch: configs, safetensors weights and tokenizer files; never pickles
# or code.
HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "merges.txt", "vocab.txt", "*.jinja"]
SMOLLM2_VOCAB = 49152
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# A conversion killed midway leaves its temporary folder behind (hundreds of MB); one this old is
# surely dead and is removed before the next conversion of the same file.
_STALE_TEMP_SECONDS = 3600


class BaseModelError(RuntimeError):
    """The configured base model cannot be found, read or used; the message says what to do."""


@dataclass(frozen=True)
class GGUFInfo:
    """The facts from a GGUF header that the converted folder and its tokenizer must carry over."""

    architecture: str
    context_length: int
    bos_id: int | None
    eos_id: int
    unk_id: int | None
    pad_id: int | None
    add_bos: bool
    chat_template: str | None
    pre: str  # llama.cpp's pre-tokenizer name, which export must write back


def resolve_base(base: str, cache_root: Path | None = None) -> Path:
    """A local Hugging Face folder with the weights and tokenizer of `model.base`.

    'default' and .gguf paths are dequantized once and cached under `cache_root/base`; a local
    folder is checked and used in place; only a name that is neither a file nor a folder and looks
    like `org/name` is fetched from the Hugging Face hub.
    """
    if base == DEFAULT_BASE:
        try:
            gguf = bundled_gguf_path()
        except TokenizerError as exc:
            raise BaseModelError(str(exc)) from exc
        return _cached_from_gguf(gguf, cache_root)
    path = Path(base).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return _cached_from_gguf(path, cache_root)
        raise BaseModelError(
            f"{path} is a file but not a .gguf file. Set model.base to 'default', a .gguf file, "
            "or a Hugging Face model folder."
        )
    if path.is_dir():
        return _check_folder(path)
    if _HUB_ID.fullmatch(base):
        return _download(base)
    raise BaseModelError(
        f"Base model {base!r} not found: there is no such file or folder. Set model.base to "
        "'default', a .gguf file, a Hugging Face model folder, or a hub id like 'org/name'."
    )


def load_base(
    folder: Path,
    *,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    quantization: QuantizationConfigMixin | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The model and tokenizer from a folder that resolve_base returned.

    `quantization` is a transformers quantization config (QLoRA's 4-bit BitsAndBytesConfig); a
    quantized model must be placed on its device while loading, so it gets a device_map.
    """
    folder = Path(folder)
    options = {
        "dtype": dtype,
        "use_safetensors": True,
        "attn_implementation": "sdpa",
        "local_files_only": True,
        "trust_remote_code": False,
    }
    if quantization is not None:
        options |= {"quantization_config": quantization, "device_map": {"": device}}
    model = AutoModelForCausalLM.from_pretrained(folder, **options)
    if quantization is None:
        model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(
        folder, local_files_only=True, trust_remote_code=False
    )
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise BaseModelError(f"{folder}: the tokenizer is not a fast (tokenizer.json) tokenizer.")
    if tokenizer.pad_token is None:
        # Padding is masked out of the loss and attention, so any token will do; eos always exists.
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def read_gguf_info(path: Path) -> GGUFInfo:
    """Architecture, special token ids, BOS flag and chat template from a GGUF header."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"{path} cannot be read as a GGUF file: {exc}") from exc

    def field(name: str, default=None):
        found = reader.fields.get(name)
        return found.contents() if found is not None else default

    architecture = field("general.architecture", "")
    eos_id = field("tokenizer.ggml.eos_token_id")
    if eos_id is None:
        raise BaseModelError(
            f"{path.name} names no end-of-turn token (tokenizer.ggml.eos_token_id)."
        )
    return GGUFInfo(
        architecture=architecture,
        context_length=int(field(f"{architecture}.context_length", 2048)),
        bos_id=field("tokenizer.ggml.bos_token_id"),
        eos_id=eos_id,
        unk_id=field("tokenizer.ggml.unknown_token_id"),
        pad_id=field("tokenizer.ggml.padding_token_id"),
        add_bos=bool(field("tokenizer.ggml.add_bos_token", False)),
        chat_template=field("tokenizer.chat_template"),
        pre=field("tokenizer.ggml.pre", "") or "default",
    )


def gguf_tokenizer(path: Path, info: GGUFInfo) -> PreTrainedTokenizerFast:
    """The GGUF's tokenizer for transformers, with the GGUF's own special tokens and BOS flag."""
    try:
        core = tokenizer_from_gguf(path)
    except TokenizerError as exc:
        raise BaseModelError(str(exc)) from exc

    def token(index: int | None) -> str | None:
        return None if index is None else core.id_to_token(index)

    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=token(info.bos_id),
        eos_token=token(info.eos_id),
        unk_token=token(info.unk_id),
        pad_token=token(info.eos_id if info.pad_id is None else info.pad_id),
        add_bos_token=info.add_bos,
        add_eos_token=False,
        chat_template=info.chat_template,
        model_max_length=info.context_length,
        clean_up_tokenization_spaces=False,
    )


def _bundled_gguf() -> Path:
    try:
        return bundled_gguf_path()
    except TokenizerError as exc:
        raise BaseModelError(str(exc)) from exc


def _fingerprint(path: Path) -> str:
    """Changes when the file is replaced or edited, and when our cache format changes."""
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{CACHE_FORMAT}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _cached_from_gguf(gguf: Path, cache_root: Path | None) -> Path:
    """The cached folder for a GGUF, converted first if needed.

    The conversion writes into a temporary sibling folder that is renamed into place, so the
    cache holds either a whole folder or none, even when the process is killed.
    """
    root = Path(cache_root or platformdirs.user_cache_dir("slmtui")) / "base"
    target = root / f"{gguf.stem}-{_fingerprint(gguf)}"
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
    try:
        _convert_gguf(gguf, tmp)
        # Another process may have converted the same file at the same moment: its folder is
        # as good, so a name already taken is kept.
        if not place_folder(tmp, target) and not (target / "config.json").is_file():
            raise OSError(f"{target} exists but holds no converted model; remove it and retry")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _remove_stale_temps(root: Path, name: str) -> None:
    for leftover in root.iterdir():
        ours = leftover.name.startswith(f".{name}.") and leftover.name.endswith(".tmp")
        if ours and time.time() - leftover.stat().st_mtime > _STALE_TEMP_SECONDS:
            shutil.rmtree(leftover, ignore_errors=True)


def _convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantize a GGUF to an fp32 Hugging Face folder with our own tokenizer."""
    info = read_gguf_info(gguf)
    if info.architecture not in SUPPORTED_MODEL_TYPES:
        raise BaseModelError(_unsupported(f"{gguf.name} has architecture", info.architecture))
    tokenizer = gguf_tokenizer(gguf, info)  # before the slow part, so that a bad vocab fails fast
    model = dequantized_model(
        gguf, bos_token_id=info.bos_id, eos_token_id=info.eos_id, pad_token_id=info.pad_id
    )
    model.generation_config = generation_config_for(info)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_source_info(folder, info.pre)


def dequantized_model(gguf: Path, **config_changes) -> PreTrainedModel:
    """A GGUF's weights dequantized by transformers to float32, in a model that can be saved.

    The loaded model keeps a GGUF quantization_config and so refuses save_pretrained, although
    its weights are plain fp32 by now: they move into a model built without that config (with
    `config_changes` applied, e.g. the GGUF's own special token ids).
    """
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise BaseModelError(f"transformers cannot load {gguf.name}: {exc}") from exc
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(loaded.config).from_dict({**settings, **config_changes})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    model.tie_weights()
    return model


def generation_config_for(info: GGUFInfo) -> GenerationConfig:
    """Generation stops at the turn-end token, which the GGUF names as its eos."""
    pad = info.eos_id if info.pad_id is None else info.pad_id
    return GenerationConfig(bos_token_id=info.bos_id, eos_token_id=info.eos_id, pad_token_id=pad)


def _check_folder(folder: Path) -> Path:
    """Accept a Hugging Face folder only if slmtui can load and train it safely."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BaseModelError(
            f"{folder} is not a Hugging Face model folder: it has no config.json. Set model.base "
            "to 'default', a .gguf file, or a folder written by save_pretrained()."
        )
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        found = f" (it has {', '.join(pickles)})" if pickles else ""
        raise BaseModelError(
            f"{folder} has no .safetensors weights{found}. slmtui loads weights only from "
            "safetensors or GGUF, because pickled weights can run code: re-save the model with "
            "transformers' save_pretrained(), which writes safetensors, or use a GGUF file."
        )
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise BaseModelError(f"{config_file} is not a readable JSON object: {exc}") from exc
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise BaseModelError(_unsupported(f"{folder} has model_type", model_type))
    if not (folder / "tokenizer.json").is_file():
        raise BaseModelError(
            f"{folder} has no tokenizer.json. slmtui needs the model's fast tokenizer: save it "
            "into the folder with the tokenizer's save_pretrained()."
        )
    return folder


def _unsupported(what: str, name: object) -> str:
    return (
        f"{what} {name!r}, which slmtui cannot train yet. Supported: "
        f"{', '.join(SUPPORTED_MODEL_TYPES)} (SmolLM2, Llama 3.x, Qwen2.5, Qwen3, Gemma 3)."
    )


def _download(repo_id: str) -> Path:
    """Fetch a hub model's safetensors, configs and tokenizer files (the user asked for it)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:  # huggingface_hub shows a progress bar per file on stderr
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except GatedRepoError as exc:
        raise BaseModelError(
            f"{repo_id} is gated: log in (`hf auth login`) and accept the licence on the "
            f"model's page (https://huggingface.co/{repo_id}), then set it again."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise BaseModelError(
            f"There is no model {repo_id!r} on the Hugging Face hub (or it is private): check "
            "the name, or log in (`hf auth login`) if it is yours."
        ) from exc
    except (OSError, ValueError) as exc:  # network, authentication, bad name
        raise BaseModelError(
            f"Could not fetch {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Check the name and the network, or set model.base to a local folder or .gguf file."
        ) from exc
    return _check_folder(folder)
