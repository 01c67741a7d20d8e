"""What `bridge check-config` checks beyond the values (the certificate and key load, the users file parses,
every folder the bridge writes to can be written) and which route a number takes."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.adapters.smtp.auth import load_users, tls_context
from bridge.app.wiring import route_rules
from bridge.config import REST_KINDS, Config, ReportKind, RouteKind, SmsKind
from bridge.errors import ConfigError
from bridge.model import MSISDN
from bridge.recipients import RecipientPolicy, parse_recipient
from bridge.routing import choose


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
    if config.admin.users_file:
        load_users(Path(config.admin.users_file), key="admin.users_file")
    folders = {"smtp.spool_dir": Path(s.spool_dir)}
    if not config.store.is_postgresql:
        folders["store.url"] = config.store.sqlite_path.parent
    for route in config.routes:
        if route.kind is RouteKind.FOLDER:
            folders["route.folder.folder"] = Path(route.folder.folder)
        elif route.kind is RouteKind.BUILTIN and config.sms.kind is SmsKind.OUTBOX:
            folders["sms.outbox"] = Path(config.sms.outbox)
        own = getattr(route, route.kind.value, None)
        ca_file = getattr(own, "ca_file", "")
        if ca_file and not os.access(ca_file, os.R_OK):
            raise ConfigError(f"route.{route.kind.value}.ca_file: {ca_file} cannot be read (route {route.label!r})")
    rest = [r.label for r in config.routes if r.kind in REST_KINDS]
    if rest and not config.mmsc.public_url:
        # the provider fetches the media and posts its callbacks from the internet: the listening address on
        # loopback is no address for it
        raise ConfigError(
            f"mmsc.public_url: the address the REST routes' provider reaches the bridge at is needed "
            f"(route {rest[0]!r} serves its media and takes its callbacks there)"
        )
    if config.reports.kind is ReportKind.OUTBOX:
        folders["reports.outbox"] = Path(config.reports.outbox)
    for key, folder in folders.items():
        if not _writable(folder):
            raise ConfigError(f"{key}: {folder} cannot be written")


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
