"""The `bridge` command line.

Owns argument parsing and printing; the renderings of PDUs live in `codec/describe.py`. Commands:
`bridge decode FILE...` (an MMS PDU, a hex dump, or the SMS user data / TPDUs of a WAP Push),
`bridge convert MAIL.eml` and `bridge check-config [--config FILE]`.
Exit status: 0 success, 1 bad input (or a refused mail), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import string
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.codec.describe import Decoded, describe, render_text, value_of, vars_of
from bridge.codec.mms import Pdu, decode_pdu, encode_pdu
from bridge.codec.wap_push import (
    WAP_PUSH_PORT,
    decode_tpdu,
    decode_user_data,
    decode_wsp_push,
    reassemble,
)
from bridge.config import Config, load_config
from bridge.convert.compose import ConversionRefused, convert_mail, retrieve_conf, send_req
from bridge.errors import ConfigError, DecodeError, InputError, PhoneError, StoreError, WorkerDied
from bridge.model import JobState
from bridge.phone import Answer, Phone

FORMS = ("auto", "pdu", "ud", "tpdu", "tpdu-smsc", "wsp")
_HEX_CHARS = frozenset(string.hexdigits + string.whitespace + ":")


# --- reading inputs --------------------------------------------------------------------------------------


def _read_blobs(path: Path, max_bytes: int) -> list[bytes]:
    """The binary items in one file: the file itself, or one item per line of a hex dump."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{path}: {size} bytes, over decode.max_input_bytes ({max_bytes})")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return [raw]
    cleaned = text.replace("0x", "").replace("0X", "")
    if not cleaned.strip() or not set(cleaned) <= _HEX_CHARS:
        return [raw]
    blobs = []
    for n, line in enumerate(cleaned.splitlines(), 1):
        digits = "".join(ch for ch in line if ch in string.hexdigits)
        if not digits:
            continue
        if len(digits) % 2:
            raise InputError(f"{path}: line {n}: an even number of hex digits, got {len(digits)}")
        blobs.append(bytes.fromhex(digits))
    return blobs


def _as_user_data(blob: bytes, form: str) -> bytes | None:
    """The SMS user data in `blob` if it is a push segment in the given (or guessed) form."""
    if form == "ud":
        return blob
    if form in ("tpdu", "tpdu-smsc"):
        return bytes(decode_tpdu(blob, smsc_prefix=form == "tpdu-smsc").user_data)
    if form != "auto":
        return None
    candidates: list[bytes] = [blob]
    for prefixed in (True, False):
        try:
            tpdu = decode_tpdu(blob, smsc_prefix=prefixed)
        except DecodeError:
            continue
        if tpdu.udhi:
            candidates.append(bytes(tpdu.user_data))
    for ud in candidates:
        try:
            seg = decode_user_data(ud)
        except DecodeError:
            continue
        if seg.destination_port == WAP_PUSH_PORT:
            return ud
    return None


def decode_inputs(paths: Sequence[Path], form: str, config: Config) -> Decoded:
    blobs: list[tuple[Path, bytes]] = []
    for path in paths:
        blobs.extend((path, b) for b in _read_blobs(path, config.decode.max_input_bytes))
    if not blobs:
        raise InputError(f"{', '.join(map(str, paths))}: no data")
    if len(blobs) == 1 and form in ("auto", "pdu") and blobs[0][1][:1] == b"\x8c":
        path, blob = blobs[0]
        return Decoded(pdu=_decode_pdu(path, blob), push=None, segments=0, size=len(blob))
    if len(blobs) == 1 and form == "wsp":
        path, blob = blobs[0]
        return _decode_push(path, blob, segments=0)
    uds = []
    for path, blob in blobs:
        ud = _as_user_data(blob, form)
        if ud is None:
            if len(blobs) == 1 and form == "auto" and len(blob) > 1 and blob[1] in (0x06, 0x07):
                return _decode_push(path, blob, segments=0)
            raise InputError(
                f"{path}: neither an MMS PDU (first octet 0x8C) nor an SMS segment of a WAP Push "
                f"(port {WAP_PUSH_PORT}); try --form"
            )
        uds.append(ud)
    try:
        push = reassemble(uds)
    except DecodeError as exc:
        raise InputError(f"{', '.join(map(str, paths))}: SMS segments: {exc}") from exc
    return _decode_push(paths[0], push, segments=len(uds))


def _decode_pdu(path: Path, blob: bytes | memoryview) -> Pdu:
    try:
        return decode_pdu(blob)
    except DecodeError as exc:
        raise InputError(f"{path}: MMS PDU: {exc}") from exc


def _decode_push(path: Path, blob: bytes, *, segments: int) -> Decoded:
    try:
        push = decode_wsp_push(blob)
    except DecodeError as exc:
        raise InputError(f"{path}: WSP push: {exc}") from exc
    pdu = None
    if push.content_type.media_type.lower() == "application/vnd.wap.mms-message":
        pdu = _decode_pdu(path, push.body)
    return Decoded(pdu=pdu, push=push, segments=segments, size=len(blob))


# --- commands --------------------------------------------------------------------------------------------


def _cmd_decode(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    decoded = decode_inputs([Path(p) for p in args.files], args.form, config)
    info = describe(decoded)
    print(json.dumps(info, indent=2, ensure_ascii=False) if args.json else render_text(info))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    path = Path(args.mail)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    from bridge.app import convert_options, convert_profile

    settings = load_config(args.config).convert
    profile = convert_profile(settings, args.profile)
    options = convert_options(settings, keep_signature=args.keep_signature, keep_quotes=args.keep_quotes)
    try:
        conv = convert_mail(raw, profile=profile, options=options)
    except ConversionRefused as exc:
        if args.json:
            print(json.dumps({"refused": {"status": exc.status, "reason": exc.reason}}, indent=2))
        print(f"bridge convert: {path}: refused ({exc.status}): {exc.reason}", file=sys.stderr)
        return 1
    to = ("+10000000000/TYPE=PLMN",)
    if args.send_req:
        pdu: Pdu = send_req(conv, transaction_id="bridge-convert", to=to)
    else:
        pdu = retrieve_conf(conv, to=to, message_id="bridge-convert")
    data = encode_pdu(pdu)
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot be written ({exc.strerror})") from exc
    info = {
        "pdu": pdu.MESSAGE_TYPE.name.lower().replace("_", "-"),
        "bytes": len(data),
        "budget": {"profile": profile.name, "max_message_bytes": profile.max_message_bytes},
        "subject": conv.subject,
        "slides": [{k: v for k, v in vars_of(s).items() if v is not None} for s in conv.slides],
        "parts": [{k: v for k, v in vars_of(i).items() if v is not None} for i in conv.items],
        "dropped": list(conv.dropped),
        "warnings": list(conv.warnings),
    }
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(
        f"{info['pdu']}: {len(data):,} of {profile.max_message_bytes:,} bytes ({profile.name}), "
        f"{len(conv.slides)} slide(s){' -> ' + str(args.output) if args.output else ''}"
    )
    for item in conv.items:
        size = f"{item.width}x{item.height} " if item.width else ""
        source = f" from {item.source}" if item.source else ""
        print(f"  {item.location:<12} {item.media_type:<18} {size}{item.size:,} bytes{source}")
    for note in conv.dropped:
        print(f"  dropped: {note}")
    for warning in conv.warnings:
        print(f"  warning: {warning}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from bridge.app import Bridge, serve, setup_logging  # the server's dependencies load only here

    config = load_config(args.config)
    setup_logging(config.log.level, form=config.log.format, show_phone_numbers=config.log.show_phone_numbers)

    def ready(bridge: Bridge) -> None:
        print(
            f"mms-bridge: SMTP on {config.smtp.host}:{bridge.port}, domains {', '.join(config.smtp.domains)}",
            flush=True,
        )
        if bridge.http_port is not None:
            print(f"mms-bridge: MMSC on {config.mmsc.base_url(bridge.http_port)}/m/", flush=True)
        if bridge.admin_port is not None:
            print(f"mms-bridge: admin on http://{config.admin.host}:{bridge.admin_port}/", flush=True)

    try:
        asyncio.run(serve(config, on_ready=ready))
    except WorkerDied as exc:
        print(f"mms-bridge: {exc}", file=sys.stderr, flush=True)
        return 70
    return 0


def _cmd_queue(args: argparse.Namespace) -> int:
    from bridge.app import open_store
    from bridge.model import JobState

    config = load_config(args.config)

    async def run() -> int:
        store = await open_store(config)
        try:
            if args.action == "ls":
                state = JobState(args.state) if args.state else None
                for job in await store.list(state=state, limit=args.limit):
                    number = job.recipient.e164 if config.log.show_phone_numbers else job.recipient.masked
                    print(f"{job.id}  {job.state:<9} {number:<16} attempts={job.attempts} {job.last_status or ''}")
                return 0
            if not args.id:
                raise InputError(f"queue {args.action}: needs a job id")
            if args.action == "show":
                found = await store.get(args.id)
                if found is None:
                    raise InputError(f"queue show: no job {args.id}")
                message = await store.message(found.message_id)
                print(
                    json.dumps(
                        {
                            "job": {k: value_of(v) for k, v in vars_of(found).items()}
                            | {"recipient": found.recipient.masked},
                            "message": {
                                "id": message.id,
                                "mail_from": message.mail_from,
                                "subject": message.subject,
                                "raw_bytes": len(message.raw),
                                "mms_bytes": len(message.mms),
                            },
                        },
                        indent=2,
                        default=str,
                    )
                )
                return 0
            if args.action == "retry":
                ok = await store.requeue(args.id, now=time.time())
                print(f"{args.id}: {'queued for a try now' if ok else 'not pending (final or unknown)'}")
                return 0 if ok else 1
            ok = await store.purge(args.id)
            print(f"{args.id}: {'purged' if ok else 'unknown'}")
            return 0 if ok else 1
        finally:
            await store.close()

    return asyncio.run(run())


def _cmd_send(args: argparse.Namespace) -> int:
    """`bridge send`: a message through the running bridge's HTTP API (the admin listener), its ids printed;
    with --wait, followed until every recipient's job is final (exit 0 when all were delivered, 2 when not)."""
    import os

    import httpx

    config = load_config(args.config)
    url = (
        args.url or os.environ.get("MMS_BRIDGE_API_URL") or f"http://{config.admin.host}:{config.admin.port}"
    ).rstrip("/")
    key = args.key or os.environ.get("MMS_BRIDGE_API_KEY", "")
    if not key:
        raise InputError("send: an API key is needed (--key, or MMS_BRIDGE_API_KEY; `bridge keys create` makes one)")
    text = sys.stdin.read() if args.text == "-" else args.text
    files = []
    for path in args.files:
        try:
            files.append(("files", (path.name, path.read_bytes(), _guess_type(path))))
        except OSError as exc:
            raise InputError(f"send: {path}: {exc.strerror}") from exc
    data = {"to": args.to, **({"subject": args.subject} if args.subject else {}), **({"text": text} if text else {})}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=args.timeout) as http:
            sent = http.post("/api/v1/messages", data=data, files=files or None)
            if sent.status_code != 202:
                problem = _problem(sent)
                print(f"bridge send: refused ({sent.status_code}): {problem}", file=sys.stderr)
                return 1
            accepted = sent.json()
            print(f"message {accepted['id']}")
            for job in accepted["jobs"]:
                print(f"  job {job['id']} to {job['to']}")
            if not args.wait:
                return 0
            deadline = time.monotonic() + args.wait_s
            while True:
                shown = http.get(f"/api/v1/messages/{accepted['id']}").json()
                states = {r["id"]: r for r in shown["recipients"]}
                if all(r["state"] in ("delivered", "failed", "expired") for r in states.values()):
                    break
                if time.monotonic() > deadline:
                    print(f"bridge send: not final after {args.wait_s:g} s", file=sys.stderr)
                    return 2
                time.sleep(1.0)
    except httpx.HTTPError as exc:
        raise InputError(f"send: {url}: {exc}") from exc
    for job in states.values():
        print(f"  job {job['id']}: {job['state']} {job['status'] or ''} {job['error'] or ''}".rstrip())
    return 0 if all(r["state"] == "delivered" for r in states.values()) else 2


def _problem(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text[:200])
    code = f"{body['code']} " if body.get("code") else ""
    return f"{code}{body.get('detail') or body.get('title')}"


def _guess_type(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _cmd_keys(args: argparse.Namespace) -> int:
    """`bridge keys create|ls|revoke`: the HTTP API's keys, in the store."""
    from bridge.app import open_store
    from bridge.app.keys import new_key

    config = load_config(args.config)

    async def run() -> int:
        store = await open_store(config)
        try:
            if args.action == "create":
                key, secret = new_key(
                    name=args.name or "",
                    scopes=args.scope or [],
                    rate_per_minute=args.rate,
                    status_callback=args.status_callback,
                )
                await store.add_key(key)
                print(json.dumps({"id": key.id, "name": key.name, "scopes": sorted(key.scopes), "key": secret,
                                  "webhook_secret": key.webhook_secret}, indent=2))  # fmt: skip
                print("bridge keys: the key is shown this once; the store keeps only its digest", file=sys.stderr)
                return 0
            if args.action == "ls":
                for key in await store.keys():
                    state = "revoked" if key.revoked_at else "active"
                    print(f"{key.id}  {state:<8} {','.join(sorted(key.scopes)):<16} {key.name}")
                return 0
            if not args.id:
                raise InputError("keys revoke: needs a key id")
            ok = await store.revoke_key(args.id, now=time.time())
            print(f"{args.id}: {'revoked' if ok else 'unknown or revoked already'}")
            return 0 if ok else 1
        finally:
            await store.close()

    return asyncio.run(run())


def _cmd_db(args: argparse.Namespace) -> int:
    """`bridge db status`: which store, its schema version (migrations run when a store opens), jobs by state."""
    from bridge.app import open_store

    config = load_config(args.config)

    async def run() -> int:
        store = await open_store(config)
        try:
            print(json.dumps(await store.status(), indent=2, sort_keys=True))
        finally:
            await store.close()
        return 0

    return asyncio.run(run())


def _cmd_phone(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    outbox = args.outbox or Path(config.sms.outbox)
    phone = Phone(
        outbox=outbox,
        inbox=args.inbox,
        answer=Answer(args.answer),
        numbers=frozenset(args.number),
        mmsc_url=args.mmsc_url,
    )
    refused = handled = 0
    deadline = time.monotonic() + args.wait
    if not args.once:
        print(f"bridge phone: watching {outbox} for notifications, saving to {args.inbox} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            while True:
                try:
                    for received in phone.poll():
                        handled += 1
                        print(received.summary, flush=True)
                    break
                except PhoneError as exc:  # refused and moved aside: go on with the others
                    refused += 1
                    print(f"bridge phone: refused: {exc}", file=sys.stderr, flush=True)
            if args.once and (handled or refused or time.monotonic() >= deadline):
                break
            time.sleep(args.interval)
        if args.once and not (handled or refused):
            print(f"bridge phone: no notification arrived in {outbox} within {args.wait:g} s", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        pass
    finally:
        phone.close()
    return 1 if refused else 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from bridge.app import check_files, route_of

    path = args.config or Path("config.toml")
    config = load_config(path)
    check_files(config)
    print(f"{path}: OK")
    for number in args.number:
        print(route_of(config, number))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description="mms-bridge: an email-to-MMS bridge")
    parser.add_argument("--version", action="version", version=f"mms-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser(
        "decode",
        help="print an MMS PDU or a WAP Push (binary, hex dump, SMS user data or TPDUs)",
        description="Decode an MMS PDU, a hex dump of one, or the SMS segments of a WAP Push, in any order.",
    )
    dec.add_argument("files", nargs="+", metavar="FILE")
    dec.add_argument("--json", action="store_true", help="print JSON for machines")
    dec.add_argument("--form", choices=FORMS, default="auto", help="what the files hold (default: guess)")
    dec.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    dec.set_defaults(func=_cmd_decode)
    conv = sub.add_parser(
        "convert",
        help="turn a mail (.eml) into an MMS PDU and say what was made",
        description="Convert one RFC 5322 mail into an m-retrieve-conf (or m-send-req) within a budget.",
    )
    conv.add_argument("mail", metavar="MAIL.eml")
    conv.add_argument("-o", "--output", metavar="OUT.mms", help="write the encoded PDU here")
    conv.add_argument("--profile", default=None, help="content class or 'default' (default: convert.profile)")
    conv.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    conv.add_argument("--send-req", action="store_true", help="write an m-send-req instead of an m-retrieve-conf")
    conv.add_argument("--json", action="store_true", help="print JSON for machines")
    conv.add_argument("--keep-signature", action="store_true", help="do not trim the '-- ' signature")
    conv.add_argument("--keep-quotes", action="store_true", help="do not trim quoted replies")
    conv.set_defaults(func=_cmd_convert)
    srv = sub.add_parser("serve", help="run the SMTP intake and the delivery workers")
    srv.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    srv.set_defaults(func=_cmd_serve)
    q = sub.add_parser("queue", help="inspect and act on queued jobs: ls | show ID | retry ID | purge ID")
    q.add_argument("action", choices=("ls", "show", "retry", "purge"))
    q.add_argument("id", nargs="?")
    q.add_argument("--state", choices=[state.value for state in JobState])
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    q.set_defaults(func=_cmd_queue)
    snd = sub.add_parser("send", help="send a message through the running bridge's HTTP API")
    snd.add_argument("--to", action="append", required=True, help="a phone number (repeatable)")
    snd.add_argument("--subject", default="")
    snd.add_argument("--text", default="", help="the text, or - to read it from stdin")
    snd.add_argument("files", nargs="*", type=Path, help="pictures, sounds, clips to attach")
    snd.add_argument("--url", default="", help="the API (default: MMS_BRIDGE_API_URL, or the admin listener)")
    snd.add_argument("--key", default="", help="an API key (default: MMS_BRIDGE_API_KEY)")
    snd.add_argument("--wait", action="store_true", help="follow the message until every job is final")
    snd.add_argument("--wait-s", type=float, default=600.0, help="with --wait: give up after this many seconds")
    snd.add_argument("--timeout", type=float, default=60.0, help="seconds for each HTTP request")
    snd.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    snd.set_defaults(func=_cmd_send)
    keys = sub.add_parser("keys", help="the HTTP API's keys: create --name N --scope S [--rate R] | ls | revoke ID")
    keys.add_argument("action", choices=("create", "ls", "revoke"))
    keys.add_argument("id", nargs="?")
    keys.add_argument("--name", default="")
    keys.add_argument("--scope", action="append", help="send, read or admin (repeatable)")
    keys.add_argument("--rate", type=int, default=0, help="messages a minute the key may send (0: no limit)")
    keys.add_argument("--status-callback", default="", help="http(s) URL for its messages' status events")
    keys.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    keys.set_defaults(func=_cmd_keys)
    db = sub.add_parser("db", help="the job store: status (its kind, schema version and jobs by state)")
    db.add_argument("action", choices=("status",))
    db.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    db.set_defaults(func=_cmd_db)
    ph = sub.add_parser(
        "phone",
        help="a virtual handset: take notifications from the SMS outbox, fetch the MMS, answer the MMSC",
        description="Read WAP Push SMS from the SMS outbox folder (sms.outbox), fetch each MMS from its "
        "Content-Location, answer the MMSC and save what arrived in a folder per message.",
    )
    ph.add_argument("--config", type=Path, default=None, help="configuration file (default: embedded)")
    ph.add_argument("--outbox", type=Path, default=None, help="SMS outbox folder (default: sms.outbox)")
    ph.add_argument("--inbox", type=Path, default=Path("var/phone"), help="where messages are saved (var/phone)")
    ph.add_argument("--number", action="append", default=[], help="only this E.164 number (repeatable)")
    ph.add_argument("--answer", choices=[a.value for a in Answer], default=Answer.RETRIEVE.value)
    ph.add_argument("--mmsc-url", default=None, help="where answers go (default: /m at the content's origin)")
    ph.add_argument("--once", action="store_true", help="handle what arrived (waiting up to --wait s) and exit")
    ph.add_argument("--wait", type=float, default=30.0, help="with --once: how long to wait for a first one")
    ph.add_argument("--interval", type=float, default=0.5, help="seconds between looks at the outbox")
    ph.set_defaults(func=_cmd_phone)
    chk = sub.add_parser("check-config", help="validate a configuration file and name each bad key")
    chk.add_argument("--config", type=Path, default=None, help="file to check (default: ./config.toml)")
    chk.add_argument("--number", action="append", default=[], help="show which route takes this number (repeatable)")
    chk.set_defaults(func=_cmd_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (InputError, ConfigError, StoreError) as exc:  # ConfigError also covers an unknown --profile
        print(f"bridge {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
