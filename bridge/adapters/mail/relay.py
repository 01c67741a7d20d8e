"""Reports sent through an SMTP relay with aiosmtplib; its exceptions become `TemporaryFailure`."""

from __future__ import annotations

import aiosmtplib

from bridge.errors import TemporaryFailure


class RelayMailSender:
    def __init__(self, *, host: str, port: int, timeout_s: float, starttls: bool, helo: str) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.starttls = starttls
        self.helo = helo

    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        try:
            await aiosmtplib.send(
                data,
                sender=mail_from,
                recipients=[to],
                hostname=self.host,
                port=self.port,
                timeout=self.timeout_s,
                start_tls=self.starttls,
                local_hostname=self.helo,
            )
        except aiosmtplib.SMTPException as exc:
            raise TemporaryFailure(f"relay {self.host}:{self.port}: {exc}", "4.4.1") from exc
        except OSError as exc:
            raise TemporaryFailure(f"relay {self.host}:{self.port}: {exc}", "4.4.1") from exc
