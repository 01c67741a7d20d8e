"""The HTTP API through real HTTP (httpx against the running bridge), every request and answer validated against
the OpenAPI document kept in the repository (openapi-core), which itself passes openapi-spec-validator: each body
type, each refusal with its RFC 3463 code, idempotency, paging, scopes, revoked keys, rate limits, cancelling."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from bridge.adapters.web.api import OPENAPI
from bridge.app import Bridge
from bridge.app.keys import new_key
from bridge.config import AdminConfig
from tests.adapters.bridge_fixture import both_stores, builtin_config, running
from tests.convert.helpers import mail, photo

SPEC = json.loads(OPENAPI.read_text())
# problem details are JSON (RFC 9457): read them as such
CHECK = OpenAPI.from_dict(SPEC, config=Config(extra_media_type_deserializers={"application/problem+json": json.loads}))


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


class Client:
    """httpx, with each request and its answer checked against the OpenAPI document."""

    def __init__(self, base: str, key: str | None) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=60)
        self.key = key

    async def call(
        self, method: str, path: str, *, key: str | None = "default", wrong: bool = False, **kw: object
    ) -> httpx.Response:
        """`wrong`: the request breaks the document on purpose (no key, a type it does not take); only the
        answer is checked then."""
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        secret = self.key if key == "default" else key
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        response = await self.http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        self.check(response, check_request=not wrong)
        return response

    async def post(self, body: dict[str, object], **kw: object) -> httpx.Response:
        return await self.call("POST", "/api/v1/messages", json=body, **kw)

    def check(self, response: httpx.Response, *, check_request: bool = True) -> None:
        request = response.request
        url = urlsplit(str(request.url))
        content_type = request.headers.get("content-type", "").split(";")[0]
        mock = MockRequest(
            self.base, request.method.lower(), url.path,
            args=dict(httpx.QueryParams(url.query).multi_items()) if url.query else None,
            headers=dict(request.headers),
            # a request wrong on purpose is not read again when its answer is checked
            data=request.content if check_request and content_type != "multipart/form-data" else None,
            content_type=content_type or "application/json",
        )  # fmt: skip
        if check_request and content_type != "multipart/form-data" and not url.query:
            CHECK.validate_request(mock)
        answer = MockResponse(
            response.content, status_code=response.status_code, headers=dict(response.headers),
            content_type=response.headers.get("content-type", "").split(";")[0],
        )  # fmt: skip
        CHECK.validate_response(mock, answer)


def with_api(tmp: Path, body: Callable[[Bridge, Client, dict[str, str]], Awaitable[None]]) -> None:
    async def go() -> None:
        config = dataclasses.replace(builtin_config(tmp), admin=AdminConfig(enabled=True, port=0))
        async with running(config) as bridge:
            keys: dict[str, str] = {}
            for name, scopes, rate in (("sender", ["send", "read"], 0), ("reader", ["read"], 0), ("slow", ["send"], 1)):
                key, secret = new_key(name=name, scopes=scopes, rate_per_minute=rate)
                await bridge.store.add_key(key)
                keys[name] = secret
                keys[f"{name}-id"] = key.id
            client = Client(f"http://127.0.0.1:{bridge.admin_port}", keys["sender"])
            try:
                await body(bridge, client, keys)
            finally:
                await client.http.aclose()

    asyncio.run(go())


def test_send_read_page_and_cancel(tmp_path: Path) -> None:
    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        sent = await api.post({"to": ["+12015554567", "12015554568"], "subject": "Disk", "text": "db-1 at 91 %"})
        assert sent.status_code == 202, sent.text
        accepted = sent.json()
        assert [j["to"] for j in accepted["jobs"]] == ["+12015554567", "+12015554568"]
        # a photo as a form's file, and a whole mail
        form = await api.call("POST", "/api/v1/messages", data={"to": "12015554567", "subject": "Door"},
                              files={"files": ("door.jpg", photo(800, 600), "image/jpeg")})  # fmt: skip
        assert form.status_code == 202, form.text
        whole = await api.call("POST", "/api/v1/messages?to=12015554569&from=ops@example.org",
                               content=mail("From the mail", subject="Raw"),
                               headers={"Content-Type": "message/rfc822"})  # fmt: skip
        assert whole.status_code == 202, whole.text
        media = base64.b64encode(photo(320, 240)).decode()
        picture = {"filename": "a.jpg", "content_type": "image/jpeg", "content": media}
        with_media = await api.post({"to": ["12015554567"], "text": "see", "media": [picture]})
        assert with_media.status_code == 202
        for _ in range(200):
            shown = (await api.call("GET", f"/api/v1/messages/{accepted['id']}")).json()
            if all(r["state"] == "notified" for r in shown["recipients"]):
                break
            await asyncio.sleep(0.05)
        assert [r["state"] for r in shown["recipients"]] == ["notified", "notified"]
        assert shown["subject"] == "Disk" and shown["mms_bytes"] > 0
        assert shown["recipients"][0]["timeline"][0]["what"].startswith("accepted (250)")
        photo_message = (await api.call("GET", f"/api/v1/messages/{form.json()['id']}")).json()
        assert photo_message["mms_bytes"] > 10_000  # the picture is in the MMS
        # paging: one job a page, newest first, every job once
        seen, cursor = [], None
        while True:
            page = (await api.call("GET", "/api/v1/messages?limit=1" + (f"&cursor={cursor}" if cursor else ""))).json()
            seen += [j["id"] for j in page["jobs"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 5
        assert len((await api.call("GET", "/api/v1/messages?state=notified")).json()["jobs"]) >= 2
        # cancel: what was not final ends failed
        cancelled = await api.call("DELETE", f"/api/v1/messages/{accepted['id']}")
        assert cancelled.status_code == 200
        assert {r["state"] for r in cancelled.json()["recipients"]} == {"failed"}
        assert (await api.call("GET", "/api/v1/messages/nope")).status_code == 404
        served = await api.call("GET", "/api/openapi.json", key=None)  # the document needs no key
        assert served.json() == SPEC

    with_api(tmp_path, body)


def test_refusals_are_problem_details_with_the_smtp_codes(tmp_path: Path) -> None:
    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        async def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            found = response.json()
            assert found.get("code") == code, found
            return found  # type: ignore[no-any-return]

        await problem(await api.call("POST", "/api/v1/messages", key=None, wrong=True, json={"to": ["1"]}), 401)
        await problem(await api.call("POST", "/api/v1/messages", key="mbk_nope", json={"to": ["1"]}), 401)
        await problem(await api.call("POST", "/api/v1/messages", key=keys["reader"], json={"to": ["1"]}), 403)
        bad_number = await api.call("POST", "/api/v1/messages", json={"to": ["12"], "text": "x"})
        assert "12:" in (await problem(bad_number, 422, "5.1.1"))["detail"]  # type: ignore[operator]
        clip = base64.b64encode(b"RIFF....AVI LIST").decode()
        nothing = await api.post(
            {"to": ["12015554567"], "media": [{"content": clip, "content_type": "video/x-msvideo"}]}
        )
        await problem(nothing, 422, "5.6.1")
        json_type, text_type = {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}
        await problem(await api.call("POST", "/api/v1/messages", content=b"{", headers=json_type, wrong=True), 400)
        await problem(await api.call("POST", "/api/v1/messages", content=b"x", headers=text_type, wrong=True), 415)
        await problem(await api.post({"to": ["12015554567"], "subject": "a\r\nBcc: x"}), 400)
        await problem(await api.post({"to": []}, wrong=True), 400)
        # revoked: refused like an unknown key
        await bridge.store.revoke_key(keys["reader-id"], now=1.0)
        # each bridge keeps a key's lookup for KEY_CACHE_S: the revocation holds everywhere within that
        for _ in range(80):
            revoked = await api.call("GET", "/api/v1/messages", key=keys["reader"])
            if revoked.status_code == 401:
                break
            await asyncio.sleep(0.1)
        await problem(revoked, 401)
        # over the key's rate: 429 with Retry-After
        slow = {"to": ["12015554567"], "text": "one"}
        assert (await api.call("POST", "/api/v1/messages", key=keys["slow"], json=slow)).status_code == 202
        limited = await api.call("POST", "/api/v1/messages", key=keys["slow"], json=slow)
        await problem(limited, 429)
        assert limited.headers["retry-after"] == "60"

    with_api(tmp_path, body)


def test_a_retried_post_with_the_same_idempotency_key_sends_once(tmp_path: Path) -> None:
    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        message = {"to": ["12015554567"], "text": "once"}
        first = await api.call("POST", "/api/v1/messages", json=message, headers={"Idempotency-Key": "ticket-42"})
        again = await api.call("POST", "/api/v1/messages", json=message, headers={"Idempotency-Key": "ticket-42"})
        assert first.status_code == again.status_code == 202 and first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"
        other = await api.call("POST", "/api/v1/messages", json=message, headers={"Idempotency-Key": "ticket-43"})
        assert other.json()["id"] != first.json()["id"]
        assert len(await bridge.store.list()) == 2

    with_api(tmp_path, body)


def test_status_callbacks_are_signed_and_retried_until_the_receiver_takes_them(tmp_path: Path) -> None:
    import hashlib
    import hmac

    from aiohttp import web

    from bridge.phone import Answer, Phone
    from tests.adapters.smsc import free_port

    received: list[tuple[dict[str, str], bytes]] = []
    refuse = {"first": True}

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        if refuse["first"]:  # the receiver fails once: the callback comes again
            refuse["first"] = False
            return web.Response(status=500)
        received.append((dict(request.headers), body))
        return web.Response(status=204)

    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        port = free_port()
        url = f"http://127.0.0.1:{port}/hooks"
        for bad in ("file:///etc/passwd", "javascript:alert(1)", "ftp://127.0.0.1/x", "http:///nohost"):
            refused = await api.post({"to": ["12015554567"], "text": "x", "status_callback": bad})
            assert refused.status_code == 400 and "status_callback" in refused.json()["detail"], bad
        # the receiver is down when the first events come
        sent = await api.post({"to": ["12015554567"], "text": "call me back", "status_callback": url})
        assert sent.status_code == 202
        job_id = sent.json()["jobs"][0]["id"]
        for _ in range(200):
            job = await bridge.store.get(job_id)
            if job is not None and job.state.value == "notified":
                break
            await asyncio.sleep(0.05)
        phone = Phone(outbox=tmp_path / "sms", inbox=tmp_path / "phone", answer=Answer.ACKNOWLEDGE)
        await asyncio.to_thread(phone.poll)
        await asyncio.sleep(1.0)
        app = web.Application()
        app.router.add_post("/hooks", receiver)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            for _ in range(600):  # the backoff starts at 5 s
                if {json.loads(b)["event"] for _, b in received} >= {"notified", "fetched", "delivered"}:
                    break
                await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()
        events = [json.loads(b) for _, b in received]
        assert {e["event"] for e in events} == {"notified", "fetched", "delivered"}, events
        assert all(e["job_id"] == job_id and e["to"] == "+12015554567" for e in events)
        [key] = [k for k in await bridge.store.keys() if k.name == "sender"]
        for headers, raw in received:
            timestamp = headers["X-Bridge-Timestamp"]
            expected = hmac.new(key.webhook_secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
            assert headers["X-Bridge-Signature"] == f"v1={expected}"

    with_api(tmp_path, body)


@pytest.mark.usefixtures(both_stores.__name__)
def test_a_keys_default_status_callback_serves_messages_that_name_none(tmp_path: Path) -> None:
    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        key, secret = new_key(name="ticketing", scopes=["send", "read"], status_callback="http://127.0.0.1:9/mms")
        await bridge.store.add_key(key)
        sent = await api.call("POST", "/api/v1/messages", key=secret, json={"to": ["12015554567"], "text": "x"})
        assert sent.status_code == 202
        job_id = sent.json()["jobs"][0]["id"]
        for _ in range(200):  # notified: the event is queued for the key's URL (the sender cannot reach it here)
            hooks = await bridge.store.due_webhooks(now=9e9, limit=10, lease_s=1)
            if hooks:
                break
            await asyncio.sleep(0.05)
        [hook] = hooks
        assert hook.url == "http://127.0.0.1:9/mms" and hook.secret == key.webhook_secret
        assert json.loads(hook.body)["job_id"] == job_id and json.loads(hook.body)["event"] == "notified"

    with_api(tmp_path, body)


@pytest.mark.usefixtures(both_stores.__name__)
def test_hostile_requests_get_a_precise_answer_and_change_nothing(tmp_path: Path) -> None:
    async def body(bridge: Bridge, api: Client, keys: dict[str, str]) -> None:
        async def refused(response: httpx.Response, status: int) -> None:
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/problem+json"), response.text

        deep = b"[" * 100_000 + b"]" * 100_000
        json_type = {"Content-Type": "application/json"}
        await refused(await api.call("POST", "/api/v1/messages", content=deep, headers=json_type, wrong=True), 400)
        await refused(await api.post({"to": ["1201555\x004567"], "text": "x"}), 400)
        await refused(await api.post({"to": ["12015554567"], "from": "a\x00@example.org"}), 400)
        await refused(await api.post({"to": "12015554567", "media": [{"content": "not base64!"}]}, wrong=True), 400)
        # a form cut off in the middle of a part
        cut = b'--b\r\nContent-Disposition: form-data; name="to"\r\n\r\n1201555'
        form_type = {"Content-Type": "multipart/form-data; boundary=b"}
        truncated = await api.call("POST", "/api/v1/messages", content=cut, headers=form_type, wrong=True)
        assert 400 <= truncated.status_code < 500, truncated.text
        # over the largest body: 413 from the headers alone (the web server's limit, raised for the API)
        reader, writer = await asyncio.open_connection("127.0.0.1", int(api.base.rsplit(":", 1)[1]))
        writer.write(b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 27262976\r\n\r\n")  # fmt: skip
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 413")
        writer.close()
        # a NUL in a search finds nothing (PostgreSQL's text cannot hold one), it is not a server error
        found = await api.call("GET", "/api/v1/messages?q=a%00b")
        assert found.status_code == 200 and found.json()["jobs"] == []
        assert await bridge.store.list() == []

    with_api(tmp_path, body)
