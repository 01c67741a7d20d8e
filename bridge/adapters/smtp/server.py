"""The SMTP protocol side of intake: aiosmtpd's `SMTP`, with what the bridge needs on top.

- DATA is read in large chunks instead of line by line (aiosmtpd's own loop tops out near 15 MB/s), with the
  end-of-data mark found across chunk borders, dot-unstuffing (RFC 5321 4.5.2), the 1000-octet line limit
  (4.5.3.1.6) and the size limit; the body is streamed to a spool file, never held whole in memory.
- The DSN extension (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, which aiosmtpd would refuse.
- `ENHANCEDSTATUSCODES`, `PIPELINING` and `DSN` in the EHLO reply.
- Whatever goes wrong during DATA (a full spool, a failing handler), the rest of the data is still read up to
  its end mark and answered with one temporary reply (`452 4.3.1` for a full disk, `451 4.3.0` otherwise): body
  bytes are never read as commands. Commands pipelined after the end mark (RFC 2920) are answered in turn.
- Envelope addresses with control characters (NUL, CR, LF, ...) are refused: `501 5.1.7` at MAIL, `501 5.1.3`
  at RCPT; they could otherwise reach report headers and outgoing SMTP commands.
- 8-bit data without `BODY=8BITMIME` is accepted, as Postfix accepts it: the mail is read byte for byte and
  its charsets decided by the converter as for a declared 8-bit body.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, syntax

from bridge import ids
from bridge.adapters.smtp.limits import ConnectionLimits
from bridge.model import MSISDN

log = logging.getLogger("bridge.smtp")

#: RFC 5321 4.5.3.1.6: a line is at most 1000 octets with its CRLF
MAX_LINE = 1000
CHUNK = 256 * 1024
#: a message up to this size stays in memory; a larger one is streamed to the spool folder
SPOOL_AFTER = 2 * 1024 * 1024
_END = b"\r\n.\r\n"
#: NUL, CR, LF and the other C0 controls and DEL: never part of an address on the wire (RFC 5321 4.1.2)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: a full disk or quota: the client may try again later (RFC 3463 4.3.1 "mail system full")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
SPOOL_FULL = "452 4.3.1 Insufficient system storage, try again later"
LOCAL_ERROR = "451 4.3.0 Local error in processing, try again later"
#: <local@domain> with a dot-atom local part and a plain domain (no quotes, routes or literals), then params
_PLAIN_ADDRESS = re.compile(r"\s*<([A-Za-z0-9!#$&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,255})>((?: .*)?)$")


@dataclass
class DsnParams:
    ret: str | None = None
    envid: str | None = None
    #: per accepted recipient, in RCPT order: (NOTIFY values, ORCPT)
    recipients: list[tuple[frozenset[str], str | None]] = field(default_factory=list)


#: the enhanced status code (RFC 3463) for a reply aiosmtpd writes without one, by reply code
_DEFAULT_ENHANCED = {
    "221": "2.0.0",
    "250": "2.0.0",
    "251": "2.1.5",
    "252": "2.5.0",
    "421": "4.3.2",
    "450": "4.0.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "534": "5.7.9",
    "535": "5.7.8",
    "538": "5.7.11",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.0.0",
    "555": "5.5.4",
}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


_last_refusal_log = 0.0


def _log_refusal(reply: str) -> None:
    """Connections refused at the cap are logged at most once every 10 s: a flood must not flood the log."""
    global _last_refusal_log
    now = time.monotonic()
    if now - _last_refusal_log >= 10.0:
        _last_refusal_log = now
        log.warning("smtp=connection-refused reply=%r (logged once per 10 s)", reply)


def with_enhanced_code(status: str) -> str:
    """`status` with an RFC 3463 code after the reply code when it has none (ENHANCEDSTATUSCODES, RFC 2034):
    the greeting, 354 and the EHLO lines are left as they are, as the RFC says."""
    code = status[:3]
    if len(status) < 4 or status[3] != " " or code not in _DEFAULT_ENHANCED or _HAS_ENHANCED.match(status):
        return status
    return f"{code} {_DEFAULT_ENHANCED[code]} {status[4:]}"


def _xtext_decode(value: str) -> str:
    """RFC 3461 xtext: `+XX` is the octet XX."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "+" and i + 2 < len(value) + 1:
            try:
                out.append(chr(int(value[i + 1 : i + 3], 16)))
                i += 3
                continue
            except ValueError:
                pass
        out.append(value[i])
        i += 1
    return "".join(out)


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _has_comment(arg: str) -> bool:
    """An RFC 5322 comment "(...)" outside quotes in the path of MAIL/RCPT, which RFC 5321 does not allow."""
    path = _QUOTED.sub("", arg).partition(">")[0]
    return "(" in path or ")" in path


def _split_params(arg: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """`arg` without the named ESMTP parameters, and their values (names upper-cased)."""
    kept, found = [], {}
    for word in arg.split(" "):
        key, sep, value = word.partition("=")
        if sep and key.upper() in names:
            found[key.upper()] = value
        else:
            kept.append(word)
    return " ".join(kept), found


class BridgeEnvelope(Envelope):
    """aiosmtpd's envelope plus what intake keeps: DSN parameters, the numbers, the spooled body."""

    def __init__(self) -> None:
        super().__init__()
        self.dsn = DsnParams()
        self.msisdns: list[MSISDN] = []
        self.spool_path: Path | None = None
        self.spool_size = 0
        self.content: bytes | None = None
        #: MAIL FROM:<> was accepted (mail_from is then "", which aiosmtpd takes for "no MAIL yet")
        self.null_sender = False


class BridgeSMTP(SMTP):
    """aiosmtpd's SMTP with chunked, spooled DATA and the DSN parameters."""

    # aiosmtpd sizes its StreamReader by this (1001), and the reader stops the socket whenever twice that waits
    # unread: every mail over 2 KB cost an epoll unregister and register, and a 1 MB mail hundreds. Command lines
    # are still held to `command_size_limits` after they are read; DATA lines to MAX_LINE by our own reader.
    line_length_limit = 64 * 1024

    def __init__(
        self,
        handler: Any,
        *,
        spool_dir: Path,
        limits: ConnectionLimits | None = None,
        password_checker: Any = None,
        **kwargs: Any,
    ) -> None:
        self._idle_deadline = 0.0
        self.password_checker = password_checker
        self._credentials: LoginPassword | None = None
        super().__init__(handler, **kwargs)
        self.spool_dir = spool_dir
        self.limits = limits or ConnectionLimits(max_connections=1 << 30, max_per_ip=1 << 30, max_memory_bytes=1 << 62)
        self._counted_ip: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None and self._original_transport is None:  # a new connection, not STARTTLS
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) else "local"
            refusal = self.limits.admit(ip)
            if refusal is not None:
                # answered and closed at once: no session, no task, no timer for it
                self._refused = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal.encode() + b"\r\n")
                transport.close()
                _log_refusal(refusal)
                return
            self._counted_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted_ip is not None:
            self.limits.leave(self._counted_ip)
            self._counted_ip = None
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else super().eof_received()

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd cancels and re-arms a timer at every command, which leaves a cancelled timer in the loop's heap
        # each time; one timer per connection that moves its deadline on when it fires does the same job
        self._idle_deadline = self.loop.time() + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is None or handle.cancelled() or handle.when() > self._idle_deadline:
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)

    def _idle_check(self) -> None:
        if self.loop.time() < self._idle_deadline:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)
        else:
            self._timeout_cb()  # type: ignore[no-untyped-call]

    async def push(self, status: Any) -> None:
        await super().push(with_enhanced_code(status) if isinstance(status, str) else status)

    # AUTH: aiosmtpd parses PLAIN and LOGIN and then calls its authenticator synchronously, on the event loop.
    # `_authenticate` only keeps the credentials it is handed; the auth_* methods then check them with the
    # asynchronous `password_checker` (bcrypt in threads, delays after failures).
    password_checker: Any = None

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        self._credentials = auth_data if isinstance(auth_data, LoginPassword) else None
        return AuthResult(success=False, handled=False)

    async def _checked(self, result: AuthResult) -> AuthResult:
        credentials, self._credentials = getattr(self, "_credentials", None), None
        if credentials is None or self.password_checker is None:
            return result
        peer = self.session.peer if self.session is not None else None
        ip = str(peer[0]) if isinstance(peer, tuple) else "local"
        ok = await self.password_checker.check(credentials.login, credentials.password, ip)
        log.info("auth user=%s result=%s", credentials.login.decode("utf-8", "replace"), "ok" if ok else "refused")
        if ok:
            return AuthResult(success=True, handled=False, auth_data=credentials)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every address with the email package's full RFC 5322 parser, a large share of the
        # CPU a small mail costs; plain <local@domain> takes this exact, cheap path, anything else the full one
        m = _PLAIN_ADDRESS.match(arg)
        if m is not None:
            return m.group(1), m.group(2).strip()
        result: tuple[str | None, str | None] = super()._getaddr(arg)
        return result

    def _create_envelope(self) -> BridgeEnvelope:
        return BridgeEnvelope()

    @property
    def _bridge_envelope(self) -> BridgeEnvelope | None:
        envelope = self.envelope
        assert envelope is None or isinstance(envelope, BridgeEnvelope)
        return envelope

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg and _CONTROL.search(arg):
            await self.push("501 5.1.7 Bad sender address syntax: control characters")
            return
        if arg and _has_comment(arg):
            await self.push("501 5.1.7 Bad sender address syntax: no comments in a path (RFC 5321 4.1.2)")
            return
        envelope = self._bridge_envelope
        if envelope is not None and envelope.null_sender:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        params: dict[str, str] = {}
        if arg and self.session is not None and self.session.extended_smtp:
            arg, params = _split_params(arg, ("RET", "ENVID"))
            ret = params.get("RET", "").upper()
            if ret and ret not in ("FULL", "HDRS"):
                await self.push("501 5.5.4 RET must be FULL or HDRS")
                return
        await super().smtp_MAIL(arg)
        envelope = self._bridge_envelope
        if envelope is not None and envelope.mail_from is not None:
            envelope.dsn.ret = params.get("RET", "").upper() or None
            envelope.dsn.envid = _xtext_decode(params["ENVID"]) if "ENVID" in params else None

    async def smtp_RCPT(self, arg: str | None) -> None:
        if arg and _CONTROL.search(arg):
            await self.push("501 5.1.3 Bad recipient address syntax: control characters")
            return
        if arg and _has_comment(arg):
            # the address parser would drop "(900)" as a comment and leave another number
            await self.push("501 5.1.3 Bad recipient address syntax: no comments in a path (RFC 5321 4.1.2)")
            return
        params: dict[str, str] = {}
        if arg and self.session is not None and self.session.extended_smtp:
            arg, params = _split_params(arg, ("NOTIFY", "ORCPT"))
            notify = frozenset(v for v in params.get("NOTIFY", "").upper().split(",") if v)
            if notify - {"NEVER", "SUCCESS", "FAILURE", "DELAY"} or ("NEVER" in notify and len(notify) > 1):
                await self.push("501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY")
                return
        envelope = self._bridge_envelope
        before = len(envelope.rcpt_tos) if envelope is not None else 0
        null = envelope is not None and envelope.null_sender and envelope.mail_from == ""
        if null:
            assert envelope is not None
            envelope.mail_from = "<>"  # aiosmtpd answers "503 need MAIL" to an empty mail_from
        try:
            await super().smtp_RCPT(arg)
        finally:
            if null:
                assert envelope is not None
                envelope.mail_from = ""
        if envelope is not None and len(envelope.rcpt_tos) > before:
            notify = frozenset(v for v in params.get("NOTIFY", "").upper().split(",") if v)
            orcpt = _xtext_decode(params["ORCPT"]) if "ORCPT" in params else None
            envelope.dsn.recipients.append((notify, orcpt))

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self._bridge_envelope
        assert envelope is not None
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # from here on the transaction counts as in flight: a graceful shutdown lets it finish
        self.event_handler.in_flight += 1
        try:
            await self._data_transaction(envelope)
        finally:
            self.event_handler.in_flight -= 1

    async def _data_transaction(self, envelope: BridgeEnvelope) -> None:
        path = self.spool_dir / f"{ids.token_hex(12)}.eml"
        try:
            problem, size, content = await self._receive_data(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if problem is not None:
            path.unlink(missing_ok=True)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(problem)
            return
        envelope.spool_path = None if content is not None else path
        envelope.content = content
        envelope.spool_size = size
        try:
            status = await self._call_handler_hook("DATA")
        except OSError as exc:
            log.error("smtp=data-failed error=%r", exc)
            status = SPOOL_FULL if getattr(exc, "errno", None) in _DISK_FULL else LOCAL_ERROR
        except Exception:
            # a bug of ours, not the client's: say "later", keep the session in step, keep the trace
            log.exception("smtp=data-failed")
            status = LOCAL_ERROR
        finally:
            if content is None:  # a small mail never reached the disk
                path.unlink(missing_ok=True)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    async def _receive_data(self, path: Path) -> tuple[str | None, int, bytes | None]:
        """Read until CRLF.CRLF; (an error reply or None, octets of the message, the message if it stayed in
        memory). A message over SPOOL_AFTER octets goes on to `path` instead of memory. Once a problem is
        found (too long, too big, the spool cannot be written) the rest is read and dropped up to the end mark,
        so that nothing of the body is ever taken for a command; what follows the end mark in the same read
        (pipelined commands) is handed back to the reader."""
        limit = self.data_size_limit
        fd: int | None = None
        held = bytearray()
        # `buf` always starts at a line start and holds a virtual CRLF before the first line, so that a
        # terminator or a stuffed dot is found by one search however the chunks fall.
        buf = bytearray(b"\r\n")
        size = 0
        problem: str | None = None
        try:
            while True:
                chunk = await self._reader.read(CHUNK)
                if not chunk:
                    raise ConnectionResetError("connection closed during DATA")
                buf += chunk
                end = buf.find(_END)
                if end >= 0:
                    cut = end
                else:
                    cut = buf.rfind(b"\r\n")
                    if cut <= 0:  # no complete line yet
                        if len(buf) > MAX_LINE + 2:
                            problem = problem or "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"
                            del buf[2 : len(buf) - 4]  # keep reading, but hold no more than a line's tail
                        continue
                lines = bytes(buf[:cut])
                del buf[:cut]
                if problem is None and lines:
                    if len(lines) > MAX_LINE and max(map(len, lines.split(b"\r\n"))) > MAX_LINE - 2:
                        problem = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"
                    out = lines.replace(b"\r\n..", b"\r\n.")[2:] + b"\r\n"
                    size += len(out)
                    if limit and size > limit:
                        problem = f"552 5.3.4 Message too big: over {limit} octets"
                    elif (
                        fd is None
                        and size <= SPOOL_AFTER
                        and self.limits.memory_bytes + len(out) <= self.limits.max_memory_bytes
                    ):
                        held += out
                        self.limits.memory_bytes += len(out)
                    else:
                        try:
                            if fd is None:
                                self.spool_dir.mkdir(parents=True, exist_ok=True)
                                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                                out = bytes(held) + out
                                self.limits.memory_bytes -= len(held)
                                held.clear()
                            view = memoryview(out)
                            while view:
                                view = view[os.write(fd, view) :]
                        except OSError as exc:
                            log.error("smtp=spool-failed error=%r", exc)
                            problem = SPOOL_FULL if exc.errno in _DISK_FULL else LOCAL_ERROR
                if problem is not None:
                    self.limits.memory_bytes -= len(held)
                    held.clear()
                if end >= 0:
                    rest = bytes(buf[len(_END) :])
                    if rest:
                        self._unread(rest)
                    return problem, size, (bytes(held) if fd is None else None)
        finally:
            # the mail now belongs to the handler (a small one) or the spool file: it counts no more
            self.limits.memory_bytes -= len(held)
            if fd is not None:
                os.close(fd)

    def _unread(self, data: bytes) -> None:
        """Put `data` back in front of what the reader holds: commands that came in the same read as the end
        of data. asyncio's StreamReader has no unread; its buffer is a bytearray read from the front."""
        buffer: bytearray = getattr(self._reader, "_buffer")  # noqa: B009
        buffer[:0] = data


class BridgeLMTP(BridgeSMTP):
    """LMTP (RFC 2033) for running behind Postfix or Dovecot: LHLO instead of EHLO, and after DATA one reply
    per accepted recipient (the handler's single verdict applies to each, as one message is one commit)."""

    show_smtp_greeting = False

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg: str) -> None:
        await self.push('500 5.5.1 Error: command "HELO" not recognized')

    async def smtp_EHLO(self, arg: str) -> None:
        await self.push('500 5.5.1 Error: command "EHLO" not recognized')

    async def push(self, status: Any) -> None:
        # DATA's verdict (and only DATA's) is repeated once per recipient
        count = getattr(self, "_lmtp_replies", 0)
        if count and isinstance(status, str):
            self._lmtp_replies = 0
            status = "\r\n".join([status] * count)
        await super().push(status)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        status = await super()._call_handler_hook(command, *args)
        if command == "DATA":
            envelope = self._bridge_envelope
            self._lmtp_replies = max(1, len(envelope.rcpt_tos) if envelope is not None else 1)
        return status
