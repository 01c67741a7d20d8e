"""The log format: one event per line, whatever the values in it.

Values from outside (a Subject, an SMS id, an address, an exception's text) may hold CR, LF or other control
characters; written as they are, a newline would start a forged line (`job=FORGED state=delivered`). The text
formatter escapes every control character of the message and of the traceback's lines (`\\n`, `\\x00`), so a
line is always one event and a reader of the log can still see what was sent. `log.format = "json"` writes one
JSON object per line instead (python-json-logger): time, level, logger, the whole text as `event`, and each
`key=value` of it as a field of its own — the same stable keys (`job`, `state`, `to`, `status`, `message`, …).

Phone numbers in log lines go through `shown`: masked to their last four digits unless `log.show_phone_numbers`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from pythonjsonlogger.json import JsonFormatter

_ESCAPES = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def escape(text: str) -> str:
    """`text` with every control character written as an escape."""
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """A `logging.Formatter` whose message part never spans lines; a traceback keeps its lines, each indented
    so that no line of it can be read as an event."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        text = super().formatException(ei)  # type: ignore[arg-type]
        return "\n".join("  | " + escape(line) for line in text.splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join("  | " + escape(line) for line in stack_info.splitlines())


class _Number(Protocol):
    @property
    def e164(self) -> str: ...

    @property
    def masked(self) -> str: ...


_SHOW_NUMBERS = [False]


def shown(number: _Number) -> str:
    """A phone number as log lines write it: masked, unless the operator chose `log.show_phone_numbers`."""
    return number.e164 if _SHOW_NUMBERS[0] else number.masked


_PAIR = re.compile(r"(?:^|\s)([a-z_]+)=(\S+)")
#: fields the JSON formatter writes itself: a key=value of the message with one of these names is left in it
_RESERVED = frozenset({"time", "level", "logger", "event", "exc_info", "stack_info"})


class OneObjectFormatter(JsonFormatter):
    """One JSON object per line: the record's time, level and logger, its whole text as `event`, and the text's
    key=value pairs as fields (`message` is then a message id, as in the text lines). JSON escapes every control
    character, so a value cannot start a line of its own."""

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["time"] = self.formatTime(record)
        log_record["level"] = record.levelname.lower()
        log_record["logger"] = record.name
        for key, value in _PAIR.findall(record.getMessage()):
            if key not in _RESERVED and key not in log_record:
                log_record[key] = value


def setup_logging(level: str, *, form: str = "text", show_phone_numbers: bool = False) -> None:
    _SHOW_NUMBERS[0] = show_phone_numbers
    handler = logging.StreamHandler()
    if form == "json":
        handler.setFormatter(OneObjectFormatter("%(message)s", rename_fields={"message": "event"}))
    else:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # aiosmtpd logs every command line, phone numbers included: keep only its warnings
    logging.getLogger("mail.log").setLevel(logging.WARNING)
