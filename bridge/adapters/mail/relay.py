"""Reports sent through an SMTP relay with aiosmtplib; its exceptions become `TemporaryFailure`."""

from __future__ import annotations

import aiosmtplib

from bridge.adapters.mail.base import check_addresses
from bridge.errors import PermanentFailure, TemporaryFailure


class RelayMailSender:
    def __init__(self, *, host: str, port: int, timeout_s: float, starttls: bool, helo: str) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.starttls = starttls
        self.helo = helo

    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        check_addresses(mail_from, to)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            start_tls=self.starttls,
            local_hostname=self.helo,
        )
        try:
            await client.connect()
            try:
                # reports go from the null sender (RFC 3464 2.3.1), which aiosmtplib.send() will not take
                errors, _ = await client.sendmail(mail_from, [to], data)
            finally:
                await client.quit()
        except aiosmtplib.SMTPRecipientRefused as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"relay {self.host}:{self.port} refused {to}: {exc}", "5.1.1") from exc
            raise TemporaryFailure(f"relay {self.host}:{self.port}: {exc}", "4.4.1") from exc
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            raise TemporaryFailure(f"relay {self.host}:{self.port}: {exc}", "4.4.1") from exc
        if errors:
            raise TemporaryFailure(f"relay {self.host}:{self.port} refused {to}: {errors}", "4.4.1")
