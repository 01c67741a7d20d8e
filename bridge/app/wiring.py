"""Wiring: the one place that picks concrete adapters from the configuration — the store, the report sender, the
SMS transport, each route — and the converter's budget and options."""

from __future__ import annotations

from pathlib import Path

from bridge.adapters.mail.base import MailSender
from bridge.adapters.mail.outbox import OutboxMailSender
from bridge.adapters.mail.relay import RelayMailSender
from bridge.adapters.sms.base import PushSender
from bridge.adapters.sms.kannel import KannelPushSender, KannelSettings
from bridge.adapters.sms.outbox import OutboxPushSender
from bridge.adapters.sms.smpp import SMPPPushSender, SMPPSettings
from bridge.adapters.store.base import JobStore
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.config import Config, ConvertConfig
from bridge.convert.compose import ConvertOptions
from bridge.convert.profile import Profile, profile_from
from bridge.routing import RouteRule


def route_rules(config: Config) -> list[RouteRule]:
    """`[[route]]` as the rules `bridge.routing.choose` reads."""
    return [RouteRule(name=r.label, prefixes=r.prefixes, fallback=r.fallback or None) for r in config.routes]


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
