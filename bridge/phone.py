"""`bridge phone`: a virtual handset, for demonstrations and end-to-end tests.

It does what a phone's MMS client does (OMA-MMS-CTR 1.3 MM1, immediate or deferred retrieval): it takes the
WAP Push SMS addressed to it from the SMS outbox folder, reassembles and decodes the m-notification-ind, checks it
as a handset would (a push for the MMS user agent, every mandatory header present, not expired), fetches the
Content-Location over HTTP, and answers the MMSC with an m-notifyresp-ind (immediate retrieval) or an
m-acknowledge-ind (deferred retrieval). What it received is saved in a folder per message: `message.mms`, each
part under its Content-Location, and `summary.txt`. Consumed SMS files move to `<outbox>/done/` (or
`<outbox>/rejected/` with the reason beside them).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from bridge.codec.mms import (
    MMS_MEDIA_TYPE,
    AcknowledgeInd,
    NotificationInd,
    NotifyRespInd,
    RetrieveConf,
    Status,
    decode_pdu,
    encode_pdu,
)
from bridge.codec.tables import PushApplicationId
from bridge.codec.wap_push import decode_wsp_push, reassemble
from bridge.errors import DecodeError, PhoneError
from bridge.model import MSISDN

#: `<E.164>-<push id>-<n>of<total>.ud`, as the outbox transport names them
_SEGMENT_NAME = re.compile(r"^(?P<to>\+\d+)-(?P<push>[0-9a-f]+)-(?P<n>\d+)of(?P<total>\d+)\.ud$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Answer(StrEnum):
    """How the phone answers a notification."""

    #: immediate retrieval: fetch, then m-notifyresp-ind Retrieved
    RETRIEVE = "retrieve"
    #: deferred retrieval: fetch, then m-acknowledge-ind
    ACKNOWLEDGE = "acknowledge"
    #: m-notifyresp-ind Rejected, no fetch
    REJECT = "reject"
    #: m-notifyresp-ind Deferred, no fetch
    DEFER = "defer"
    #: fetch and say nothing
    SILENT = "silent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    to: str
    notification: NotificationInd
    folder: Path | None
    message: RetrieveConf | None
    answer: Answer

    @property
    def summary(self) -> str:
        n = self.notification
        head = f"{MSISDN(e164=self.to).masked} {n.transaction_id[:8]}…"
        sender = n.sender if isinstance(n.sender, str) else "?"
        if self.message is None:
            return f"{head} from {sender}: answered {self.answer}, not fetched"
        parts = ", ".join(f"{p.content_type.media_type} {len(p.data):,} B" for p in self.message.parts)
        subject = f' "{self.message.subject}"' if self.message.subject else ""
        return f"{head} from {sender}{subject}: {len(self.message.parts)} parts ({parts}) -> {self.folder}"


def _expired(n: NotificationInd, arrived: float, now: float) -> bool:
    if isinstance(n.expiry, timedelta):
        return now > arrived + n.expiry.total_seconds()
    return now > n.expiry.timestamp()


def _part_name(index: int, location: str | None, media_type: str, taken: set[str]) -> str:
    name = _SAFE_NAME.sub("_", location or "").strip("._") or f"part{index}"
    if "." not in name:
        name += {"application/smil": ".smil", "text/plain": ".txt", "image/jpeg": ".jpg"}.get(media_type, "")
    stem, n = name, 2
    while name in taken or name in ("message.mms", "summary.txt"):
        name, n = f"{n}-{stem}", n + 1
    taken.add(name)
    return name


class Phone:
    """One or more numbers' handset, reading the SMS outbox folder `outbox`, saving to `inbox`."""

    def __init__(
        self,
        *,
        outbox: Path,
        inbox: Path,
        answer: Answer = Answer.RETRIEVE,
        numbers: frozenset[str] = frozenset(),
        mmsc_url: str | None = None,
        timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self.answer = answer
        self.numbers = numbers
        self.mmsc_url = mmsc_url
        self.clock = clock
        self.http = httpx.Client(timeout=timeout_s, headers={"User-Agent": "mms-bridge-phone/1"})

    def close(self) -> None:
        self.http.close()

    def pending(self) -> Iterator[tuple[str, list[Path]]]:
        """Complete pushes waiting in the outbox, oldest first: (number, segment files)."""
        groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
        totals: dict[tuple[str, str], int] = {}
        for path in sorted(self.outbox.glob("*.ud")):
            m = _SEGMENT_NAME.match(path.name)
            if m is None or (self.numbers and m["to"] not in self.numbers):
                continue
            key = (m["to"], m["push"])
            groups[key].append(path)
            totals[key] = int(m["total"])
        for key in sorted(groups, key=lambda k: k[1]):
            if len(groups[key]) == totals[key]:
                yield key[0], groups[key]

    def poll(self) -> list[Received]:
        """Handle every complete push in the outbox; refused ones are moved aside with their reason."""
        done: list[Received] = []
        for to, files in self.pending():
            try:
                received = self.handle(to, files)
            except PhoneError as exc:
                self._move(files, "rejected", reason=str(exc))
                raise
            self._move(files, "done")
            done.append(received)
        return done

    def _move(self, files: list[Path], where: str, reason: str | None = None) -> None:
        folder = self.outbox / where
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            path.replace(folder / path.name)
        if reason is not None:
            (folder / (files[0].name + ".reason")).write_text(reason + "\n")

    def handle(self, to: str, files: list[Path]) -> Received:
        arrived = min(p.stat().st_mtime for p in files)
        try:
            push = decode_wsp_push(reassemble(p.read_bytes() for p in files))
            if push.application_id is not PushApplicationId.MMS_UA:
                raise PhoneError(f"{files[0].name}: a push for {push.application_id!r}, not the MMS user agent")
            notification = decode_pdu(push.body)
        except DecodeError as exc:
            # our decoder refuses a notification without its mandatory headers, as Android's does
            raise PhoneError(f"{files[0].name}: unusable notification: {exc}") from exc
        if not isinstance(notification, NotificationInd):
            raise PhoneError(f"{files[0].name}: expected an m-notification-ind, got {type(notification).__name__}")
        if _expired(notification, arrived, self.clock()):
            raise PhoneError(f"{files[0].name}: the notification has expired")
        if self.answer in (Answer.REJECT, Answer.DEFER):
            status = Status.REJECTED if self.answer is Answer.REJECT else Status.DEFERRED
            self._post(notification, NotifyRespInd(transaction_id=notification.transaction_id, status=status))
            return Received(to=to, notification=notification, folder=None, message=None, answer=self.answer)
        data = self._fetch(notification.content_location)
        try:
            message = decode_pdu(data)
        except DecodeError as exc:
            raise PhoneError(f"{notification.content_location}: not an MMS: {exc}") from exc
        if not isinstance(message, RetrieveConf):
            raise PhoneError(f"{notification.content_location}: expected m-retrieve-conf, got {type(message).__name__}")
        folder = self._save(notification, message, data)
        if self.answer is Answer.RETRIEVE:
            answer: NotifyRespInd | AcknowledgeInd = NotifyRespInd(
                transaction_id=notification.transaction_id, status=Status.RETRIEVED
            )
            self._post(notification, answer)
        elif self.answer is Answer.ACKNOWLEDGE:
            self._post(
                notification, AcknowledgeInd(transaction_id=message.transaction_id or notification.transaction_id)
            )
        received = Received(to=to, notification=notification, folder=folder, message=message, answer=self.answer)
        (folder / "summary.txt").write_text(received.summary + "\n")
        return received

    def _fetch(self, url: str) -> bytes:
        try:
            response = self.http.get(url, headers={"Accept": MMS_MEDIA_TYPE})
        except httpx.HTTPError as exc:
            raise PhoneError(f"{url}: {exc}") from exc
        if response.status_code != 200:
            raise PhoneError(f"{url}: HTTP {response.status_code}")
        return response.content

    def _answer_url(self, notification: NotificationInd) -> str:
        if self.mmsc_url:
            return self.mmsc_url
        # the MMSC that sent the content is the one to answer, at /m on the same origin
        parts = urlsplit(notification.content_location)
        return urlunsplit((parts.scheme, parts.netloc, "/m", "", ""))

    def _post(self, notification: NotificationInd, pdu: NotifyRespInd | AcknowledgeInd) -> None:
        url = self._answer_url(notification)
        try:
            response = self.http.post(url, content=encode_pdu(pdu), headers={"Content-Type": MMS_MEDIA_TYPE})
        except httpx.HTTPError as exc:
            raise PhoneError(f"{url}: {exc}") from exc
        if response.status_code >= 300:
            raise PhoneError(f"{url}: HTTP {response.status_code} for {type(pdu).__name__}: {response.text.strip()}")

    def _save(self, notification: NotificationInd, message: RetrieveConf, data: bytes) -> Path:
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%dT%H%M%S")
        folder = self.inbox / f"{stamp}-{_SAFE_NAME.sub('_', notification.transaction_id)[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "message.mms").write_bytes(data)
        taken: set[str] = set()
        for i, part in enumerate(message.parts, 1):
            media_type = part.content_type.media_type
            name = _part_name(i, part.content_location or part.content_type.param("name"), media_type, taken)
            (folder / name).write_bytes(bytes(part.data))
        return folder
