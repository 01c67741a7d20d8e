"""WAP Pushes over SMPP 3.4: an ESME that keeps one session to the SMSC and submits each SMS as binary data.

The wire rules are `bridge.codec.smpp.SMPPConnection`'s; this module owns the socket and the time: connecting
with a timeout, bind_transceiver (or bind_transmitter), enquire_link every `enquire_link_s`, a window of at most
`window` submit_sm awaiting their response, at most `max_per_second` submits, reconnecting with exponential
backoff when the connection drops or the bind fails. Each SMS goes as submit_sm with esm_class 0x40 (UDHI),
the configured data_coding (0x04 8-bit data, or 0xF5), and registered_delivery 1 when receipts are asked for;
receipts (deliver_sm) are answered and logged.

Failures reach the worker as the delivery errors it knows: a submit_sm error about the message or its recipient
(`PERMANENT_SUBMIT_ERRORS`) is a `PermanentFailure`; throttling and a full queue (ESME_RTHROTTLED,
ESME_RMSGQFUL) pause all submits for `throttle_pause_s` and are a `TemporaryFailure`, like every other error,
a timeout or a lost connection. Nothing is lost: the job stays queued and is notified again on its schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from bridge.adapters.sms.mo import MOAssembler, MOText
from bridge.codec.smpp import (
    BACKOFF_SUBMIT_ERRORS,
    ESM_UDHI,
    Bind,
    BindState,
    CommandId,
    CommandStatus,
    MessageIdResp,
    Pdu,
    Receipt,
    ShortMessage,
    SMPPConnection,
    parse_receipt,
    status_name,
    submit_verdict,
)
from bridge.codec.sms_text import DataCoding, encode_gsm7, gsm7_septets
from bridge.config import SMPPSettings
from bridge.errors import BridgeError, DecodeError, TemporaryFailure, Verdict, failure
from bridge.model import MSISDN

log = logging.getLogger("bridge.smpp")


class SMPPPushSender:
    """The `PushSender` for `sms.kind = "smpp"`. `start()` begins connecting; `close()` unbinds."""

    push_overhead = 0

    def __init__(
        self,
        settings: SMPPSettings,
        *,
        on_receipt: Callable[[Receipt], None] | None = None,
        on_message: Callable[[MOText], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.on_receipt = on_receipt
        self.on_message = on_message
        self.mo = MOAssembler()
        self._tasks: set[asyncio.Task[None]] = set()
        self.clock = clock
        self._conn = SMPPConnection()
        self._writer: asyncio.StreamWriter | None = None
        self._bound = asyncio.Event()
        self._window = asyncio.Semaphore(settings.window)
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._next_slot = 0.0
        self._rate_lock = asyncio.Lock()
        self._paused_until = 0.0
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self.connects = 0
        self.last_error: str | None = None

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    @property
    def in_flight(self) -> int:
        """submit_sm sent and not answered yet: the window in use."""
        return len(self._pending)

    async def ready(self) -> str | None:
        return None if self.bound else f"SMPP not bound ({self.last_error or 'connecting'})"

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None and self._conn.state in (BindState.BOUND_TX, BindState.BOUND_TRX):
            with contextlib.suppress(Exception):
                _, data = self._conn.send_unbind()
                self._writer.write(data)
                await asyncio.wait_for(self._writer.drain(), 2)
                await asyncio.sleep(0.05)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._drop("closed")

    # --- the session --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.settings.reconnect_min_s
        while not self._closing:
            try:
                await self._session()
                delay = self.settings.reconnect_min_s
            except (TimeoutError, OSError, DecodeError, ConnectionError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._closing:
                    return
                log.warning(
                    "smpp host=%s:%d error=%r retry_in=%.1fs", self.settings.host, self.settings.port, exc, delay
                )
            self._drop("connection lost")
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _session(self) -> None:
        s = self.settings
        reader, writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port), s.connect_timeout_s)
        self._writer, self._conn = writer, SMPPConnection()
        self.connects += 1
        try:
            command = CommandId.BIND_TRANSCEIVER if s.bind == "transceiver" else CommandId.BIND_TRANSMITTER
            seq, data = self._conn.send_bind(
                Bind(command_id=command, system_id=s.system_id, password=s.password, system_type=s.system_type)
            )
            writer.write(data)
            pdu = await asyncio.wait_for(self._read_until(reader, seq), s.response_timeout_s)
            if pdu.command_status != CommandStatus.ESME_ROK:
                raise ConnectionError(f"bind refused: {status_name(pdu.command_status)}")
            log.info("smpp bound host=%s:%d system_id=%s mode=%s", s.host, s.port, s.system_id, s.bind)
            self.last_error = None
            self._bound.set()
            keepalive = asyncio.create_task(self._keepalive(writer))
            try:
                while True:
                    while (event := self._conn.next_event()) is not None:
                        self._handle(event, writer)
                    if self._conn.state is BindState.CLOSED:
                        raise ConnectionError("the SMSC unbound")
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("the SMSC closed the connection")
                    self._conn.receive_data(data)
            finally:
                keepalive.cancel()
        finally:
            self._bound.clear()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_until(self, reader: asyncio.StreamReader, seq: int) -> Pdu:
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the SMSC closed the connection during bind")
            self._conn.receive_data(data)
            while (event := self._conn.next_event()) is not None:
                if event.sequence_number == seq:
                    return event

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.settings.enquire_link_s)
            seq, data = self._conn.send_enquire_link()
            future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
            self._pending[seq] = future
            writer.write(data)
            try:
                await asyncio.wait_for(future, self.settings.response_timeout_s)
            except TimeoutError:
                log.warning("smpp enquire_link unanswered: reconnecting")
                writer.transport.abort()
                return
            finally:
                self._pending.pop(seq, None)

    def _handle(self, pdu: Pdu, writer: asyncio.StreamWriter) -> None:
        if pdu.command_id.is_response:
            future = self._pending.pop(pdu.sequence_number, None)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        if pdu.command_id is CommandId.DELIVER_SM:
            assert isinstance(pdu.body, ShortMessage)
            receipt = parse_receipt(pdu.body)
            if receipt is not None:
                log.info("smpp receipt message_id=%s stat=%s err=%s", receipt.message_id, receipt.state, receipt.error)
                if self.on_receipt is not None:
                    self.on_receipt(receipt)
            elif self.on_message is not None:
                # a phone's message: answered once it was taken (a mail sent), so that the SMSC keeps and
                # offers again what could not be taken now
                task = asyncio.get_running_loop().create_task(self._mo(pdu, writer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
        writer.write(self._conn.send_response(pdu))

    async def _mo(self, pdu: Pdu, writer: asyncio.StreamWriter) -> None:
        assert isinstance(pdu.body, ShortMessage) and self.on_message is not None
        status = CommandStatus.ESME_ROK
        try:
            text = self.mo.take(pdu.body)
            if text is not None:
                await self.on_message(text)
        except DecodeError as exc:
            log.warning("smpp mo=unreadable error=%s", exc)
            status = CommandStatus.ESME_RX_P_APPN  # permanent: the SMSC should not offer it again
        except BridgeError as exc:
            log.warning("smpp mo=not-taken error=%r (the SMSC offers it again)", exc)
            status = CommandStatus.ESME_RX_T_APPN
        if not writer.is_closing():
            writer.write(self._conn.send_response(pdu, status))

    def _time_out(self, seq: int) -> None:
        future = self._pending.pop(seq, None)
        self._conn.forget(seq)
        if future is not None and not future.done():
            timeout = self.settings.response_timeout_s
            future.set_exception(TemporaryFailure(f"SMSC did not answer submit_sm in {timeout:g}s", "4.4.2"))

    def _drop(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TemporaryFailure(f"SMSC {why} before it answered", "4.4.2"))
        self._pending.clear()

    # --- sending ------------------------------------------------------------------------------------------------

    async def _pace(self) -> None:
        """At most `max_per_second` submits, and none while the SMSC asked us to slow down."""
        async with self._rate_lock:
            now = self.clock()
            at = max(now, self._next_slot, self._paused_until)
            self._next_slot = at + 1.0 / self.settings.max_per_second
            if at > now:
                await asyncio.sleep(at - now)

    async def send(self, *, to: MSISDN, user_data: Sequence[bytes], pdu: bytes = b"") -> str | None:
        await self._bound_now()
        if len(user_data) == 1:
            return await self._submit(to, user_data[0])
        # all segments at once within the window: their responses come back in any order
        ids = await asyncio.gather(*(self._submit(to, ud) for ud in user_data))
        return ",".join(ids)

    async def send_text(self, *, to: MSISDN, text: str) -> str | None:
        await self._bound_now()
        if gsm7_septets(text) is not None:
            return await self._submit(to, encode_gsm7(text), esm_class=0, data_coding=DataCoding.DEFAULT)
        return await self._submit(to, text.encode("utf-16-be"), esm_class=0, data_coding=DataCoding.UCS2)

    async def _bound_now(self) -> None:
        s = self.settings
        if self._runner is None:
            await self.start()
        if not self._bound.is_set():
            try:
                await asyncio.wait_for(self._bound.wait(), s.connect_timeout_s)
            except TimeoutError:
                why = self.last_error or "not bound"
                raise TemporaryFailure(f"no SMPP session to {s.host}:{s.port} ({why})", "4.4.1") from None

    async def _submit(self, to: MSISDN, ud: bytes, *, esm_class: int = ESM_UDHI, data_coding: int | None = None) -> str:
        s = self.settings
        async with self._window:
            await self._pace()
            writer = self._writer
            if writer is None or not self._conn.can_submit:
                raise TemporaryFailure(f"SMPP session to {s.host}:{s.port} lost", "4.4.2")
            seq, data = self._conn.send_submit(
                ShortMessage(
                    command_id=CommandId.SUBMIT_SM,
                    source_addr_ton=s.source_addr_ton,
                    source_addr_npi=s.source_addr_npi,
                    source_addr=s.source_addr,
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=to.e164.removeprefix("+"),
                    esm_class=esm_class,
                    data_coding=s.data_coding if data_coding is None else data_coding,
                    registered_delivery=1 if s.registered_delivery else 0,
                    short_message=ud,
                )
            )
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Pdu] = loop.create_future()
            self._pending[seq] = future
            writer.write(data)
            # a timer rather than wait_for: no task per submit_sm
            timer = loop.call_later(s.response_timeout_s, self._time_out, seq)
            try:
                pdu = await future
            finally:
                timer.cancel()
        status = pdu.command_status
        if status == CommandStatus.ESME_ROK and pdu.command_id is CommandId.SUBMIT_SM_RESP:
            assert isinstance(pdu.body, MessageIdResp)
            return pdu.body.message_id
        name = status_name(status) if pdu.command_id is not CommandId.GENERIC_NACK else "generic_nack"
        if status in BACKOFF_SUBMIT_ERRORS:
            self._paused_until = max(self._paused_until, self.clock() + s.throttle_pause_s)
        verdict, code = submit_verdict(status)
        if pdu.command_id is CommandId.GENERIC_NACK and verdict is Verdict.SUCCESS:
            verdict, code = Verdict.TEMPORARY, "4.4.2"
        refused = (
            "refused the notification SMS" if verdict is Verdict.PERMANENT else "refused the notification SMS for now"
        )
        raise failure(verdict, f"SMSC {refused}: {name}", code)
