"""Metrics and health on the admin listener (issue 14): `/metrics` read with prometheus-client's own text parser
after a scripted set of mails — each counter moves by exactly what happened; `/readyz` not ready while the SMSC or
the MMSC peer is away and ready when it returns; `/healthz`; no phone number in any metric."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import aiosmtplib
import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bridge.app import Bridge
from bridge.config import AdminConfig, Config
from bridge.model import JobState
from bridge.phone import Answer, Phone
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, builtin_config, route_config, running
from tests.adapters.smsc import SMSC, Relay, free_port
from tests.adapters.test_smpp import sms_config
from tests.convert.helpers import mail

ADMIN = AdminConfig(enabled=True, host="127.0.0.1", port=0)


def with_admin(config: Config) -> Config:
    return dataclasses.replace(config, admin=ADMIN)


async def samples(bridge: Bridge) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        got = await http.get(f"http://127.0.0.1:{bridge.admin_port}/metrics")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain; version=")
    assert "4567" not in got.text and "4568" not in got.text and "camera@" not in got.text
    found = {}
    for family in text_string_to_metric_families(got.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def send(port: int, raw: bytes, *numbers: str) -> tuple[int, str]:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo()
    await c.mail("camera@example.org")
    for number in numbers:
        code, message = await c.execute_command(f"RCPT TO:<{number}@{DOMAIN}>".encode())
    try:
        code, message = await c.data(raw)
    except aiosmtplib.SMTPResponseException as exc:
        code, message = exc.code, exc.message
    await c.quit()
    return code, message


async def state_of(bridge: Bridge, state: JobState, count: int) -> None:
    for _ in range(300):
        if len(await bridge.store.list(state=state)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {count} {state}")


def test_metrics_count_exactly_what_happened(tmp_path: Path) -> None:
    async def go() -> None:
        async with running(with_admin(builtin_config(tmp_path))) as bridge:
            assert bridge.port is not None and bridge.admin_port is not None
            before = await samples(bridge)
            assert before[("bridge_mails_accepted_total", ())] == 0
            # two mails accepted (one of them for a number that does not exist: refused at RCPT, 5.1.1)
            assert (await send(bridge.port, mail("Door", subject="Motion"), "12015554567", "12"))[0] == 250
            assert (await send(bridge.port, mail("Back door", subject="Motion 2"), "12015554568"))[0] == 250
            # one refused by the conversion: nothing in it can be sent (5.6.1)
            clip = mail(None, subject="", attachments=[(b"RIFF....AVI LIST", "video/x-msvideo", "clip.avi")])
            assert (await send(bridge.port, clip, "12015554567"))[0] == 554
            await state_of(bridge, JobState.NOTIFIED, 2)
            # the first phone fetches and acknowledges, the second rejects
            fetched = Phone(outbox=tmp_path / "sms", inbox=tmp_path / "p1", answer=Answer.ACKNOWLEDGE,
                            numbers=frozenset({"+12015554567"}))  # fmt: skip
            rejected = Phone(outbox=tmp_path / "sms", inbox=tmp_path / "p2", answer=Answer.REJECT,
                             numbers=frozenset({"+12015554568"}))  # fmt: skip
            await asyncio.to_thread(fetched.poll)
            await asyncio.to_thread(rejected.poll)
            await state_of(bridge, JobState.DELIVERED, 1)
            await state_of(bridge, JobState.FAILED, 1)
            for _ in range(100):  # the failure DSN goes out with the transition
                if list((tmp_path / "outbox").glob("*.eml")):
                    break
                await asyncio.sleep(0.05)
            after = await samples(bridge)

        def moved(name: str, **labels: str) -> float:
            key = (name, tuple(sorted(labels.items())))
            return after.get(key, 0.0) - before.get(key, 0.0)

        assert moved("bridge_mails_accepted_total") == 2
        assert moved("bridge_mails_refused_total", status="5.1.1") == 1
        assert moved("bridge_mails_refused_total", status="5.6.1") == 1
        assert moved("bridge_conversion_seconds_count") == 3
        assert moved("bridge_notifications_total", transport="outbox", result="sent") == 2
        assert moved("bridge_deliveries_total", route="builtin", outcome="pending") == 2
        assert moved("bridge_job_transitions_total", state="notified") == 2
        assert moved("bridge_job_transitions_total", state="delivered") == 1
        assert moved("bridge_job_transitions_total", state="failed") == 1
        assert moved("bridge_handset_answers_total", answer="fetched") == 1
        assert moved("bridge_handset_answers_total", answer="acknowledged") == 1
        assert moved("bridge_handset_answers_total", answer="rejected") == 1
        assert moved("bridge_reports_sent_total", kind="dsn-failed") == 1
        assert moved("bridge_queued_to_notified_seconds_count") == 2
        assert moved("bridge_notified_to_fetched_seconds_count") == 1
        assert moved("bridge_end_to_end_seconds_count") == 1
        assert after[("bridge_jobs", (("state", "delivered"),))] == 1
        assert after[("bridge_jobs", (("state", "failed"),))] == 1
        assert after[("bridge_jobs", (("state", "queued"),))] == 0
        assert after[("bridge_store_commit_seconds_count", ())] > before[("bridge_store_commit_seconds_count", ())]

    asyncio.run(go())


async def readyz(bridge: Bridge) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient() as http:
        got = await http.get(f"http://127.0.0.1:{bridge.admin_port}/readyz")
    return got.status_code, got.json()


async def until_ready(bridge: Bridge, ready: bool) -> dict[str, object]:
    for _ in range(200):
        code, body = await readyz(bridge)
        if (code == 200) is ready:
            assert body["ready"] is ready
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never became {'ready' if ready else 'not ready'}: {body}")


def test_readyz_follows_the_smsc_away_and_back(tmp_path: Path) -> None:
    async def go() -> None:
        sim = SMSC(port=free_port())
        await sim.start()
        # the network between the bridge and the SMSC: cut, and closed to new connections, then open again
        relay = Relay(target=sim.port)
        await relay.start()
        config = with_admin(builtin_config(tmp_path, sms=sms_config(relay.port, enquire_link_s=0.5)))
        try:
            async with running(config) as bridge:
                async with httpx.AsyncClient() as http:
                    health = await http.get(f"http://127.0.0.1:{bridge.admin_port}/healthz")
                assert health.status_code == 200 and health.json() == {"status": "ok"}
                body = await until_ready(bridge, True)
                assert body["checks"] == {"route builtin": {"ready": True}, "store": {"ready": True}}
                await relay.stop()
                body = await until_ready(bridge, False)
                route = body["checks"]["route builtin"]  # type: ignore[index]
                assert route["ready"] is False and "SMPP not bound" in route["reason"]
                assert body["checks"]["store"] == {"ready": True}  # type: ignore[index]
                await relay.start()
                await until_ready(bridge, True)
        finally:
            await relay.stop()
            await sim.stop()

    asyncio.run(go())


def test_readyz_follows_the_mmsc_away_and_back(tmp_path: Path) -> None:
    async def go() -> None:
        port = free_port()

        async def mmsc_up() -> web.AppRunner:
            runner = web.AppRunner(web.Application())
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            return runner

        base = bridge_config(tmp_path)
        config = with_admin(
            dataclasses.replace(base, routes=(route_config(kind="eaif", url=f"http://127.0.0.1:{port}/eaif"),))
        )
        async with running(config) as bridge:
            body = await until_ready(bridge, False)  # nothing listens yet
            assert "unreachable" in body["checks"]["route eaif"]["reason"]  # type: ignore[index]
            mmsc = await mmsc_up()
            await until_ready(bridge, True)
            await mmsc.cleanup()
            await until_ready(bridge, False)

    asyncio.run(go())


def _serve_and_send(tmp: Path, log_table: str) -> list[str]:
    import smtplib

    from tests.serving import served

    config = (
        f'[log]\n{log_table}\n[smtp]\nport = 0\ndomains = ["{DOMAIN}"]\nspool_dir = "{tmp}/spool"\n'
        f'[store]\nurl = "sqlite:///{tmp}/b.db"\n[route]\nkind = "builtin"\n[mmsc]\nport = 0\n'
        f'[sms]\noutbox = "{tmp}/sms"\n[reports]\noutbox = "{tmp}/o"\n'
    )
    with served(tmp, config) as bridge:
        with smtplib.SMTP("127.0.0.1", bridge.smtp_port, timeout=30) as client:
            client.sendmail("camera@example.org", [f"12015554567@{DOMAIN}"], mail("Door", subject="Motion"))
        for _ in range(200):
            if list((tmp / "sms").glob("*.ud")):
                break
            import time

            time.sleep(0.05)
    return bridge.log.splitlines()


def test_json_logs_carry_the_same_keys_one_object_a_line(tmp_path: Path) -> None:
    import json

    lines = _serve_and_send(tmp_path, 'format = "json"')
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "event"} <= set(e) for e in events)
    [queued] = [e for e in events if e.get("state") == "queued"]
    assert queued["logger"] == "bridge.intake" and queued["recipients"] == "1"
    [notified] = [e for e in events if e.get("state") == "notified"]
    assert notified["job"] == f"{queued['message']}-0" and notified["logger"] == "bridge.worker"
    assert notified["to"] != "+12015554567" and notified["to"].endswith("4567")


def test_show_phone_numbers_applies_to_every_log_line(tmp_path: Path) -> None:
    (tmp_path / "masked").mkdir()
    (tmp_path / "shown").mkdir()
    masked = _serve_and_send(tmp_path / "masked", "show_phone_numbers = false")
    shown = _serve_and_send(tmp_path / "shown", "show_phone_numbers = true")
    assert not any("+12015554567" in line for line in masked)
    assert any("state=notified to=+12015554567" in line for line in shown), shown
