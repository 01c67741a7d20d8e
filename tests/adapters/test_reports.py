"""Bounces through a real SMTP relay (an aiosmtpd sink on loopback), read back by flufl.bounce."""

from __future__ import annotations

import asyncio
import email
import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flufl.bounce import all_failures

from bridge.adapters.mail.relay import RelayMailSender
from bridge.errors import PermanentFailure
from bridge.model import JobState
from tests.test_worker import RCPT, Scripted, setup


class Sink:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relay(port: int) -> RelayMailSender:
    return RelayMailSender(host="127.0.0.1", port=port, timeout_s=5, starttls=False, helo="bridge.test")


def test_a_bounce_goes_through_the_relay_from_the_null_sender(tmp_path: Path) -> None:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:

        async def go() -> None:
            store, worker, _ = await setup(tmp_path, Scripted(PermanentFailure("unknown subscriber", "5.1.1")))
            worker.mailer = relay(controller.port)
            await worker.run_once()
            assert (await store.get("m1-0")).state is JobState.FAILED  # type: ignore[union-attr]
            await store.close()

        asyncio.run(go())
    finally:
        controller.stop()
    [(mail_from, rcpts, data)] = sink.received
    assert mail_from in ("", "<>") and rcpts == ["camera@example.org"]
    temporary, permanent = all_failures(email.message_from_bytes(data))
    assert permanent == {RCPT.encode()} and not temporary


def test_a_relay_that_is_down_leaves_the_job_to_be_decided_again(tmp_path: Path) -> None:
    async def go() -> None:
        store, worker, clock = await setup(tmp_path, Scripted(PermanentFailure("no", "5.1.1")))
        worker.mailer = relay(free_port())  # nothing listens there
        await worker.run_once()
        job = await store.get("m1-0")
        assert job is not None and job.state is JobState.LEASED  # not final, report not lost
        clock.now += 61  # the lease runs out; the job is decided again
        assert [j.id for j in await store.lease(owner="w2", now=clock.now, lease_s=60, limit=5)] == ["m1-0"]
        await store.close()

    asyncio.run(go())
