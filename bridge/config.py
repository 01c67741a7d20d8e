"""`config.toml` -> frozen, typed configuration sections.

Owns the schema of the configuration file: each section is a frozen dataclass whose fields are the keys, with
their defaults. An unknown section or key, or a value of the wrong type or range, raises
`ConfigError("section.key: why")`, naming the file when one was read.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    level: str = "info"
    show_phone_numbers: bool = False

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ConfigError(f"log.level: one of {', '.join(LOG_LEVELS)}, got {self.level!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeConfig:
    max_input_bytes: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_input_bytes <= 0:
            raise ConfigError(
                f"decode.max_input_bytes: a positive number of bytes, got {self.max_input_bytes}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    log: LogConfig = LogConfig()
    decode: DecodeConfig = DecodeConfig()


_SECTIONS: dict[str, type[LogConfig] | type[DecodeConfig]] = {"log": LogConfig, "decode": DecodeConfig}


def _build_section(name: str, cls: type[LogConfig] | type[DecodeConfig], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a table of keys")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = known.get(key)
        if field is None:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(known)})")
        default = field.default
        expected = type(default)
        # bool is an int in Python; a config that says `max_input_bytes = true` is still wrong
        if type(value) is not expected:
            raise ConfigError(
                f"{name}.{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        values[key] = value
    return cls(**values)


def parse_config(data: dict[str, Any]) -> Config:
    sections: dict[str, Any] = {}
    for name, raw in data.items():
        cls = _SECTIONS.get(name)
        if cls is None:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
        sections[name] = _build_section(name, cls, raw)
    return Config(**sections)


def load_config(path: Path | None) -> Config:
    """The configuration in `path`, or the embedded defaults when `path` is None."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
