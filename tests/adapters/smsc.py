"""An SMSC on loopback for the ESME tests: PyPI smpp34's `Server` (nobody here wrote it), driven by a small loop of
ours that records every submit_sm and answers it as the test's `policy` says; and a TCP relay that records the
bytes our ESME sends, for tshark."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import smpp34

#: what the SMSC does with a submit_sm: accept it ("" ), reject it with a command_status (int), or hold it unanswered
#: until the test releases it (None)
Decision = str | int | None


def free_port() -> int:
    # smpp34's Server cannot report the port it bound, so the port is found first (loopback only)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SMSC:
    port: int
    policy: Callable[[smpp34.SubmitSmEvent], Decision] = lambda ev: ""
    receipts: bool = False
    submits: list[smpp34.SubmitSmEvent] = field(default_factory=list)
    held: list[smpp34.SubmitSmEvent] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    sessions: dict[str, smpp34.Esme] = field(default_factory=dict)
    accepted: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _server: smpp34.Server | None = None

    async def start(self) -> None:
        self._server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMSCSIM")
        await self._server.start()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            await self._server.stop()
        self._server = None

    def release(self) -> None:
        held, self.held = self.held, []
        for ev in held:
            self._accept(ev)

    def _accept(self, ev: smpp34.SubmitSmEvent) -> None:
        self.accepted += 1
        message_id = f"sim-{self.accepted}"
        ev.accept(message_id=message_id)
        if self.receipts and ev.registered_delivery & 1 and ev.session_id in self.sessions:
            self._tasks.add(asyncio.create_task(self._receipt(ev, message_id)))

    async def _receipt(self, ev: smpp34.SubmitSmEvent, message_id: str) -> None:
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611270812 done date:2611270812 stat:DELIVRD err:000"
        await self.sessions[ev.session_id].deliver_sm(
            ev.source_addr,
            text.encode() + b" text:",
            source_addr=ev.destination_addr,
            esm_class=0x04,
            tlvs=[
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02"),
            ],
        )

    async def _loop(self) -> None:
        assert self._server is not None
        while True:
            ev = await self._server.next()
            if isinstance(ev, smpp34.Esme):
                self.binds.append(ev.system_id)
                self.sessions[ev.session_id] = ev
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self.submits.append(ev)
                decision = self.policy(ev)
                if decision is None:
                    self.held.append(ev)
                elif isinstance(decision, int):
                    ev.reject(command_status=decision)
                else:
                    self._accept(ev)


@contextlib.asynccontextmanager
async def smsc(**kwargs: object) -> AsyncIterator[SMSC]:
    sim = SMSC(port=free_port(), **kwargs)  # type: ignore[arg-type]
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@dataclass
class Relay:
    """A TCP relay on 127.0.0.1 port 0 in front of the SMSC, keeping what the client sent, per connection."""

    target: int
    sent: list[bytearray] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _conns: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> None:
        """Listen (again, on the same port after `stop`)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        record = bytearray()
        self.sent.append(record)
        self._conns += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bytearray | None) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if keep is not None:
                        keep += data
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer, record), pump(up_reader, writer, None))

    def cut(self) -> None:
        """Drop every connection at once, as a failing network would."""
        for w in self._conns:
            w.transport.abort()
        self._conns.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
