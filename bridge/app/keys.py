"""API keys, for `bridge keys`: made here, shown once, stored as a digest (`bridge.adapters.web.api.digest`)."""

from __future__ import annotations

import secrets
import time

from bridge.adapters.web.api import SCOPES, callback_url, digest
from bridge.errors import InputError, RequestRefused
from bridge.model import ApiKey


def new_key(*, name: str, scopes: list[str], rate_per_minute: int = 0, status_callback: str = "") -> tuple[ApiKey, str]:
    """A key and its secret (the `Authorization: Bearer` value, shown this once); `status_callback`: where the
    status events of its messages go when a message names none."""
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise InputError(f"keys create --scope: one or more of {', '.join(sorted(SCOPES))}, got {scopes}")
    if not name or any(c in name for c in "\r\n\0"):
        raise InputError("keys create --name: a name without line breaks")
    if rate_per_minute < 0:
        raise InputError("keys create --rate: 0 (no limit) or more messages a minute")
    try:
        callback = callback_url(status_callback)
    except RequestRefused as exc:
        raise InputError(f"keys create --status-callback: {exc.detail}") from exc
    key_id = secrets.token_hex(6)
    secret = f"mbk_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=key_id,
        name=name,
        digest=digest(secret),
        scopes=frozenset(scopes),
        created_at=time.time(),
        rate_per_minute=rate_per_minute,
        webhook_secret=secrets.token_urlsafe(32),
        status_callback=callback,
    )
    return key, secret
