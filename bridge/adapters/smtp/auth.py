"""SMTP AUTH and TLS: passwords (RFC 4954 PLAIN and LOGIN) checked against the users file's bcrypt hashes
(`bridge.adapters.passwords`, shared with the console's login: every bad credential is `535 5.7.8`), and the
STARTTLS context (RFC 3207).
"""

from __future__ import annotations

import ssl
from typing import Any

import bcrypt
from aiosmtpd.smtp import AuthResult

from bridge.adapters.passwords import BCRYPT_MAX_BYTES, PasswordChecker, load_users
from bridge.errors import ConfigError


def checked_by_the_protocol(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """aiosmtpd offers AUTH only with an authenticator; `BridgeSMTP` checks passwords itself, asynchronously
    (`PasswordChecker`), so this one is never asked and refuses if it were."""
    return AuthResult(success=False, handled=False)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.tls_cert_file: {cert} with {key}: {exc}") from exc
    return ctx


# the SMTP adapter's names for what it shares with the console
__all__ = ["BCRYPT_MAX_BYTES", "PasswordChecker", "bcrypt", "checked_by_the_protocol", "load_users", "tls_context"]
