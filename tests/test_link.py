"""An SMS with a link when MMS is not possible (issue 17, part 2): each `fallback_sms` mode through the whole bridge
— always; on-failure when the route refuses the content, when the phone never fetched before expiry, for numbers
listed as taking no MMS — with the DSN's Action read by the stdlib `email` parser and flufl.bounce; the text of
the SMS; the message page `/v/<token>` over HTTP and in headless Chromium at a phone's viewport."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import shutil
import smtplib
import time
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage, Message
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from flufl.bounce import all_failures
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from bridge.app import Bridge
from bridge.codec.sms_text import gsm7_septets
from bridge.config import Config, RouteConfig
from bridge.convert.link import link_text
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, builtin_config, route_config, running
from tests.adapters.rest_providers import FakeTwilio, Plan
from tests.adapters.test_mmsc import job_in, wait_for
from tests.adapters.test_rest import dsn_fields, rest_route, send
from tests.convert.helpers import mail, photo
from tests.paths import ROOT
from tests.serving import served

SENDER = "camera@example.org"
ARTIFACTS = ROOT / "artifacts"
URL = "https://mms.example.net/v/NBDxKe0Gr_FD7LOmX3s5eg"


# ------------------------------------------------------------------------------------------------ the SMS's text


@pytest.mark.parametrize(
    ("subject", "sender", "expected"),
    [
        ("Door", "camera@example.org", f"Door from camera@example.org: {URL}"),
        (None, "camera@example.org", f"Message from camera@example.org: {URL}"),
        ("Motion " * 30, "camera@example.org", None),  # shortened to 160 GSM characters, the link whole
        ("\u0422\u0440\u0435\u0432\u043e\u0433\u0430 " * 4, "cam@example.org", None),  # Cyrillic: UCS-2, 70
        ("Door\r\n\0Bcc: x", "cam@example.org", None),  # control characters in a subject do not break the SMS
    ],
)
def test_the_sms_fits_one_sms_and_keeps_the_link_whole(subject: str | None, sender: str, expected: str | None) -> None:
    text = link_text(subject=subject, sender=sender, url=URL)
    if expected is not None:
        assert text == expected
    assert text.endswith(URL) and "\r" not in text and "\n" not in text
    septets = gsm7_septets(text)
    assert (septets is not None and septets <= 160) or len(text) <= 70


def test_a_huge_subject_costs_no_more_than_a_short_one() -> None:
    started = time.perf_counter()
    text = link_text(subject="x" * 2_000_000, sender="a" * 100_000 + "@example.org", url=URL)
    assert time.perf_counter() - started < 1.0 and text.endswith(URL) and len(text) <= 160


# --------------------------------------------------------------------------------------------- through the bridge


def dsns(tmp: Path) -> list[Message]:
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]
    return [m for m in found if m.get_content_type() == "multipart/report"]


def texts(tmp: Path) -> list[str]:
    return [p.read_text() for p in sorted((tmp / "sms").glob("*.txt"))]


def with_route(config: Config, route: RouteConfig, **delivery: object) -> Config:
    return dataclasses.replace(config, routes=(route,), delivery=dataclasses.replace(config.delivery, **delivery))


def run(config: Config, body: Callable[[Bridge], Awaitable[None]]) -> None:
    async def go() -> None:
        async with running(config) as bridge:
            await body(bridge)

    asyncio.run(go())


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    await wait_for(lambda: asyncio.sleep(0, result=predicate()), timeout)


def test_always_sends_the_link_instead_of_the_mms_and_the_dsn_says_relayed(tmp_path: Path) -> None:
    config = with_route(builtin_config(tmp_path), route_config(kind="builtin", fallback_sms="always"))

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port, notify="SUCCESS,FAILURE")
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED
        [sms] = texts(tmp_path)
        assert sms == f"Door from {SENDER}: http://127.0.0.1:{bridge.http_port}/v/{job.token}"
        assert not list((tmp_path / "sms").glob("*.ud"))  # no MMS notification
        await until(lambda: bool(dsns(tmp_path)))
        [report] = dsns(tmp_path)
        assert dsn_fields(report) == [("relayed", "2.0.0")]
        assert report["Subject"].startswith("MMS relayed as SMS with a link")
        assert "relayed as an SMS with a link to the message's page (the route sends no MMS)" in report.as_string()
        assert all_failures(report) == (set(), set())  # not a bounce
        async with httpx.AsyncClient() as http:
            page = await http.get(f"http://127.0.0.1:{bridge.http_port}/v/{job.token}")
        assert page.status_code == 200 and "Someone at the door" in page.text

    run(config, body)


def test_on_failure_a_refused_content_goes_as_a_link_through_the_provider(tmp_path: Path) -> None:
    provider = FakeTwilio(plan=[Plan(status=400, code="12300")])  # unsupported media type: 5.6.1

    async def go() -> None:
        await provider.start_server()
        try:
            route = rest_route(provider, fallback_sms="on-failure")
            async with running(dataclasses.replace(builtin_config(tmp_path), routes=(route,))) as bridge:
                assert bridge.port is not None
                job_id = await send(bridge.port)
                job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
                assert job.state is JobState.DELIVERED and job.route == "tw"
                # the MMS was refused, then the SMS went through Twilio, with the page's link
                assert [s.kind for s in provider.sent] == ["SMS"]
                assert provider.sent[0].text.endswith(f"/v/{job.token}") and provider.sent[0].media == []
                await until(lambda: bool(dsns(tmp_path)))
                [report] = dsns(tmp_path)  # NOTIFY was not given: FAILURE, and this stands for one
                assert dsn_fields(report) == [("relayed", "2.0.0")]
                assert "the MMS was refused" in report.as_string()
        finally:
            await provider.stop()
        assert provider.invalid == []

    asyncio.run(go())


def test_on_failure_a_phone_that_never_fetched_gets_the_link_at_expiry(tmp_path: Path) -> None:
    base = builtin_config(tmp_path, renotify_s=(0.5,))
    config = with_route(base, route_config(kind="builtin", fallback_sms="on-failure"), expiry_s=2.0)

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        assert list((tmp_path / "sms").glob("*.ud")) and texts(tmp_path) == []  # first the MMS notification
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.EXPIRED, JobState.FAILED)
        assert job.state is JobState.DELIVERED
        [sms] = texts(tmp_path)
        assert sms.endswith(f"/v/{job.token}")
        await until(lambda: bool(dsns(tmp_path)))
        assert dsn_fields(dsns(tmp_path)[0]) == [("relayed", "2.0.0")]

    run(config, body)


def test_a_number_listed_as_taking_no_mms_gets_the_link_at_once_and_others_the_mms(tmp_path: Path) -> None:
    route = route_config(kind="builtin", fallback_sms="on-failure", sms_only_prefixes=("+1202",))
    config = with_route(builtin_config(tmp_path), route)

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        listed = await send(bridge.port, number="12025550123")
        other = await send(bridge.port)
        assert (await job_in(bridge, listed, JobState.DELIVERED)).state is JobState.DELIVERED
        await job_in(bridge, other, JobState.NOTIFIED)
        [sms] = texts(tmp_path)
        assert "/v/" in sms and len(list((tmp_path / "sms").glob("+12015554567-*.ud"))) >= 1
        await asyncio.sleep(0.5)
        assert dsns(tmp_path) == []  # relayed without a failure, and no success report was asked for

    run(config, body)


def test_the_page_serves_its_parts_and_is_gone_with_the_message(tmp_path: Path) -> None:
    config = with_route(builtin_config(tmp_path), route_config(kind="builtin", fallback_sms="always"))

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port, text="<script>window.pwned = 1</script> & <b>bold</b>")
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        base = f"http://127.0.0.1:{bridge.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get(f"/v/{job.token}")
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
            assert page.headers["x-content-type-options"] == "nosniff" and "<script" not in page.text
            assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page.text
            src = page.text.split('<img src="', 1)[1].split('"', 1)[0]
            picture = await http.get(src)
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
            assert picture.content[:2] == b"\xff\xd8"
            assert (await http.get(src, headers={"Range": "bytes=0-1"})).content == b"\xff\xd8"
            assert (await http.get("/static/page.css")).status_code == 200
            for bad in (f"/v/{job.token}x", "/v/" + "a" * 300, f"/v/{job.token}/99", f"/v/{job.token}/0"):
                assert (await http.get(bad)).status_code == 404, bad  # part 0 is the SMIL
            # the job is ended by an operator and its content swept: the link is gone
            await bridge.store.sweep(before=time.time() + 10)
            gone = await http.get(f"/v/{job.token}")
            assert gone.status_code == 410 and (await http.get(src)).status_code == 410

    run(config, body)


def test_fallback_sms_is_refused_where_no_sms_can_go(tmp_path: Path) -> None:
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"route\.fallback_sms: a folder route sends no SMS"):
        route_config(kind="folder", folder=str(tmp_path), fallback_sms="always")
    with pytest.raises(ConfigError, match=r"route\.fallback_sms: one of off, on-failure, always"):
        route_config(kind="builtin", fallback_sms="sometimes")


# --------------------------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def phone_browser() -> Iterator[WebDriver]:
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert Path(driver_path).exists(), "chromium-driver is not installed: ./contrib/run-tests installs it"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=390,844"):
        options.add_argument(flag)
    # a phone's viewport: 390x844 CSS pixels at 3x, with a phone's user agent
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0}}
    )
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


CONFIG = """
[smtp]
host = "127.0.0.1"
port = 0
domains = ["mms.example.net"]
spool_dir = "spool"
duplicate_window_s = 0
[store]
url = "sqlite:///bridge.db"
[mmsc]
host = "127.0.0.1"
port = 0
[sms]
outbox = "sms"
[reports]
outbox = "outbox"
[[route]]
kind = "builtin"
fallback_sms = "always"
"""


def test_the_page_at_a_phones_viewport_shows_pictures_and_text_and_runs_nothing(
    tmp_path: Path, phone_browser: WebDriver
) -> None:
    with served(tmp_path, CONFIG) as bridge:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SENDER, f"12015554567@{DOMAIN}", "Gate <b>open</b>"
        msg.set_content("The gate was opened at 07:42.\n<script>window.pwned = 1</script>\nPlease check the camera.")
        for n in range(2):
            msg.add_attachment(photo(1024, 768, seed=n), maintype="image", subtype="jpeg", filename=f"gate{n}.jpg")
        with smtplib.SMTP("127.0.0.1", bridge.smtp_port, timeout=30) as client:
            client.send_message(msg, from_addr=SENDER, to_addrs=[f"12015554567@{DOMAIN}"])
        deadline = time.monotonic() + 30
        while not list((tmp_path / "sms").glob("*.txt")):
            assert time.monotonic() < deadline, "no SMS with a link"
            time.sleep(0.1)
        [sms] = [p.read_text() for p in (tmp_path / "sms").glob("*.txt")]
        url = sms.rsplit(" ", 1)[1]
        assert url.startswith(bridge.mmsc_url.rstrip("/") + "/v/")
        driver = phone_browser
        driver.get(url)
        assert driver.title == "Gate <b>open</b>"
        assert driver.execute_script("return window.innerWidth") == 390
        pictures = driver.find_elements(By.CSS_SELECTOR, "img")
        assert len(pictures) == 2
        for img in pictures:
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
            assert img.size["width"] <= 390  # fits the screen: no zooming out
        text = driver.find_element(By.CSS_SELECTOR, ".text")
        assert "<script>window.pwned = 1</script>" in text.text
        size = driver.execute_script("return parseFloat(getComputedStyle(arguments[0]).fontSize)", text)
        assert size >= 16  # readable without zooming
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        assert driver.execute_script("return typeof window.pwned") == "undefined"
        assert driver.find_elements(By.TAG_NAME, "script") == []
        ARTIFACTS.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "message-page-390x844.png"))
        # an unknown link: 404; the page's own answer, not a browser error
        driver.get(url + "x")
        assert "no such message" in driver.page_source


# ------------------------------------------------------------------------------ the SMS over SMPP and through Kannel


def test_the_link_goes_over_smpp_as_gsm_7_bit_or_ucs_2(tmp_path: Path) -> None:
    from bridge.codec.sms_text import decode_gsm7
    from tests.adapters.bridge_fixture import sms_config
    from tests.adapters.smsc import smsc

    async def go() -> None:
        async with smsc() as sim:
            sms = sms_config("smpp", host="127.0.0.1", port=sim.port, system_id="bridge", password="pw")
            config = with_route(builtin_config(tmp_path, sms=sms), route_config(kind="builtin", fallback_sms="always"))
            async with running(config) as bridge:
                assert bridge.port is not None
                plain = await send(bridge.port)
                await job_in(bridge, plain, JobState.DELIVERED)
                raw = mail("x", subject="Тревога", attachments=[(photo(64, 64), "image/jpeg", "a.jpg")])
                c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=30, start_tls=False)
                await c.connect()
                await c.sendmail(SENDER, [f"12015554567@{DOMAIN}"], raw)
                await c.quit()
                await until(lambda: len(sim.submits) == 2)
        first, second = sim.submits
        assert first.data_coding == 0 and first.esm_class == 0
        assert decode_gsm7(first.short_message).startswith(f"Door from {SENDER}: http://127.0.0.1:")
        # UCS-2 leaves 70 characters: the subject is shortened, the link kept whole
        assert second.data_coding == 8 and second.short_message.decode("utf-16-be").startswith(
            "Тревог... from camera: "
        )
        assert len(second.short_message) // 2 <= 70

    asyncio.run(go())


def test_the_link_goes_through_kannel_sendsms(tmp_path: Path) -> None:
    from tests.adapters.bridge_fixture import sms_config
    from tests.adapters.kannel import PASSWORD, USER, Kannel

    kannel = Kannel(folder=tmp_path / "kannel")
    kannel.start()
    try:
        sms = sms_config("kannel", sendsms_url=kannel.sendsms_url, username=USER, password=PASSWORD)
        config = with_route(builtin_config(tmp_path, sms=sms), route_config(kind="builtin", fallback_sms="always"))

        async def body(bridge: Bridge) -> None:
            assert bridge.port is not None
            job_id = await send(bridge.port)
            job = await job_in(bridge, job_id, JobState.DELIVERED)
            await until(lambda: bool(kannel.captured()))
            [got] = kannel.captured()
            assert got.to == "+12015554567" and got.udh == b""
            assert got.data.decode() == f"Door from {SENDER}: http://127.0.0.1:{bridge.http_port}/v/{job.token}"

        run(config, body)
    finally:
        kannel.stop()


def test_a_content_failure_the_provider_reports_later_also_becomes_the_link(tmp_path: Path) -> None:
    """Bandwidth takes the MMS, then its callback says the media type is not supported (4412, 5.6.1)."""
    from tests.adapters.rest_providers import FakeBandwidth
    from tests.adapters.test_rest import run as run_rest

    provider = FakeBandwidth(plan=[Plan(final="failed", final_code="4412")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED
        assert [s.kind for s in provider.sent] == ["MMS", "SMS"]
        assert provider.sent[1].text.endswith(f"/v/{job.token}")
        await until(lambda: bool(dsns(tmp_path)))
        [report] = dsns(tmp_path)
        assert dsn_fields(report) == [("relayed", "2.0.0")] and "4412" in report.as_string()

    run_rest(tmp_path, [provider], lambda: (rest_route(provider, fallback_sms="on-failure"),), body)
