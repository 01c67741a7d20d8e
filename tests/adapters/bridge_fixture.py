"""A whole bridge in the test's event loop, on 127.0.0.1 port 0, with its files in a temporary folder."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bridge.app import Bridge
from bridge.config import (
    ROUTE_SETTINGS,
    Config,
    DeliveryConfig,
    KannelSettings,
    MmscConfig,
    ReportsConfig,
    RouteConfig,
    RouteKind,
    SMPPSettings,
    SmsConfig,
    SmsKind,
    SmtpConfig,
    StoreConfig,
)
from tests.pg import database_url

DOMAIN = "mms.example.net"
_ROUTE_KEYS = frozenset(
    {"name", "kind", "prefixes", "fallback", "profile", "max_per_second", "fallback_sms", "sms_only_prefixes"}
)


def route_config(**keys: Any) -> RouteConfig:
    """A route from the keys of [[route]] and of its kind's own table ([route.mm7], ...) given together."""
    kind = RouteKind(keys.get("kind", "builtin"))
    top = {k: v for k, v in keys.items() if k in _ROUTE_KEYS}
    own = {k: v for k, v in keys.items() if k not in _ROUTE_KEYS}
    if own:
        top[kind.value] = ROUTE_SETTINGS[kind](**own)
    return RouteConfig(**top)


def sms_config(kind: str, **keys: Any) -> SmsConfig:
    """An [sms] section with the chosen transport's own table ([sms.smpp] or [sms.kannel]) from `keys`."""
    if kind == SmsKind.SMPP:
        return SmsConfig(kind=SmsKind.SMPP, smpp=SMPPSettings(**keys))
    if kind == SmsKind.KANNEL:
        return SmsConfig(kind=SmsKind.KANNEL, kannel=KannelSettings(**keys))
    return SmsConfig(kind=SmsKind.OUTBOX, **keys)


#: the store the bridges of a test use; `both_stores` runs a test once on each
STORE = {"kind": "sqlite"}


def store_config(tmp: Path) -> StoreConfig:
    """SQLite in `tmp`, or a database of its own on the session's PostgreSQL cluster (tests/pg.py)."""
    if STORE["kind"] == "postgresql":
        return StoreConfig(url=database_url(tmp))
    return StoreConfig(url=f"sqlite:///{tmp / 'bridge.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def both_stores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Use as `pytestmark = pytest.mark.usefixtures("both_stores")` or as a test's argument."""
    monkeypatch.setitem(STORE, "kind", request.param)
    return str(request.param)


def bridge_config(tmp: Path, **smtp: Any) -> Config:
    base = SmtpConfig(
        host="127.0.0.1",
        port=0,
        hostname="bridge.test",
        domains=(DOMAIN,),
        spool_dir=str(tmp / "spool"),
        rate_limit_per_minute=0,
        # the tests send the same mail (one Message-ID) again and again; the duplicate check is tested on its own
        duplicate_window_s=0,
    )
    return Config(
        smtp=dataclasses.replace(base, **smtp),
        store=store_config(tmp),
        delivery=DeliveryConfig(poll_s=0.05, first_retry_s=0.2, max_retry_s=1.0, delay_warning_s=0),
        routes=(route_config(kind="folder", folder=str(tmp / "delivered")),),
        mmsc=MmscConfig(host="127.0.0.1", port=0),
        reports=ReportsConfig(outbox=str(tmp / "outbox")),
    )


def builtin_config(tmp: Path, *, sms: SmsConfig | None = None, delivery: Any = None, **mmsc: Any) -> Config:
    """The bridge with its builtin MMSC on 127.0.0.1 port 0 and the SMS outbox (or `sms`) in `tmp`."""
    base = bridge_config(tmp)
    return dataclasses.replace(
        base,
        routes=(RouteConfig(kind="builtin"),),
        mmsc=MmscConfig(**{"host": "127.0.0.1", "port": 0, "ack_wait_s": 0.3, **mmsc}),
        sms=sms or SmsConfig(outbox=str(tmp / "sms")),
        delivery=delivery or base.delivery,
    )


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Bridge]:
    bridge = Bridge(config)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.stop()
