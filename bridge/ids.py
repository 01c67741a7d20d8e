"""Random identifiers for the hot path: queue ids, spool file names and the 128-bit content tokens.

Every byte comes from `os.urandom` and is handed out once, so the tokens are as unguessable as
`secrets.token_urlsafe`'s; but one system call fills a 4 KiB buffer that serves some hundreds of identifiers.
Each `os.urandom` call gives up the GIL, and the event loop's thread then waits for it behind the conversion and
store threads: three such calls per accepted mail were a measurable part of the small-mail intake.
"""

from __future__ import annotations

import base64
import os
import threading

_BUFFER_BYTES = 4096
_lock = threading.Lock()
_buffer = b""
_pos = 0


def random_bytes(n: int) -> bytes:
    global _buffer, _pos
    with _lock:
        if _pos + n > len(_buffer):
            _buffer, _pos = os.urandom(max(_BUFFER_BYTES, n)), 0
        chunk = _buffer[_pos : _pos + n]
        _pos += n
    return chunk


def token_hex(n: int) -> str:
    return random_bytes(n).hex()


def token_urlsafe(n: int) -> str:
    return base64.urlsafe_b64encode(random_bytes(n)).rstrip(b"=").decode("ascii")
