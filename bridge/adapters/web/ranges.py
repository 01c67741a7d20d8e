"""Byte ranges (RFC 9110 14.1.2, 14.4) for the surfaces that serve content: one `bytes=` range is served as 206;
several ranges, another unit or nonsense get the whole body; a range past the end is unsatisfiable (416)."""

from __future__ import annotations

from aiohttp import web


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One `bytes=` range as (first, last) inclusive; None to serve it all; False when unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash or not (first_s.isdigit() or last_s.isdigit()):
        return None
    if not first_s:
        length = int(last_s)
        return (max(0, size - length), size - 1) if length and size else False
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s.isdigit() else size - 1
    if first >= size or (last_s and int(last_s) < first):
        return False
    return first, last


def ranged_response(request: web.Request, data: bytes, content_type: str) -> web.Response:
    """`data` whole (200) or the one range the request asks for (206), or 416; HEAD gets the headers alone."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    wanted = parse_range(request.headers["Range"], size) if "Range" in request.headers else None
    if wanted is False:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    if isinstance(wanted, tuple):
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    # aiohttp answers HEAD with these headers (Content-Length included) and no body
    return web.Response(
        status=206 if isinstance(wanted, tuple) else 200,
        headers=headers,
        body=data[first : last + 1],
        content_type=content_type,
    )
