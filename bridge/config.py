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
            raise ConfigError(f"decode.max_input_bytes: a positive number of bytes, got {self.max_input_bytes}")


PROFILE_NAMES = (
    "default",
    "text",
    "image-basic",
    "image-rich",
    "video-basic",
    "video-rich",
    "megapixel",
    "content-basic",
    "content-rich",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertConfig:
    """How mails become MMS; `max_message_bytes` and the image limits override the profile's when not 0."""

    profile: str = "default"
    max_message_bytes: int = 0
    max_image_width: int = 0
    max_image_height: int = 0
    max_image_pixels: int = 100_000_000
    trim_signature: bool = True
    trim_quotes: bool = True
    max_slide_text_chars: int = 1000

    def __post_init__(self) -> None:
        if self.profile not in PROFILE_NAMES:
            raise ConfigError(f"convert.profile: one of {', '.join(PROFILE_NAMES)}, got {self.profile!r}")
        if self.max_message_bytes and self.max_message_bytes < 2048:
            raise ConfigError(f"convert.max_message_bytes: 0 or at least 2048, got {self.max_message_bytes}")
        for key in ("max_image_width", "max_image_height"):
            value = getattr(self, key)
            if value and value < 16:
                raise ConfigError(f"convert.{key}: 0 or at least 16 pixels, got {value}")
        if self.max_image_pixels < 1_000_000:
            raise ConfigError(f"convert.max_image_pixels: at least 1000000, got {self.max_image_pixels}")
        if self.max_slide_text_chars < 100:
            raise ConfigError(f"convert.max_slide_text_chars: at least 100, got {self.max_slide_text_chars}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    log: LogConfig = LogConfig()
    decode: DecodeConfig = DecodeConfig()
    convert: ConvertConfig = ConvertConfig()


Section = type[LogConfig] | type[DecodeConfig] | type[ConvertConfig]
_SECTIONS: dict[str, Section] = {"log": LogConfig, "decode": DecodeConfig, "convert": ConvertConfig}


def _build_section(name: str, cls: Section, raw: Any) -> Any:
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
            raise ConfigError(f"{name}.{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
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
