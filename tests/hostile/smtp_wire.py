"""A raw SMTP client for hostile tests: it writes exactly the bytes it is given (NULs, bare CRs, pipelined
commands, a body with commands in it) and reads replies as the server sends them."""

from __future__ import annotations

import re
import socket

from tests.adapters.bridge_fixture import DOMAIN

#: a final reply line: code, space, an RFC 3463 enhanced status code
FINAL_WITH_ENHANCED = re.compile(rb"^[245]\d\d [245]\.\d{1,3}\.\d{1,3} ")


class Wire:
    def __init__(self, port: int, *, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One whole reply (the last line of a multi-line one); b"" when the server closed the connection."""
        while True:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                if line[3:4] != b"-":
                    return line
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.buf += chunk

    def command(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_mail(port: int, data: bytes, *, sender: str = "a@example.org", rcpt: str = "", rcpt_params: str = "") -> bytes:
    """One whole transaction on a new connection; the reply to the end of data. `data` goes as given (CRLF line
    ends, no line starting with a dot), the end mark after it."""
    with Wire(port) as w:
        w.command(b"EHLO client.test")
        w.command(f"MAIL FROM:<{sender}>".encode())
        w.command(f"RCPT TO:<{rcpt or '12015554567@' + DOMAIN}>{rcpt_params}".encode())
        w.command(b"DATA")
        w.send(data + b"\r\n.\r\n")
        return w.reply()


def crlf(data: bytes) -> bytes:
    """`data` with CRLF line ends, whichever it had."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
