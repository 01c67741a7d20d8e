"""The log format: one event per line, whatever the values in it.

Values from outside (a Subject, an SMS id, an address, an exception's text) may hold CR, LF or other control
characters; written as they are, a newline would start a forged line (`job=FORGED state=delivered`). The
formatter escapes every control character of the message and of the traceback's lines (`\\n`, `\\x00`), so a
line is always one event and a reader of the log can still see what was sent.
"""

from __future__ import annotations

import logging

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


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # aiosmtpd logs every command line, phone numbers included: keep only its warnings
    logging.getLogger("mail.log").setLevel(logging.WARNING)
