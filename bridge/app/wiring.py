"""Wiring: the one place that picks concrete adapters from the configuration — the store, the report sender, the
SMS transport, each route — and the converter's budget and options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bridge.adapters.mail.base import MailSender
from bridge.adapters.mail.outbox import OutboxMailSender
from bridge.adapters.mail.relay import RelayMailSender
from bridge.adapters.mmsc.base import Route
from bridge.adapters.mmsc.eaif import EAIFRoute
from bridge.adapters.mmsc.folder import FolderRoute
from bridge.adapters.mmsc.mm1 import MM1Route
from bridge.adapters.mmsc.mm7 import MM7Route
from bridge.adapters.rest.bandwidth import BandwidthRoute
from bridge.adapters.rest.telnyx import TelnyxRoute
from bridge.adapters.rest.twilio import TwilioRoute
from bridge.adapters.sms.base import PushSender
from bridge.adapters.sms.kannel import KannelPushSender
from bridge.adapters.sms.mo import MOText
from bridge.adapters.sms.outbox import OutboxPushSender
from bridge.adapters.sms.smpp import SMPPPushSender
from bridge.adapters.store.base import JobStore
from bridge.adapters.store.postgres import PostgresJobStore
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.config import (
    BandwidthSettings,
    Config,
    ConvertConfig,
    ReportKind,
    RouteConfig,
    RouteKind,
    SmsKind,
    TelnyxSettings,
    TwilioSettings,
)
from bridge.convert.compose import ConvertOptions
from bridge.convert.profile import Profile, profile_from
from bridge.routing import RouteRule


def route_rules(config: Config) -> list[RouteRule]:
    """`[[route]]` as the rules `bridge.routing.choose` reads."""
    return [RouteRule(name=r.label, prefixes=r.prefixes, fallback=r.fallback or None) for r in config.routes]


async def open_store(config: Config) -> JobStore:
    """The job store `[store]` names (for `bridge serve`, `bridge queue` and `bridge db`)."""
    if config.store.is_postgresql:
        return await PostgresJobStore.open(config.store.postgresql_dsn, max_size=config.store.pool_size)
    return await SQLiteJobStore.open(config.store.sqlite_path)


def make_mailer(config: Config) -> MailSender:
    r = config.reports
    if r.kind is ReportKind.RELAY:
        return RelayMailSender(
            host=r.relay_host,
            port=r.relay_port,
            timeout_s=r.relay_timeout_s,
            starttls=r.relay_starttls,
            helo=config.smtp.hostname,
        )
    return OutboxMailSender(Path(r.outbox))


OnMessage = Callable[[MOText], Awaitable[None]] | None


def _kannel(config: Config, public_url: str, on_message: OnMessage) -> PushSender:
    # phones' messages come through Kannel's sms-service to /sms/mo (`KannelMO`), not through the sender
    return KannelPushSender(config.sms.kannel, dlr_url=f"{public_url}/sms/dlr")


def _smpp(config: Config, public_url: str, on_message: OnMessage) -> PushSender:
    return SMPPPushSender(config.sms.smpp, on_message=on_message)


def _outbox(config: Config, public_url: str, on_message: OnMessage) -> PushSender:
    return OutboxPushSender(Path(config.sms.outbox))


#: each SMS transport kind and what makes it
PUSH_SENDERS: dict[SmsKind, Callable[[Config, str, OnMessage], PushSender]] = {
    SmsKind.OUTBOX: _outbox,
    SmsKind.SMPP: _smpp,
    SmsKind.KANNEL: _kannel,
}


def make_push_sender(config: Config, public_url: str, *, on_message: OnMessage = None) -> PushSender:
    """The SMS transport `[sms]` names, for the builtin MMSC's notifications (`public_url`: the MMSC's base URL,
    where Kannel's delivery reports come back); `on_message` takes the phones' messages an SMSC delivers."""
    return PUSH_SENDERS[config.sms.kind](config, public_url, on_message)


def _mm7(rc: RouteConfig) -> Route:
    return MM7Route(rc.mm7, name=rc.label)


def _eaif(rc: RouteConfig) -> Route:
    return EAIFRoute(rc.eaif, name=rc.label)


def _mm1(rc: RouteConfig) -> Route:
    return MM1Route(rc.mm1, name=rc.label)


def _folder(rc: RouteConfig) -> Route:
    return FolderRoute(Path(rc.folder.folder))


#: each route kind that needs nothing but its own settings, and what makes it (the builtin MMSC is made by the
#: running bridge: it needs the web server's URL and the SMS transport)
ROUTES: dict[RouteKind, Callable[[RouteConfig], Route]] = {
    RouteKind.MM7: _mm7,
    RouteKind.EAIF: _eaif,
    RouteKind.MM1: _mm1,
    RouteKind.FOLDER: _folder,
}


def rest_route(rc: RouteConfig, public_url: str) -> Route:
    """A REST aggregator's route: it needs the public URL, where the provider fetches media and posts callbacks."""
    s = rc.rest
    if isinstance(s, TwilioSettings):
        return TwilioRoute(s, name=rc.label, public_url=public_url)
    if isinstance(s, TelnyxSettings):
        return TelnyxRoute(s, name=rc.label, public_url=public_url)
    assert isinstance(s, BandwidthSettings)
    return BandwidthRoute(s, name=rc.label, public_url=public_url)


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
        max_link_url_chars=cv.max_link_url_chars,
        media_time_limit_s=cv.media_time_limit_s,
    )
