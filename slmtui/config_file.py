"""`slmtui.toml` on disk: read and checked against the settings of `config.py` (every error names
the key and the file), the commented default file written for `slmtui init`, and the few lines
slmtui itself writes back (who you are, a chosen base).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from slmtui.config import Config, ConfigError, KeysConfig, default_system_prompt
from slmtui.files import write_text_atomic


def load_config(path: Path) -> Config:
    """Read and validate slmtui.toml; a missing file means all defaults."""
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict, source: str = "slmtui.toml") -> Config:
    """Build a Config from parsed TOML, naming the key and the file in every error."""
    config = _build(Config, data, source, prefix="")
    _check_keys_differ(config.keys, source)
    return config


def _check_keys_differ(keys: KeysConfig, source: str) -> None:
    """Two actions on one key would leave one of them unreachable."""
    taken: dict[str, str] = {}
    for f in fields(keys):
        for part in getattr(keys, f.name).split(","):
            key = part.strip()
            if key in taken:
                raise ConfigError(
                    f"{source}: 'keys.{taken[key]}' and 'keys.{f.name}' both use {key!r}; "
                    "give each action its own key"
                )
            taken[key] = f.name


def _build(cls: type, data: Any, source: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        key = prefix + unknown[0]
        allowed = ", ".join(prefix + name for name in known)
        raise ConfigError(f"{source}: unknown key '{key}'. Known keys here: {allowed}")
    values = {}
    for name, value in data.items():
        f = known[name]
        kind = hints[name]
        if is_dataclass(kind):
            values[name] = _build(kind, value, source, prefix=f"{prefix}{name}.")
        else:
            values[name] = _check_value(prefix + name, value, kind, f.metadata, source)
    return cls(**values)


def _check_value(key: str, value: Any, kind: type, meta: dict, source: str) -> Any:
    origin = get_origin(kind) or kind
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, list),
    }.get(origin, True)
    if not ok:
        raise ConfigError(f"{source}: '{key}' must be {_describe(origin, meta)}, got {value!r}")
    if origin is float:
        value = float(value)
    choices = meta.get("choices")
    items = value if isinstance(value, list) else [value]
    if choices is not None:
        bad = [item for item in items if item not in choices]
        if bad:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{source}: '{key}' has {bad[0]!r}; allowed values: {allowed}")
    low, high = meta.get("minimum"), meta.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{source}: '{key}' must be {_describe(origin, meta)}, got {value!r}")
    check = meta.get("check")
    problem = check(value) if check is not None else None
    if problem:
        raise ConfigError(f"{source}: '{key}' {problem}")
    if get_args(kind) and origin is list:
        return list(value)
    return value


def _describe(origin: type, meta: dict) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    text = names.get(origin, "a list")
    low, high = meta.get("minimum"), meta.get("maximum")
    if low is not None and high is not None:
        text += f" from {low} to {high}"
    if meta.get("choices"):
        text += " of " + ", ".join(repr(c) for c in meta["choices"])
    return text


def render_default_toml(config: Config | None = None) -> str:
    """The whole config as TOML, every setting written out with its help as a comment."""
    config = config or Config()
    lines = [
        "# slmtui workspace settings. Every setting is listed with its default;",
        "# unknown keys are errors, so a typo never goes unnoticed.",
    ]
    for section in fields(config):
        lines.append("")
        value = getattr(config, section.name)
        comment = getattr(type(value), "COMMENT", "")
        lines += [f"# {line}" for line in comment.splitlines()]
        lines.append(f"[{section.name}]")
        for f in fields(value):
            lines.append(f"# {f.metadata['help']}")
            if f.metadata.get("choices"):
                lines.append("# Allowed: " + ", ".join(repr(c) for c in f.metadata["choices"]))
            lines.append(f"{f.name} = {_toml_value(getattr(value, f.name))}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return '"' + escaped + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def write_identity(path: Path, name: str) -> Config:
    """Set `[identity] names` (and an empty system prompt to one with the name) in the file;
    the app's "is this you?" question is the one caller."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    config = config_from_dict(tomllib.loads(text), source=str(path))
    prompt = config.identity.system_prompt or default_system_prompt(name)
    return write_settings(path, "identity", {"names": [name], "system_prompt": prompt})


def write_settings(path: Path, section: str, values: dict[str, Any]) -> Config:
    """Set these settings of one table in the file, changing those lines only, so the rest of a
    hand-edited file stays as it was; returns the settings read back (a bad value is refused
    before anything is written)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    rendered = {key: _toml_value(value) for key, value in values.items()}
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        lines += ["", f"[{section}]", *(f"{key} = {value}" for key, value in rendered.items())]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        for key, value in rendered.items():
            found = next(
                (i for i in range(start + 1, end) if re.match(rf"\s*{key}\s*=", lines[i])), None
            )
            if found is None:
                lines.insert(end, f"{key} = {value}")
                end += 1
            else:
                lines[found] = f"{key} = {value}"
    new_text = "\n".join(lines) + "\n"
    result = config_from_dict(tomllib.loads(new_text), source=str(path))
    write_text_atomic(path, new_text)
    return result
