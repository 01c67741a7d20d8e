"""What the HTTP adapters share (the MM7, EAIF and MM1 routes, Kannel): one httpx client each, and HTTP trouble
mapped to our delivery errors at this boundary (httpx's exceptions never leave it).

- no connection, a timeout, a dropped connection: temporary (4.4.1 / 4.4.2); once the request was written, an
  `UnknownOutcome` (the peer may have taken it);
- 5xx, 408, 429, and 401/403 (our credentials: an operator fixes them, the queue drains): temporary 4.4.2;
- any other 4xx: permanent 5.3.0 (the MMSC refuses the request itself).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httpx

from bridge.errors import PermanentFailure, TemporaryFailure, UnknownOutcome

TEMPORARY_HTTP = frozenset({401, 403, 408, 429})


def client(
    *,
    timeout_s: float,
    username: str = "",
    password: str = "",
    ca_file: str = "",
    proxy: str = "",
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
    return httpx.AsyncClient(
        timeout=timeout_s,
        auth=(username, password) if username else None,
        verify=verify,
        proxy=proxy or None,
        transport=transport,
        headers={"User-Agent": "mms-bridge"},
    )


async def post(
    http: httpx.AsyncClient, where: str, url: str, *, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    try:
        return await http.post(url, content=content, headers=headers)
    except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
        # the request was written: the peer may have taken it and died or stalled before answering
        status = "4.4.1" if isinstance(exc, httpx.ReadTimeout) else "4.4.2"
        raise UnknownOutcome(f"{where}: no answer after the request was sent ({type(exc).__name__})", status) from exc
    except httpx.TimeoutException as exc:
        raise TemporaryFailure(f"{where}: no answer in time ({type(exc).__name__})", "4.4.1") from exc
    except httpx.ConnectError as exc:
        raise TemporaryFailure(f"{where}: cannot connect ({exc})", "4.4.1") from exc
    except httpx.HTTPError as exc:
        raise TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}", "4.4.2") from exc


def status_failure(where: str, response: httpx.Response) -> TemporaryFailure | PermanentFailure:
    text = " ".join(response.text.split())[:200]
    detail = f"{where} answered HTTP {response.status_code}" + (f": {text}" if text else "")
    if response.status_code >= 500 or response.status_code in TEMPORARY_HTTP:
        return TemporaryFailure(detail, "4.4.2")
    return PermanentFailure(detail, "5.3.0")


async def reachable(url: str, *, timeout_s: float = 2.0) -> str | None:
    """None when a TCP connection to `url`'s host and port opens within `timeout_s`; else why not (for
    `/readyz`: a peer that does not even accept connections cannot take a message)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout_s)
    except (OSError, TimeoutError) as exc:
        return f"{parts.hostname}:{port} unreachable ({type(exc).__name__})"
    writer.close()
    return None
