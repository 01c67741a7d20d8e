"""The running bridge: `Bridge` starts the store, the web server and its surfaces, the routes, the delivery worker,
the intake use case and the SMTP listener, in named steps, all in one event loop; SIGTERM/SIGINT give a graceful
drain (no new mail, 421 4.3.2; transactions in flight finished; leases released; the store closed), SIGHUP
reloads the users file and the TLS certificate."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import signal
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bridge.adapters.mmsc.base import Route
from bridge.adapters.mmsc.builtin import BuiltinMMSC
from bridge.adapters.mmsc.mm7_endpoint import MM7Endpoint
from bridge.adapters.mmsc.router import LinkPolicy, RouteHealth, Router
from bridge.adapters.mmsc.web import MmscWeb
from bridge.adapters.rest.base import RestRoute
from bridge.adapters.rest.web import MediaWeb, RestCallbacks
from bridge.adapters.sms.base import PushSender
from bridge.adapters.sms.kannel import KannelMO, KannelReports
from bridge.adapters.sms.mo import MOText
from bridge.adapters.sms.smpp import SMPPPushSender
from bridge.adapters.smtp.auth import PasswordChecker, checked_by_the_protocol, load_users, tls_context
from bridge.adapters.smtp.dkim import DkimChecker
from bridge.adapters.smtp.intake import IntakeHandler
from bridge.adapters.smtp.limits import ConnectionLimits, fit_open_files, quiet_accept_errors
from bridge.adapters.smtp.server import BridgeLMTP, BridgeSMTP
from bridge.adapters.web.api import Api
from bridge.adapters.web.console import Console, ConsoleSettings
from bridge.adapters.web.ops import Operations
from bridge.adapters.web.page import MessagePage
from bridge.adapters.web.server import Listener, ListenerSettings, WebServer
from bridge.adapters.web.webhooks import WebhookSender
from bridge.app.sdnotify import notify
from bridge.app.wiring import (
    ROUTES,
    convert_options,
    convert_profile,
    make_mailer,
    make_push_sender,
    open_store,
    rest_route,
    route_rules,
)
from bridge.config import REST_KINDS, Config, RouteConfig, RouteKind, SmsKind
from bridge.convert.profile import Profile
from bridge.errors import ConfigError, WorkerDied
from bridge.intake import Intake, IntakeSettings
from bridge.metrics import Metrics
from bridge.model import MSISDN
from bridge.pipeline import RetryPolicy
from bridge.recipients import RecipientPolicy
from bridge.replies import PhoneReply, Replies, ReplySettings, phone_number
from bridge.routing import choose
from bridge.worker import Worker, WorkerSettings

log = logging.getLogger("bridge")

DRAIN_S = 30.0


def session_secret(path: str) -> bytes:
    """The console's cookie-signing secret: the file's content, or a random one for this start."""
    if not path:
        return secrets.token_bytes(32)
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"admin.session_secret_file: {path}: cannot be read ({exc.strerror})") from exc
    if len(secret) < 16:
        raise ConfigError(f"admin.session_secret_file: {path}: at least 16 characters of secret, got {len(secret)}")
    return secret


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
        self.admin_port: int | None = None
        self.console: Console | None = None
        self.webhooks: WebhookSender | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self.worker_died = False
        self.password_checker: PasswordChecker | None = None
        self.tls: ssl.SSLContext | None = None
        self.metrics = Metrics()
        self._executor = ThreadPoolExecutor(config.smtp.conversion_threads, thread_name_prefix="convert")

    async def start(self) -> None:
        """Each step builds what the next ones use: the store and the report sender, the web server's surfaces,
        the routes, the worker, the intake use case, the web server and then the SMTP listener, last, so that no
        mail is taken before everything that handles it runs."""
        self.store = await open_store(self.config)
        self.commits = 0

        def committed(seconds: float) -> None:
            self.commits += 1
            self.metrics.store_commit_seconds.observe(seconds)

        self.store.observe_commit = committed
        self.mailer = make_mailer(self.config)
        r = self.config.replies
        self.replies = (
            Replies(
                settings=ReplySettings(domain=self.config.smtp.domains[0], window_s=r.window_s,
                                       forward_to=r.forward_to, max_per_hour=r.max_per_hour),
                store=self.store,
                mailer=self.mailer,
                metrics=self.metrics,
            )
            if r.enabled
            else None
        )  # fmt: skip
        self._install_web_surfaces()
        await self._make_routes()
        self.worker = self._make_worker()
        self.intake = self._make_intake()
        await self._start_web()
        await self._listen_smtp()
        await self.store.watch(self.worker.wake)
        self._worker_task = asyncio.create_task(self.worker.run(self.stop_event))
        if self.webhooks is not None:
            self._webhook_task = asyncio.create_task(self.webhooks.run(self.stop_event))
        self._worker_task.add_done_callback(self._worker_ended)

    async def _make_routes(self) -> None:
        c = self.config
        self.routes: dict[str, Route] = {}
        for rc in c.routes:
            self.routes[rc.label] = await self._make_route(rc)
        links = {}
        for rc in c.routes:
            sender = self.routes[rc.label]
            if rc.fallback_sms != "off" and isinstance(sender, BuiltinMMSC | RestRoute):
                links[rc.label] = LinkPolicy(
                    mode=rc.fallback_sms,
                    sender=sender,
                    public_url=c.mmsc.base_url(self.web.port(Listener.PUBLIC)),
                    sms_only_prefixes=rc.sms_only_prefixes,
                )
        self.router = Router(
            self.routes, route_rules(c), {r.label: r.max_per_second for r in c.routes}, limits=self.store, links=links
        )

    def _make_worker(self) -> Worker:
        c, d = self.config, self.config.delivery
        assert self.router is not None
        return Worker(
            metrics=self.metrics,
            store=self.store,
            route=self.router,
            on_expiry=self.router.on_expiry if self.router.links else None,
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
                notify_changes=c.reports.notify_changes,
            ),
        )

    def _make_intake(self) -> Intake:
        c = self.config
        s, cv = c.smtp, c.convert
        return Intake(
            metrics=self.metrics,
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
                duplicate_window_s=s.duplicate_window_s,
                expiry_s=c.delivery.expiry_s,
                conversion_deadline_s=s.conversion_deadline_s,
                profile=convert_profile(cv),
                convert=convert_options(cv),
                route_profile=self._route_profile() if any(r.budget for r in c.routes) else None,
            ),
            store=self.store,
            executor=self._executor,
            conversion_slots=s.conversion_threads,
            on_queued=self.worker.wake,
        )

    async def _start_web(self) -> None:
        c = self.config
        await self.web.start()
        if self.web.running(Listener.ADMIN):
            self.admin_port = self.web.port(Listener.ADMIN)
            log.info("admin listening on %s:%d", c.admin.host, self.admin_port)
        if self.web.running(Listener.PUBLIC):
            self.http_port = self.web.port(Listener.PUBLIC)
            log.info("web side listening on %s:%d (%s)", c.mmsc.host, self.http_port, c.mmsc.base_url(self.http_port))

    async def _listen_smtp(self) -> None:
        """The SMTP (or LMTP) listener: the intake glue, DKIM, TLS and AUTH, the connection limits."""
        s = self.config.smtp
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
        authenticator = checked_by_the_protocol if self.password_checker is not None else None
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
        log.info("smtp listening on %s:%d", s.host, self.port)

    def _install_web_surfaces(self) -> None:
        """Each HTTP surface the configuration calls for, installed on the web server."""
        c = self.config
        if c.admin.enabled:

            async def routes() -> dict[str, str | None]:
                return await self.router.readiness() if self.router is not None else {}

            async def route_health() -> dict[str, dict[str, Any]]:
                """Each route: ready or why not, and its last success and failure in this process."""
                if self.router is None:
                    return {}
                ready = await self.router.readiness()
                found = {}
                for name, why in ready.items():
                    h = self.router.health.get(name, RouteHealth())
                    found[name] = {"ready": why, "last_success_at": h.last_success_at,
                                   "last_failure_at": h.last_failure_at, "last_failure": h.last_failure}  # fmt: skip
                return found

            Operations(metrics=self.metrics, store=self.store, routes=routes).install(self.web)
            self.webhooks = WebhookSender(self.store)
            Api(
                intake=lambda: self.intake,
                store=self.store,
                domain=c.smtp.domains[0],
                on_change=lambda: self.worker.wake(),
            ).install(self.web)
            if c.admin.users_file:
                self.console = Console(
                    settings=ConsoleSettings(
                        session_secret=session_secret(c.admin.session_secret_file),
                        session_lifetime_s=c.admin.session_lifetime_s,
                        secure_cookies=c.admin.secure_cookies,
                        public_url=c.mmsc.base_url(self.web.port(Listener.PUBLIC))
                        if any(r.kind is RouteKind.BUILTIN for r in c.routes)
                        else "",
                        budgets={
                            r.label: convert_profile(c.convert, r.budget or None).max_message_bytes for r in c.routes
                        },
                    ),
                    passwords=PasswordChecker(load_users(Path(c.admin.users_file), key="admin.users_file")),
                    store=self.store,
                    routes=route_health,
                    commits=lambda: self.commits,
                )
                self.console.install(self.web)
        if any(r.kind is RouteKind.BUILTIN for r in c.routes):
            MmscWeb(
                store=self.store,
                ack_wait_s=c.mmsc.ack_wait_s,
                on_answer=lambda: self.worker.wake(),
                metrics=self.metrics,
            ).install(self.web)
            if c.sms.kind is SmsKind.KANNEL and c.sms.kannel.dlr:
                self.dlr = KannelReports()
                self.dlr.install(self.web)
            if c.sms.kind is SmsKind.KANNEL and c.sms.kannel.mo_key:
                KannelMO(key=c.sms.kannel.mo_key, on_message=self.sms_reply).install(self.web)
        if any(r.fallback_sms != "off" for r in c.routes):
            MessagePage(store=self.store).install(self.web)
        rest = {r.label: r.rest for r in c.routes if r.kind in REST_KINDS}
        if rest:
            public_url = c.mmsc.base_url(self.web.port(Listener.PUBLIC))
            MediaWeb(store=self.store).install(self.web)
            RestCallbacks(
                routes={name: s for name, s in rest.items() if s.status_callbacks},
                store=self.store,
                public_url=public_url,
                on_answer=lambda: self.worker.wake(),
                metrics=self.metrics,
                replies=self.replies,
            ).install(self.web)
        callbacks = {r.label: r.mm7 for r in c.routes if r.kind is RouteKind.MM7}
        if callbacks:
            MM7Endpoint(
                metrics=self.metrics,
                routes=callbacks,
                store=self.store,
                mailer=self.mailer,
                domain=c.smtp.domains[0],
                reporting_ua=c.smtp.hostname,
                on_answer=lambda: self.worker.wake(),
                replies=self.replies,
            ).install(self.web)

    async def sms_reply(self, mo: MOText) -> None:
        """A phone's SMS (SMPP deliver_sm, Kannel's /sms/mo) to the reply path."""
        number = phone_number(mo.sender)
        if self.replies is None or number is None:
            log.info("sms mo=ignored why=%s", "replies are off" if self.replies is None else "not a phone number")
            return
        await self.replies.take(PhoneReply(sender=number, text=mo.text, via=self.config.sms.kind.value))

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
        budgets = {r.label: convert_profile(c.convert, r.budget) if r.budget else default for r in c.routes}
        rules = route_rules(c)

        def profile_for(number: MSISDN) -> Profile:
            rule = choose(rules, number.e164)
            return budgets[rule.name] if rule is not None else default

        return profile_for

    async def _make_route(self, rc: RouteConfig) -> Route:
        """The route one `[[route]]` describes: the builtin MMSC here (it needs the web server's URL and starts
        the SMS transport), every other kind from its own settings (`wiring.ROUTES`)."""
        c = self.config
        if rc.kind is RouteKind.BUILTIN:
            public_url = c.mmsc.base_url(self.web.port(Listener.PUBLIC))
            self.push = make_push_sender(c, public_url, on_message=self.sms_reply)
            await self.push.start()
            if isinstance(self.push, SMPPPushSender):
                push = self.push
                self.metrics.watch_smpp(lambda: push.bound, lambda: push.in_flight)
            return BuiltinMMSC(
                push=self.push,
                public_url=public_url,
                sender_in_notification=c.mmsc.sender_in_notification,
                metrics=self.metrics,
                transport=c.sms.kind.value,
            )
        if rc.kind in REST_KINDS:
            return rest_route(rc, c.mmsc.base_url(self.web.port(Listener.PUBLIC)))
        return ROUTES[rc.kind](rc)

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
        if self.console is not None:
            self.console.close()
        if self._webhook_task is not None:
            await self._webhook_task
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
    # the handlers come before "ready" is said: a signal sent as soon as it is must not find the default action
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bridge.stop_event.set)
    loop.add_signal_handler(signal.SIGHUP, bridge.reload)
    if on_ready is not None:
        on_ready(bridge)
    notify(f"READY=1\nSTATUS=SMTP on {config.smtp.host}:{bridge.port}")
    await bridge.stop_event.wait()
    notify("STOPPING=1\nSTATUS=finishing the mail in flight")
    log.info("shutting down: no new mail, finishing what is in flight")
    await bridge.stop()
    if bridge.worker_died:
        raise WorkerDied("the delivery worker stopped; exiting so that the service manager restarts the bridge")
