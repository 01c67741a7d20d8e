"""The running bridge: the only place that picks concrete adapters from the configuration and runs them in one
event loop — the store, the SMTP intake, the delivery worker — with SIGTERM/SIGINT giving a graceful drain:
no new mail (421 4.3.2), transactions in flight finished, leases released, the store closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult

from bridge.adapters.mail.base import MailSender
from bridge.adapters.mail.outbox import OutboxMailSender
from bridge.adapters.mail.relay import RelayMailSender
from bridge.adapters.mmsc.base import Route
from bridge.adapters.mmsc.builtin import BuiltinMMSC
from bridge.adapters.mmsc.eaif import EAIFRoute
from bridge.adapters.mmsc.folder import FolderRoute
from bridge.adapters.mmsc.mm1 import MM1Route
from bridge.adapters.mmsc.mm7 import MM7Route, MM7Settings
from bridge.adapters.mmsc.mm7_endpoint import CallbackSettings, MM7Endpoint
from bridge.adapters.mmsc.router import Router
from bridge.adapters.mmsc.web import MmscWeb
from bridge.adapters.sms.base import PushSender
from bridge.adapters.sms.kannel import KannelPushSender, KannelReports, KannelSettings
from bridge.adapters.sms.outbox import OutboxPushSender
from bridge.adapters.sms.smpp import SMPPPushSender, SMPPSettings
from bridge.adapters.smtp.auth import PasswordChecker
from bridge.adapters.smtp.dkim import DkimChecker
from bridge.adapters.smtp.intake import IntakeHandler
from bridge.adapters.smtp.server import BridgeLMTP, BridgeSMTP, ConnectionLimits
from bridge.adapters.store.base import JobStore
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.adapters.web.server import Listener, ListenerSettings, WebServer
from bridge.config import Config, ConvertConfig, RouteConfig
from bridge.convert.compose import ConvertOptions
from bridge.convert.profile import Profile, profile_from
from bridge.errors import ConfigError, WorkerDied
from bridge.intake import Intake, IntakeSettings
from bridge.logs import OneLineFormatter
from bridge.model import MSISDN
from bridge.pipeline import RetryPolicy
from bridge.recipients import RecipientPolicy, parse_recipient
from bridge.routing import RouteRule, choose
from bridge.worker import Worker, WorkerSettings

log = logging.getLogger("bridge")
DRAIN_S = 30.0


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # aiosmtpd logs every command line, phone numbers included: keep only its warnings
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def load_users(path: Path) -> dict[str, bytes]:
    """`user:<bcrypt hash>` lines; blank lines and `#` comments skipped."""
    users: dict[str, bytes] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"smtp.users_file: {path}: cannot be read ({exc.strerror})") from exc
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$2"):
            raise ConfigError(f"smtp.users_file: {path}:{n}: expected user:<bcrypt hash>")
        users[user] = hashed.encode()
    return users


def _checked_by_the_protocol(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """aiosmtpd offers AUTH only with an authenticator; `BridgeSMTP` checks passwords itself, asynchronously
    (`PasswordChecker`), so this one is never asked and refuses if it were."""
    return AuthResult(success=False, handled=False)


#: descriptors kept free beyond the SMTP connections: the web side, the store, spool files, outgoing HTTP
SPARE_FILES = 256


def fit_open_files(max_connections: int) -> int:
    """Raise the soft open-file limit so that `max_connections` and SPARE_FILES fit; when the hard limit is
    too low for that, the connection cap that fits (at least 1), with a warning. At the cap the bridge refuses
    connections with 421 instead of running out of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + SPARE_FILES
    if hard != resource.RLIM_INFINITY and wanted > hard:
        wanted = hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft == resource.RLIM_INFINITY:
        return max_connections
    fits = max(1, min(max_connections, soft - SPARE_FILES // 4 - 16))
    if fits < max_connections:
        log.warning(
            "smtp.max_connections: %d do not fit the open-file limit %d; at most %d", max_connections, soft, fits
        )
    return fits


_last_accept_error = 0.0


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio reports each failed accept() (out of descriptors) with a traceback, as fast as clients connect:
    those are logged once per 10 s in one line; everything else goes to the default handler."""
    global _last_accept_error
    exc = context.get("exception")
    if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
        now = loop.time()
        if now - _last_accept_error >= 10.0:
            _last_accept_error = now
            log.error("smtp=accept-failed error=%r (the open-file limit; logged once per 10 s)", exc)
        return
    loop.default_exception_handler(context)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.tls_cert_file: {cert} with {key}: {exc}") from exc
    return ctx


def _writable(path: Path) -> bool:
    existing = path
    while not existing.exists():
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK)


def check_files(config: Config) -> None:
    """What `bridge check-config` checks beyond the values: the certificate and key load, the users file
    parses, and every folder the bridge writes to can be written. Raises `ConfigError` naming the key."""
    s = config.smtp
    if s.tls_cert_file:
        tls_context(s.tls_cert_file, s.tls_key_file)
    if s.users_file:
        load_users(Path(s.users_file))
    folders = {
        "smtp.spool_dir": Path(s.spool_dir),
        "store.url": config.store.sqlite_path.parent,
    }
    for route in config.routes:
        if route.kind == "folder":
            folders["route.folder"] = Path(route.folder)
        elif route.kind == "builtin" and config.sms.kind == "outbox":
            folders["sms.outbox"] = Path(config.sms.outbox)
        if route.ca_file and not os.access(route.ca_file, os.R_OK):
            raise ConfigError(f"route.ca_file: {route.ca_file} cannot be read (route {route.label!r})")
    if config.reports.kind == "outbox":
        folders["reports.outbox"] = Path(config.reports.outbox)
    for key, folder in folders.items():
        if not _writable(folder):
            raise ConfigError(f"{key}: {folder} cannot be written")


def route_rules(config: Config) -> list[RouteRule]:
    """`[[route]]` as the rules `bridge.routing.choose` reads."""
    return [RouteRule(name=r.label, prefixes=r.prefixes, fallback=r.fallback or None) for r in config.routes]


def route_of(config: Config, number: str) -> str:
    """Which route takes `number` (any form a sender could write in RCPT), for `bridge check-config --number`."""
    policy = RecipientPolicy(
        domains=frozenset(config.smtp.domains),
        default_region=config.smtp.default_region,
        allow_prefixes=(),
        deny_prefixes=(),
        number_check=config.smtp.number_check,
        deny_number_types=frozenset(),
    )
    recipient = parse_recipient(f"{number}@{config.smtp.domains[0]}", policy)
    if not isinstance(recipient, MSISDN):
        raise ConfigError(f"--number {number!r}: not a phone number ({recipient.reply})")
    rule = choose(route_rules(config), recipient.e164)
    if rule is None:
        return f"{recipient.e164} -> no route (refused with 5.4.4)"
    fallback = f", falling back to {rule.fallback}" if rule.fallback else ""
    kind = next(r.kind for r in config.routes if r.label == rule.name)
    return f"{recipient.e164} -> route {rule.name} ({kind}){fallback}"


async def open_store(config: Config) -> JobStore:
    """The job store `[store]` names (for `bridge serve` and `bridge queue`)."""
    return await SQLiteJobStore.open(config.store.sqlite_path)


def make_mailer(config: Config) -> MailSender:
    r = config.reports
    if r.kind == "relay":
        return RelayMailSender(
            host=r.relay_host,
            port=r.relay_port,
            timeout_s=r.relay_timeout_s,
            starttls=r.relay_starttls,
            helo=config.smtp.hostname,
        )
    return OutboxMailSender(Path(r.outbox))


def make_push_sender(config: Config, public_url: str) -> PushSender:
    """The SMS transport `[sms]` names, for the builtin MMSC's notifications (`public_url`: the MMSC's base URL,
    where Kannel's delivery reports come back)."""
    sms = config.sms
    if sms.kind == "kannel":
        return KannelPushSender(
            KannelSettings(
                mode=sms.kannel_mode,
                sendsms_url=sms.kannel_sendsms_url,
                username=sms.kannel_username,
                password=sms.kannel_password,
                sender=sms.kannel_sender,
                smsc_id=sms.kannel_smsc_id,
                dlr_url=f"{public_url}/sms/dlr" if sms.kannel_dlr else "",
                ppg_url=sms.kannel_ppg_url,
                timeout_s=sms.kannel_timeout_s,
            )
        )
    if sms.kind == "smpp":
        return SMPPPushSender(
            SMPPSettings(
                host=sms.smpp_host,
                port=sms.smpp_port,
                system_id=sms.smpp_system_id,
                password=sms.smpp_password,
                system_type=sms.smpp_system_type,
                bind=sms.smpp_bind,
                source_addr=sms.smpp_source_addr,
                source_addr_ton=sms.smpp_source_ton,
                source_addr_npi=sms.smpp_source_npi,
                data_coding=sms.smpp_data_coding,
                registered_delivery=sms.smpp_registered_delivery,
                window=sms.smpp_window,
                max_per_second=sms.smpp_max_per_second,
                enquire_link_s=sms.smpp_enquire_link_s,
                connect_timeout_s=sms.smpp_connect_timeout_s,
                response_timeout_s=sms.smpp_response_timeout_s,
                reconnect_max_s=sms.smpp_reconnect_max_s,
                throttle_pause_s=sms.smpp_throttle_pause_s,
            )
        )
    return OutboxPushSender(Path(sms.outbox))


def convert_profile(cv: ConvertConfig, name: str | None = None) -> Profile:
    """The budget `[convert]` describes (or the profile `name`, with the same overrides)."""
    return profile_from(
        name or cv.profile,
        max_message_bytes=cv.max_message_bytes,
        max_image_width=cv.max_image_width,
        max_image_height=cv.max_image_height,
        max_image_pixels=cv.max_image_pixels,
    )


def convert_options(cv: ConvertConfig, *, keep_signature: bool = False, keep_quotes: bool = False) -> ConvertOptions:
    return ConvertOptions(
        trim_signature=cv.trim_signature and not keep_signature,
        trim_quotes=cv.trim_quotes and not keep_quotes,
        max_slide_text_chars=cv.max_slide_text_chars,
        max_text_chars=cv.max_text_chars,
    )


class Bridge:
    """Everything `bridge serve` runs. `start()` binds and starts; `stop()` drains and closes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        c = config
        self.web = WebServer(
            {
                Listener.PUBLIC: ListenerSettings(host=c.mmsc.host, port=c.mmsc.port),
                Listener.ADMIN: ListenerSettings(host=c.admin.host, port=c.admin.port, enabled=c.admin.enabled),
            },
            header_timeout_s=c.mmsc.header_timeout_s,
            body_timeout_s=c.mmsc.body_timeout_s,
        )
        self.dlr: KannelReports | None = None
        self.push: PushSender | None = None
        self.router: Router | None = None
        self.http_port: int | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self.worker_died = False
        self.password_checker: PasswordChecker | None = None
        self.tls: ssl.SSLContext | None = None
        self._executor = ThreadPoolExecutor(config.smtp.conversion_threads, thread_name_prefix="convert")

    async def start(self) -> None:
        c = self.config
        self.store = await open_store(c)
        d = c.delivery
        self.mailer = make_mailer(c)
        self._install_web_surfaces()
        self.routes: dict[str, Route] = {}
        for rc in c.routes:
            self.routes[rc.label] = await self._make_route(rc)
        await self.web.start()
        if self.web.running(Listener.PUBLIC):
            self.http_port = self.web.port(Listener.PUBLIC)
            log.info("web side listening on %s:%d (%s)", c.mmsc.host, self.http_port, c.mmsc.base_url(self.http_port))
        route = self.router = Router(
            self.routes,
            route_rules(c),
            {r.label: r.max_per_second for r in c.routes},
        )
        self.worker = Worker(
            store=self.store,
            route=route,
            mailer=self.mailer,
            settings=WorkerSettings(
                owner=f"{c.smtp.hostname}:{os.getpid()}",
                reporting_mta=c.smtp.hostname,
                lease_s=d.lease_s,
                batch=d.batch,
                poll_s=d.poll_s,
                concurrency=d.concurrency,
                gather_s=d.gather_s,
                policy=RetryPolicy(
                    first_retry_s=d.first_retry_s,
                    max_retry_s=d.max_retry_s,
                    jitter=d.jitter,
                    delay_warning_s=d.delay_warning_s or None,
                    renotify_s=c.mmsc.renotify_s,
                ),
                content_grace_s=c.mmsc.content_grace_s,
            ),
        )
        s, cv = c.smtp, c.convert
        self.intake = Intake(
            settings=IntakeSettings(
                hostname=s.hostname,
                recipients=RecipientPolicy(
                    domains=frozenset(x.lower() for x in s.domains),
                    default_region=s.default_region,
                    allow_prefixes=s.allow_prefixes,
                    deny_prefixes=s.deny_prefixes,
                    number_check=s.number_check,
                    deny_number_types=frozenset(s.deny_number_types),
                ),
                max_recipients=s.max_recipients,
                require_auth=s.require_auth,
                allowed_senders=s.allowed_senders,
                rate_limit_per_minute=s.rate_limit_per_minute,
                expiry_s=d.expiry_s,
                conversion_deadline_s=s.conversion_deadline_s,
                profile=convert_profile(cv),
                convert=convert_options(cv),
                route_profile=self._route_profile() if any(r.profile for r in c.routes) else None,
            ),
            store=self.store,
            executor=self._executor,
            conversion_slots=s.conversion_threads,
            on_queued=self.worker.wake,
        )
        self.handler = IntakeHandler(
            intake=self.intake,
            dkim=DkimChecker(
                verify_domains=s.dkim_verify_domains,
                require_domains=s.dkim_require_domains,
                nameservers=s.dns_nameservers,
                port=s.dns_port,
                timeout_s=s.dns_timeout_s,
            ),
        )
        tls = self.tls = tls_context(s.tls_cert_file, s.tls_key_file) if s.tls_cert_file else None
        self.password_checker = PasswordChecker(load_users(Path(s.users_file))) if s.users_file else None
        authenticator = _checked_by_the_protocol if self.password_checker is not None else None
        spool = Path(s.spool_dir)

        protocol = BridgeLMTP if s.lmtp else BridgeSMTP
        limits = self.smtp_limits = ConnectionLimits(
            max_connections=fit_open_files(s.max_connections),
            max_per_ip=s.max_connections_per_ip,
            max_memory_bytes=s.max_memory_data_bytes,
        )

        def factory() -> BridgeSMTP:
            return protocol(
                self.handler,
                spool_dir=spool,
                limits=limits,
                password_checker=self.password_checker,
                data_size_limit=s.max_message_bytes,
                timeout=s.idle_timeout_s,
                enable_SMTPUTF8=True,
                decode_data=False,
                hostname=s.hostname,
                ident="mms-bridge",
                tls_context=tls,
                require_starttls=False,
                authenticator=authenticator,
                auth_required=s.require_auth,
                auth_require_tls=True,
                auth_exclude_mechanism=["CRAM-MD5"] if authenticator else None,
            )

        loop = asyncio.get_running_loop()
        loop.set_exception_handler(quiet_accept_errors)
        self._server = await loop.create_server(factory, host=s.host, port=s.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._worker_task = asyncio.create_task(self.worker.run(self.stop_event))
        self._worker_task.add_done_callback(self._worker_ended)
        log.info("smtp listening on %s:%d", s.host, self.port)

    def _install_web_surfaces(self) -> None:
        """Each HTTP surface the configuration calls for, installed on the web server."""
        c = self.config
        if any(r.kind == "builtin" for r in c.routes):
            MmscWeb(store=self.store, ack_wait_s=c.mmsc.ack_wait_s, on_answer=lambda: self.worker.wake()).install(
                self.web
            )
            if c.sms.kind == "kannel" and c.sms.kannel_dlr:
                self.dlr = KannelReports()
                self.dlr.install(self.web)
        callbacks = {
            r.label: CallbackSettings(
                route=r.label,
                release=r.mm7_release,
                username=r.callback_username,
                password=r.callback_password,
                allow=r.callback_allow,
                forward_to=r.forward_to,
            )
            for r in c.routes
            if r.kind == "mm7"
        }
        if callbacks:
            MM7Endpoint(
                routes=callbacks,
                store=self.store,
                mailer=self.mailer,
                domain=c.smtp.domains[0],
                reporting_ua=c.smtp.hostname,
                on_answer=lambda: self.worker.wake(),
            ).install(self.web)

    def reload(self) -> None:
        """SIGHUP: read the users file and the TLS certificate and key again, for the connections that come
        next; connections open now keep what they have. Everything else needs a restart. A file that cannot be
        read leaves the old one in force."""
        s = self.config.smtp
        done = []
        try:
            if self.password_checker is not None:
                self.password_checker.users = load_users(Path(s.users_file))
                done.append("users_file")
            if self.tls is not None:
                self.tls.load_cert_chain(s.tls_cert_file, s.tls_key_file)
                done.append("tls_cert_file")
        except (ConfigError, OSError, ssl.SSLError) as exc:
            log.error("reload=failed error=%r (the previous files stay in force)", exc)
            return
        log.info(
            "reload=done reloaded=%s (routes and other settings are read at start only: restart for them)",
            ",".join(done) or "nothing",
        )

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        """A worker that ends before shutdown leaves mail accepted and never delivered: stop the whole process,
        loudly, so that systemd (Restart=on-failure) starts it again."""
        if self.stop_event.is_set() and not task.cancelled() and task.exception() is None:
            return
        error = None if task.cancelled() else task.exception()
        log.critical("worker=died error=%r: stopping the bridge", error)
        self.worker_died = True
        self.stop_event.set()

    def _route_profile(self) -> Callable[[MSISDN], Profile]:
        """The budget of the route each number takes (`[[route]] profile`, else `[convert]`)."""
        c = self.config
        default = convert_profile(c.convert)
        budgets = {r.label: convert_profile(c.convert, r.profile) if r.profile else default for r in c.routes}
        rules = route_rules(c)

        def profile_for(number: MSISDN) -> Profile:
            rule = choose(rules, number.e164)
            return budgets[rule.name] if rule is not None else default

        return profile_for

    async def _make_route(self, rc: RouteConfig) -> Route:
        """The route one `[[route]]` describes."""
        c = self.config
        if rc.kind == "builtin":
            public_url = c.mmsc.base_url(self.web.port(Listener.PUBLIC))
            self.push = make_push_sender(c, public_url)
            await self.push.start()
            return BuiltinMMSC(
                push=self.push, public_url=public_url, sender_in_notification=c.mmsc.sender_in_notification
            )
        if rc.kind == "mm7":
            settings = MM7Settings(
                url=rc.url,
                release=rc.mm7_release,
                mm7_version=rc.mm7_version,
                vasp_id=rc.vasp_id,
                vas_id=rc.vas_id,
                sender_address=rc.sender_address,
                service_code=rc.service_code,
                username=rc.username,
                password=rc.password,
                ca_file=rc.ca_file,
                timeout_s=rc.timeout_s,
                delivery_report=rc.delivery_report,
                allow_adaptations=rc.allow_adaptations,
                unknown_outcome_wait_s=rc.unknown_outcome_wait_s,
                unknown_outcome_resends=rc.unknown_outcome_resends,
            )
            return MM7Route(settings, name=rc.label)
        if rc.kind == "eaif":
            return EAIFRoute(
                url=rc.url,
                name=rc.label,
                version=rc.eaif_version,
                sender=rc.sender_address,
                username=rc.username,
                password=rc.password,
                ca_file=rc.ca_file,
                timeout_s=rc.timeout_s,
            )
        if rc.kind == "mm1":
            return MM1Route(
                url=rc.url,
                name=rc.label,
                proxy=rc.proxy,
                username=rc.username,
                password=rc.password,
                ca_file=rc.ca_file,
                timeout_s=rc.timeout_s,
            )
        return FolderRoute(Path(rc.folder))

    async def stop(self) -> None:
        self.stop_event.set()
        self.handler.shutting_down = True
        if self._server is not None:
            self._server.close()
        deadline = asyncio.get_running_loop().time() + DRAIN_S
        while self.handler.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self._worker_task is not None and not self.worker_died:
            await self._worker_task
        await self.web.stop()
        if self.push is not None:
            await self.push.close()
        if self.router is not None:
            await self.router.close()
        # conversions in flight finish; their mails are committed or refused before we close the store
        await asyncio.to_thread(self._executor.shutdown, True)
        if self.password_checker is not None:
            self.password_checker.close()
        await asyncio.sleep(0)
        await self.store.close()


async def serve(config: Config, *, on_ready: Callable[[Bridge], None] | None = None) -> None:
    bridge = Bridge(config)
    await bridge.start()
    # the modules, tables and configuration loaded so far live as long as the process: keep the collector from
    # walking them again at every collection
    gc.freeze()
    if on_ready is not None:
        on_ready(bridge)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bridge.stop_event.set)
    loop.add_signal_handler(signal.SIGHUP, bridge.reload)
    await bridge.stop_event.wait()
    log.info("shutting down: no new mail, finishing what is in flight")
    await bridge.stop()
    if bridge.worker_died:
        raise WorkerDied("the delivery worker stopped; exiting so that the service manager restarts the bridge")
