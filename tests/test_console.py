"""The console in a real browser (issue 14): Debian's chromium, headless, driven by Selenium through
chromium-driver, against `bridge serve` with the builtin MMSC and the admin listener. Log in; a photo mail sent over
SMTP appears in the list without a reload; its page plays the slides (the picture has loaded, the text shows, next
and previous step through them); retry, resend and cancel work; a mail carrying script in its subject, text and
file names runs nothing; logged out, every page and action is refused. The message page's screenshot is kept in
`artifacts/` (the test command's artefacts folder)."""

from __future__ import annotations

import shutil
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import bcrypt
import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.convert.helpers import photo

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
BRIDGE = Path(sys.executable).with_name("bridge")
DOMAIN = "mms.example.net"
USER, PASSWORD = "operator", "a long passphrase"


@dataclass
class Served:
    process: subprocess.Popen[str]
    smtp_port: int
    admin: str
    folder: Path


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("console")
    users = folder / "console-users"
    users.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    config = folder / "config.toml"
    config.write_text(
        f'[smtp]\nport = 0\ndomains = ["{DOMAIN}"]\nspool_dir = "{folder}/spool"\nrate_limit_per_minute = 0\n'
        f'[store]\nurl = "sqlite:///{folder}/b.db"\n[route]\nkind = "builtin"\n[mmsc]\nport = 0\n'
        f'[sms]\noutbox = "{folder}/sms"\n[reports]\noutbox = "{folder}/o"\n'
        f'[admin]\nenabled = true\nport = 0\nusers_file = "{users}"\n'
    )
    process = subprocess.Popen(
        [str(BRIDGE), "serve", "--config", str(config)], cwd=folder, stdout=subprocess.PIPE,
        stderr=(folder / "log").open("w"), text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    smtp_port = int(lines[0].split("127.0.0.1:")[1].split(",")[0])
    admin = lines[2].split("admin on ")[1].strip().rstrip("/")
    try:
        yield Served(process=process, smtp_port=smtp_port, admin=admin, folder=folder)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert Path(driver_path).exists(), "chromium-driver is not installed: ./contrib/run-tests installs it"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1400"):  # fmt: skip
        options.add_argument(flag)
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def send(served: Served, msg: EmailMessage, number: str = "12015554567") -> None:
    with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=30) as client:
        client.sendmail("camera@example.org", [f"{number}@{DOMAIN}"], msg.as_bytes(policy=policy.SMTP))


def photo_mail(subject: str, *, pictures: int = 2) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "camera@example.org"
    msg["Subject"] = subject
    msg.set_content("Someone is at the front door.")
    for i in range(pictures):
        msg.add_attachment(photo(640, 480, seed=i), maintype="image", subtype="jpeg", filename=f"door-{i}.jpg")
    return msg


def wait(driver: WebDriver, condition: object, timeout: float = 15) -> object:
    # a page being replaced (a form's answer, the live list) makes elements stale for a moment: look again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)  # type: ignore[arg-type]


def click(driver: WebDriver, element_id: str) -> None:
    """Click the element with `element_id` on the page as it is once it settles: an action's answer replaces the
    page, and a button found on the page before it goes stale (the click is tried again on the new one)."""

    def clicked(d: WebDriver) -> bool:
        d.find_element(By.ID, element_id).click()
        return True

    wait(driver, clicked)


def login(driver: WebDriver, served: Served, password: str = PASSWORD) -> None:
    driver.get(f"{served.admin}/login")
    driver.find_element(By.ID, "user").send_keys(USER)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    # the next page, whichever it is, has loaded (and with it the session cookie)
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete" and d.find_elements(
        By.CSS_SELECTOR, "h1, #login-error"))  # fmt: skip


def no_alert(driver: WebDriver) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_logged_out_every_page_and_action_is_refused(bridge: Served, browser: WebDriver) -> None:
    for path in ("/", "/messages", "/jobs/x", "/jobs/x/part/0", "/jobs/x/mail.eml", "/messages/events"):
        browser.get(f"{bridge.admin}{path}")
        assert browser.current_url.endswith("/login"), path
    with httpx.Client(follow_redirects=False) as http:
        for action in ("retry", "resend", "cancel"):
            assert http.post(f"{bridge.admin}/jobs/x/{action}", data={"csrf": "x"}).status_code == 403
        assert http.post(f"{bridge.admin}/logout").status_code == 403
        assert http.get(f"{bridge.admin}/messages").status_code == 303
    with httpx.Client(follow_redirects=False, cookies={"bridge_session": "eyJ1Ijoib3BlcmF0b3IifQ.forged"}) as forged:
        assert forged.get(f"{bridge.admin}/messages").status_code == 303
    with httpx.Client(follow_redirects=False) as http:
        page = http.get(f"{bridge.admin}/login")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_the_console_from_login_to_cancel(bridge: Served, browser: WebDriver) -> None:
    login(browser, bridge, password="wrong")
    assert browser.find_element(By.ID, "login-error").text == "Wrong user or password."
    login(browser, bridge)
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Overview")
    cookie = browser.get_cookie("bridge_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    browser.get(f"{bridge.admin}/messages")
    browser.execute_script("window.stillTheSamePage = true")
    send(bridge, photo_mail("Front door"))
    # the row comes by server-sent event: the page was not loaded again
    row = wait(browser, lambda d: next(iter(d.find_elements(By.XPATH, "//td[@class='subject'][.='Front door']")), None))
    assert row is not None and browser.execute_script("return window.stillTheSamePage") is True
    wait(browser, lambda d: "notified" in d.find_element(By.ID, "rows").text)
    # (the live list may replace its rows at any moment: the link's address is read, then followed)
    browser.get(wait(browser, lambda d: d.execute_script("return document.querySelector('#rows a').href")))
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Job "))
    # the phone plays the slides: the first picture has loaded, the text shows; next and previous step
    picture = browser.find_element(By.CSS_SELECTOR, "#slide-0 img.picture")
    wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture))
    assert browser.execute_script("return arguments[0].naturalWidth", picture) > 0
    assert browser.find_element(By.ID, "slide-0").is_displayed()
    assert "Someone is at the front door." in browser.find_element(By.ID, "phone").text
    browser.find_element(By.ID, "next").click()
    assert (
        browser.find_element(By.ID, "slide-1").is_displayed()
        and not browser.find_element(By.ID, "slide-0").is_displayed()
    )
    second = browser.find_element(By.CSS_SELECTOR, "#slide-1 img.picture")
    wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", second))
    browser.find_element(By.ID, "previous").click()
    assert browser.find_element(By.ID, "slide-0").is_displayed()
    # the notification as `bridge decode` shows it: one SMS, the PDU type and the content URL of this job
    notification = browser.find_element(By.ID, "notification").text
    assert notification.startswith("WAP Push in 1 SMS") and "X-Mms-Message-Type      NOTIFICATION_IND" in notification
    assert "X-Mms-Content-Location  http://127.0.0.1:" in notification and "/m/" in notification
    assert "of the route's 307200" in browser.find_element(By.ID, "budget").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console-message.png"))
    # resend the notification: a second push goes out
    pushes = len(list((bridge.folder / "sms").rglob("*.ud")))
    click(browser, "resend")
    wait(browser, lambda d: len(list((bridge.folder / "sms").rglob("*.ud"))) > pushes)
    # retry now, then cancel: the job ends failed, and its page offers no more actions
    click(browser, "retry")
    wait(browser, lambda d: "queued again by an operator" in d.find_element(By.ID, "timeline").text)
    click(browser, "cancel")
    wait(browser, lambda d: d.find_element(By.ID, "job-state").text == "failed")
    assert not browser.find_elements(By.ID, "cancel")
    timeline = browser.find_element(By.ID, "timeline").text
    steps = ("accepted (250) from <camera@example.org>", "notified 4.0.0 via builtin", "queued again by an operator")
    for step in (*steps, "cancelled by an operator"):
        assert step in timeline, timeline
    # the overview: the job counted, the route ready, with its last success
    browser.get(f"{bridge.admin}/")
    assert "failed 1" in browser.find_element(By.ID, "jobs-by-state").text
    routes = browser.find_element(By.ID, "routes").text
    assert "builtin ready" in routes and "UTC" in routes
    # logged out, the pages are refused again
    browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait(browser, lambda d: d.current_url.endswith("/login"))
    browser.get(f"{bridge.admin}/messages")
    assert browser.current_url.endswith("/login")


def test_what_a_mail_wrote_is_shown_as_text_and_runs_nothing(bridge: Served, browser: WebDriver) -> None:
    subject = "<script>alert('subject')</script>"
    msg = EmailMessage()
    msg["From"] = "camera@example.org"
    msg["Subject"] = subject
    msg.set_content("<img src=x onerror=alert('text')> and javascript:alert('link')")
    msg.add_attachment(photo(320, 240), maintype="image", subtype="jpeg", filename="javascript:alert('file').jpg")
    msg.add_attachment(photo(320, 240, seed=2), maintype="image", subtype="jpeg",
                       filename='"><svg onload=alert(1)>.jpg')  # fmt: skip
    send(bridge, msg, number="12015554568")
    login(browser, bridge)
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Overview")
    browser.get(f"{bridge.admin}/messages?q=")
    href = wait(browser, lambda d: d.execute_script(
        "const row = [...document.querySelectorAll('#rows tr')].find(r => r.textContent.includes('alert'));"
        "return row && row.querySelector('a').href"))  # fmt: skip
    browser.get_log("browser")  # what came before this page
    browser.get(str(href))
    wait(browser, lambda d: d.find_element(By.ID, "subject").text == subject)
    assert no_alert(browser)
    assert "<img src=x onerror=alert('text')>" in browser.find_element(By.ID, "phone").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#phone svg, #phone script, img[src='x']")
    names = browser.find_element(By.ID, "mime-tree").text  # the MMS names its parts itself; the mail's names are here
    assert "javascript:alert('file').jpg" in names and '"><svg onload=alert(1)>.jpg' in names
    for a in browser.find_elements(By.TAG_NAME, "a"):
        assert not (a.get_attribute("href") or "").lower().startswith("javascript:")
    time.sleep(0.5)
    assert no_alert(browser)
    logs = browser.get_log("browser")
    assert not [e for e in logs if "alert" in e["message"] or "Content Security Policy" in e["message"]], logs
    # a part is served as what it is, never as a page of the console's origin
    with httpx.Client(cookies={c["name"]: c["value"] for c in browser.get_cookies()}) as http:
        part = http.get(browser.find_element(By.CSS_SELECTOR, "#parts a").get_attribute("href") or "")
    assert part.headers["x-content-type-options"] == "nosniff" and "sandbox" in part.headers["content-security-policy"]
    assert not part.headers["content-type"].startswith("text/html")


def test_hostile_console_requests_get_a_precise_answer(bridge: Served, browser: WebDriver) -> None:
    login(browser, bridge)
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Overview")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    with httpx.Client(base_url=bridge.admin, cookies=cookies, follow_redirects=False) as http:
        # a CSRF token that is not even ASCII, or missing: refused, nothing done
        assert http.post("/jobs/x/cancel", data={"csrf": "é\x00"}).status_code == 403
        assert http.post("/jobs/x/cancel", data={}).status_code == 403
        # filters with NUL, CR/LF and nonsense answer a page, never a server error
        for query in ("q=a%00b", "sender=%0d%0aX"):
            page = http.get(f"/messages?{query}")
            assert page.status_code == 200 and "No messages match." in page.text, query
        for query in ("before=nope", "before=1e999|x", "since=2026-13-45", "state=%00"):  # ignored, as if absent
            assert http.get(f"/messages?{query}").status_code == 200, query
        assert http.get("/jobs/%00").status_code == 404
        assert http.get("/jobs/x/part/-1").status_code == 404
