"""MM7 (3GPP TS 23.140, the VASP side), sans I/O: SubmitReq built as SOAP 1.1 with attachments, the MMSC's
answers and requests parsed, our answers to them built.

- The HTTP body of a SubmitReq is `multipart/related; type="text/xml"; start=<envelope>`: first the SOAP
  envelope, then the MMS content as one MIME entity, `multipart/related` with the SMIL first (TS 23.140 8.7.6
  and Annex "MM7 SOAP message examples"). The envelope's header carries `TransactionID` with
  `env:mustUnderstand="1"`; the body element's children follow the order of the TS 23.140 schema
  (`SUBMIT_REQ_ORDER`); `Content` points at the content entity with `href="cid:..."`.
- Schema versions: the namespace `http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/<release>` with
  the `MM7Version` value deployed with it (`MM7_RELEASES`).
- Status codes (TS 23.140 Table "Status Code and Status Text", 1000-4008), each decided as success,
  temporary or permanent with the RFC 3463 status a bounce would carry: `STATUS_CODES`.

XML in, typed values out; a document with a DOCTYPE is refused (no entity expansion from the network).
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.parser
import email.policy
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Final

import defusedxml.ElementTree as defused_et
from defusedxml import DefusedXmlException

from bridge.codec.multipart import BodyPart
from bridge.codec.tables import charset_name
from bridge.errors import DecodeError, EncodeError, Verdict

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
MM7_BASE: Final = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
#: schema release -> the MM7Version value sent with it (as Mbuni and the TS 23.140 examples pair them)
MM7_RELEASES: Final = {
    "REL-5-MM7-1-0": "5.3.0",
    "REL-5-MM7-1-1": "5.5.0",
    "REL-5-MM7-1-2": "5.6.0",
    "REL-5-MM7-1-3": "5.10.0",
    "REL-6-MM7-1-0": "6.3.0",
    "REL-6-MM7-1-1": "6.5.0",
    "REL-6-MM7-1-2": "6.6.0",
    "REL-6-MM7-1-3": "6.7.0",
    "REL-6-MM7-1-4": "6.8.0",
}
#: the children of SubmitReq in the order of the TS 23.140 schema (REL-6-MM7-1-4, submitReqType)
SUBMIT_REQ_ORDER: Final = (
    "MM7Version",
    "SenderIdentification",
    "Recipients",
    "ServiceCode",
    "LinkedID",
    "MessageClass",
    "TimeStamp",
    "ReplyCharging",
    "EarliestDeliveryTime",
    "ExpiryDate",
    "DeliveryReport",
    "ReadReply",
    "Priority",
    "Subject",
    "ChargedParty",
    "DistributionIndicator",
    "ApplicID",
    "ReplyApplicID",
    "AuxApplicInfo",
    "ContentClass",
    "DRMContent",
    "Content",
)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def namespace(release: str) -> str:
    if release not in MM7_RELEASES:
        raise EncodeError(f"unknown MM7 schema release {release!r} (known: {', '.join(MM7_RELEASES)})")
    return MM7_BASE + release


class StatusCode(IntEnum):
    """TS 23.140 8.7.x, Table "Status Code and Status Text"."""

    SUCCESS = 1000
    PARTIAL_SUCCESS = 1100
    CLIENT_ERROR = 2000
    OPERATION_RESTRICTED = 2001
    ADDRESS_ERROR = 2002
    ADDRESS_NOT_FOUND = 2003
    MULTIMEDIA_CONTENT_REFUSED = 2004
    MESSAGE_ID_NOT_FOUND = 2005
    LINKED_ID_NOT_FOUND = 2006
    MESSAGE_FORMAT_CORRUPT = 2007
    APPLICATION_ID_NOT_FOUND = 2008
    REPLY_APPLICATION_ID_NOT_FOUND = 2009
    SERVER_ERROR = 3000
    NOT_POSSIBLE = 3001
    MESSAGE_REJECTED = 3002
    MULTIPLE_ADDRESSES_NOT_SUPPORTED = 3003
    APPLICATION_NOT_ADDRESSABLE = 3004
    GENERAL_SERVICE_ERROR = 4000
    IMPROPER_IDENTIFICATION = 4001
    UNSUPPORTED_VERSION = 4002
    UNSUPPORTED_OPERATION = 4003
    VALIDATION_ERROR = 4004
    SERVICE_ERROR = 4005
    SERVICE_UNAVAILABLE = 4006
    SERVICE_DENIED = 4007
    APPLICATION_DENIED = 4008


_S, _T, _P = Verdict.SUCCESS, Verdict.TEMPORARY, Verdict.PERMANENT
#: each code decided: what the bridge does with the job, and the RFC 3463 status of its report. Our own
#: configuration's faults (identification, version, operation) are temporary: an operator fixes them and the
#: queue drains, instead of every message bouncing.
STATUS_CODES: Final[dict[int, tuple[Verdict, str]]] = {
    StatusCode.SUCCESS: (_S, "2.0.0"),
    StatusCode.PARTIAL_SUCCESS: (_S, "2.0.0"),  # one recipient per request: the part that succeeded is ours
    StatusCode.CLIENT_ERROR: (_P, "5.3.0"),
    StatusCode.OPERATION_RESTRICTED: (_P, "5.7.1"),
    StatusCode.ADDRESS_ERROR: (_P, "5.1.3"),
    StatusCode.ADDRESS_NOT_FOUND: (_P, "5.1.1"),
    StatusCode.MULTIMEDIA_CONTENT_REFUSED: (_P, "5.6.0"),
    StatusCode.MESSAGE_ID_NOT_FOUND: (_P, "5.3.0"),
    StatusCode.LINKED_ID_NOT_FOUND: (_P, "5.3.0"),
    StatusCode.MESSAGE_FORMAT_CORRUPT: (_P, "5.6.0"),
    StatusCode.APPLICATION_ID_NOT_FOUND: (_P, "5.3.0"),
    StatusCode.REPLY_APPLICATION_ID_NOT_FOUND: (_P, "5.3.0"),
    StatusCode.SERVER_ERROR: (_T, "4.3.0"),
    StatusCode.NOT_POSSIBLE: (_T, "4.3.0"),
    StatusCode.MESSAGE_REJECTED: (_P, "5.7.1"),
    StatusCode.MULTIPLE_ADDRESSES_NOT_SUPPORTED: (_P, "5.5.3"),
    StatusCode.APPLICATION_NOT_ADDRESSABLE: (_P, "5.1.1"),
    StatusCode.GENERAL_SERVICE_ERROR: (_T, "4.3.0"),
    StatusCode.IMPROPER_IDENTIFICATION: (_T, "4.7.0"),
    StatusCode.UNSUPPORTED_VERSION: (_T, "4.3.0"),
    StatusCode.UNSUPPORTED_OPERATION: (_T, "4.3.0"),
    StatusCode.VALIDATION_ERROR: (_P, "5.6.0"),
    StatusCode.SERVICE_ERROR: (_T, "4.3.0"),
    StatusCode.SERVICE_UNAVAILABLE: (_T, "4.3.2"),
    StatusCode.SERVICE_DENIED: (_P, "5.7.1"),
    StatusCode.APPLICATION_DENIED: (_P, "5.7.1"),
}


def classify(code: int) -> tuple[Verdict, str]:
    """The verdict for a status code; a code not in the table is judged by its class (1xxx success, 2xxx
    client errors permanent, 3xxx and 4xxx temporary)."""
    if code in STATUS_CODES:
        return STATUS_CODES[code]
    klass = code // 1000
    if klass == 1:
        return _S, "2.0.0"
    if klass == 2:
        return _P, "5.3.0"
    return _T, "4.3.0"


# --- building ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitReq:
    transaction_id: str
    release: str
    recipients: tuple[str, ...]
    mm7_version: str = ""
    vasp_id: str = ""
    vas_id: str = ""
    sender_address: str = ""
    service_code: str = ""
    linked_id: str = ""
    message_class: str = "Personal"
    timestamp: datetime | None = None
    expiry: timedelta | None = None
    delivery_report: bool = False
    read_reply: bool = False
    priority: str = ""
    subject: str = ""
    allow_adaptations: bool = True


def duration(value: timedelta) -> str:
    """An xs:duration of whole seconds, as TS 23.140 relative times are written (e.g. P2D, PT3600S)."""
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    return f"P{days}D" if not rest else f"P{days}DT{rest}S" if days else f"PT{rest}S"


def _address(parent: ET.Element, ns: str, tag: str, address: str) -> None:
    holder = ET.SubElement(parent, f"{{{ns}}}{tag}")
    if "@" in address:
        kind = "RFC2822Address"
    elif address.startswith("+") or address.isdigit():
        kind = "Number"
    else:
        kind = "ShortCode"
    ET.SubElement(holder, f"{{{ns}}}{kind}").text = address


def _text(parent: ET.Element, ns: str, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ns}}}{tag}").text = value


def envelope(transaction_id: str, ns: str, body: ET.Element) -> bytes:
    ET.register_namespace("env", SOAP_ENV)
    ET.register_namespace("mm7", ns)
    env = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    header = ET.SubElement(env, f"{{{SOAP_ENV}}}Header")
    tid = ET.SubElement(header, f"{{{ns}}}TransactionID", {f"{{{SOAP_ENV}}}mustUnderstand": "1"})
    tid.text = transaction_id
    ET.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body)
    xml: bytes = ET.tostring(env, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + xml


def submit_req_element(req: SubmitReq, content_id: str) -> ET.Element:
    ns = namespace(req.release)
    el = ET.Element(f"{{{ns}}}SubmitReq")
    _text(el, ns, "MM7Version", req.mm7_version or MM7_RELEASES[req.release])
    if req.vasp_id or req.vas_id or req.sender_address:
        ident = ET.SubElement(el, f"{{{ns}}}SenderIdentification")
        if req.vasp_id:
            _text(ident, ns, "VASPID", req.vasp_id)
        if req.vas_id:
            _text(ident, ns, "VASID", req.vas_id)
        if req.sender_address:
            _address(ident, ns, "SenderAddress", req.sender_address)
    if not req.recipients:
        raise EncodeError("SubmitReq: at least one recipient")
    recipients = ET.SubElement(el, f"{{{ns}}}Recipients")
    for address in req.recipients:
        _address(recipients, ns, "To", address)
    if req.service_code:
        _text(el, ns, "ServiceCode", req.service_code)
    if req.linked_id:
        _text(el, ns, "LinkedID", req.linked_id)
    if req.message_class:
        _text(el, ns, "MessageClass", req.message_class)
    if req.timestamp is not None:
        _text(el, ns, "TimeStamp", req.timestamp.isoformat().replace("+00:00", "Z"))
    if req.expiry is not None:
        _text(el, ns, "ExpiryDate", duration(req.expiry))
    _text(el, ns, "DeliveryReport", "true" if req.delivery_report else "false")
    if req.read_reply:
        _text(el, ns, "ReadReply", "true")
    if req.priority:
        _text(el, ns, "Priority", req.priority)
    if req.subject:
        _text(el, ns, "Subject", req.subject)
    content = {"href": f"cid:{content_id}", "allowAdaptations": "true" if req.allow_adaptations else "false"}
    ET.SubElement(el, f"{{{ns}}}Content", content)
    return el


def _headers(lines: Sequence[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in lines).encode("utf-8") + b"\r\n"


def _part_entity(part: BodyPart, index: int) -> tuple[str, bytes]:
    ct = part.content_type
    params = "".join(f'; {k}="{v}"' for k, v in ct.params)
    media = ct.media_type
    cid = (part.content_id or "").strip("<>") or f"part{index}"
    lines = [("Content-Type", f"{media}{params}"), ("Content-ID", f"<{cid}>")]
    if part.content_location:
        lines.append(("Content-Location", part.content_location))
    data = bytes(part.data)
    if media.startswith("text/") or media == "application/smil":
        if ct.charset is not None:
            lines[0] = ("Content-Type", f"{media}; charset={charset_name(ct.charset)}{params}")
        lines.append(("Content-Transfer-Encoding", "8bit" if any(b > 127 for b in data) else "7bit"))
        body = data
    else:
        lines.append(("Content-Transfer-Encoding", "base64"))
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return cid, _headers(lines) + body


def encode_submit_req(
    req: SubmitReq, parts: Sequence[BodyPart], *, boundary: str, envelope_id: str, content_id: str
) -> tuple[str, bytes]:
    """The HTTP Content-Type and body of a SubmitReq carrying `parts` (the MMS's body parts, SMIL among them)."""
    if not parts:
        raise EncodeError("SubmitReq: a message without content")
    smil_first = sorted(parts, key=lambda p: p.content_type.media_type != "application/smil")
    inner = f"{boundary}-content"
    entities = [_part_entity(p, i) for i, p in enumerate(smil_first, 1)]
    start = entities[0][0]
    start_type = smil_first[0].content_type.media_type
    content = b"".join(b"--" + inner.encode() + b"\r\n" + entity + b"\r\n" for _, entity in entities)
    content += b"--" + inner.encode() + b"--\r\n"
    soap = envelope(req.transaction_id, namespace(req.release), submit_req_element(req, content_id))
    body = b"".join(
        (
            f"--{boundary}\r\n".encode(),
            _headers([("Content-Type", 'text/xml; charset="utf-8"'), ("Content-ID", f"<{envelope_id}>")]),
            soap,
            f"\r\n--{boundary}\r\n".encode(),
            _headers(
                [
                    ("Content-Type", f'multipart/related; boundary="{inner}"; type="{start_type}"; start="<{start}>"'),
                    ("Content-ID", f"<{content_id}>"),
                ]
            ),
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    content_type = f'multipart/related; boundary="{boundary}"; type="text/xml"; start="<{envelope_id}>"'
    return content_type, body


def encode_response(
    operation: str, *, release: str, transaction_id: str, code: int = 1000, text: str = "Success", **extra: str
) -> bytes:
    """Our answer to an MMSC's request (DeliveryReportRsp, ReadReplyRsp, DeliverRsp): MM7Version, Status, then
    `extra` children in the order given."""
    ns = namespace(release)
    el = ET.Element(f"{{{ns}}}{operation}")
    _text(el, ns, "MM7Version", MM7_RELEASES[release])
    status = ET.SubElement(el, f"{{{ns}}}Status")
    _text(status, ns, "StatusCode", str(code))
    _text(status, ns, "StatusText", text)
    for tag, value in extra.items():
        _text(el, ns, tag, value)
    return envelope(transaction_id, ns, el)


def encode_fault(*, release: str, transaction_id: str, code: int, text: str, client: bool = True) -> bytes:
    """A SOAP Fault with a VASPErrorRsp detail (TS 23.140 8.7.x "Error responses")."""
    ns = namespace(release)
    fault = ET.Element(f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(fault, "faultcode").text = "env:Client" if client else "env:Server"
    ET.SubElement(fault, "faultstring").text = text
    detail = ET.SubElement(fault, "detail")
    rsp = ET.SubElement(detail, f"{{{ns}}}VASPErrorRsp")
    _text(rsp, ns, "MM7Version", MM7_RELEASES[release])
    status = ET.SubElement(rsp, f"{{{ns}}}Status")
    _text(status, ns, "StatusCode", str(code))
    _text(status, ns, "StatusText", text)
    return envelope(transaction_id, ns, fault)


# --- parsing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    content_type: str
    content_id: str
    data: bytes
    filename: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An MM7 SOAP message, request or response, as the bridge reads it."""

    operation: str
    namespace: str
    transaction_id: str
    #: the direct children with text, by local name (Status's StatusCode and StatusText lifted up)
    fields: dict[str, str] = field(default_factory=dict)
    #: addresses under Sender, Recipient(s)/To/Cc/Bcc, SenderAddress: (role, address)
    addresses: tuple[tuple[str, str], ...] = ()
    fault: str | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def release(self) -> str:
        return self.namespace.removeprefix(MM7_BASE)

    @property
    def status_code(self) -> int | None:
        value = self.fields.get("StatusCode", "")
        return int(value) if value.isdigit() else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _parse_envelope(xml: bytes) -> Message:
    if _DOCTYPE.search(xml):
        raise DecodeError(0, "a SOAP envelope without a DOCTYPE")
    try:
        # the byte search above misses a DOCTYPE in UTF-16 or another encoding; defusedxml's expat setup
        # refuses any DTD, entity declaration or external reference once the document is decoded
        root = defused_et.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ET.ParseError as exc:
        raise DecodeError(exc.position[1] if exc.position else 0, f"well-formed XML ({exc})") from exc
    except DefusedXmlException as exc:
        raise DecodeError(0, f"a SOAP envelope without a DOCTYPE or entities ({type(exc).__name__})") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise DecodeError(0, f"a SOAP 1.1 Envelope, got {root.tag}")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) != 1:
        raise DecodeError(0, "a SOAP Body with one element")
    tid = ""
    header = root.find(f"{{{SOAP_ENV}}}Header")
    if header is not None:
        for el in header:
            if _local(el.tag) == "TransactionID":
                tid = (el.text or "").strip()
    op = body[0]
    fields: dict[str, str] = {}
    addresses: list[tuple[str, str]] = []
    fault = None
    if op.tag == f"{{{SOAP_ENV}}}Fault":
        fault = " ".join(
            (child.text or "").strip() for child in op if _local(child.tag) in ("faultcode", "faultstring")
        )
        detail = next((c for c in op if _local(c.tag) == "detail"), None)
        op_ns = ""
        if detail is not None and len(detail):
            op_ns = _ns(detail[0].tag)
            _collect(detail[0], fields, addresses, "")
        return Message(operation="Fault", namespace=op_ns, transaction_id=tid, fields=fields, addresses=(), fault=fault)
    _collect(op, fields, addresses, "")
    return Message(
        operation=_local(op.tag), namespace=_ns(op.tag), transaction_id=tid, fields=fields, addresses=tuple(addresses)
    )


_ADDRESS_ROLES = {"Sender", "Recipient", "To", "Cc", "Bcc", "SenderAddress", "UserAgent"}
_ADDRESS_KINDS = {"Number", "RFC2822Address", "ShortCode"}


def _collect(el: ET.Element, fields: dict[str, str], addresses: list[tuple[str, str]], role: str) -> None:
    for child in el:
        name = _local(child.tag)
        if name in _ADDRESS_KINDS and role:
            addresses.append((role, (child.text or "").strip()))
        elif len(child):
            _collect(child, fields, addresses, name if name in _ADDRESS_ROLES else role)
        elif name == "Content":
            # some MMSCs qualify the attribute (mm7:href) and pad the cid ("cid: x")
            href = next((v for k, v in child.attrib.items() if _local(k) == "href"), "")
            fields["Content"] = href.replace("cid: ", "cid:").strip()
        else:
            fields.setdefault(name, (child.text or "").strip())


def decode(body: bytes, content_type: str) -> Message:
    """An MM7 message from an HTTP body: a bare SOAP envelope (text/xml) or SOAP with attachments
    (multipart/related, the envelope at `start` or first)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/xml", "application/xml"):
        return _parse_envelope(body)
    if media != "multipart/related":
        raise DecodeError(0, f"text/xml or multipart/related, got {media or 'no Content-Type'}")
    mime = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not mime.is_multipart():
        raise DecodeError(0, "a multipart/related body with its boundary")
    payload = mime.get_payload()
    entities = [e for e in payload if isinstance(e, email.message.Message)] if isinstance(payload, list) else []
    if not entities:
        raise DecodeError(0, "at least the SOAP part")
    start_param = mime.get_param("start")
    start = start_param.strip("<>") if isinstance(start_param, str) else ""
    soap = next((e for e in entities if (e.get("Content-ID") or "").strip().strip("<>") == start), entities[0])
    xml = soap.get_payload(decode=True)
    if not isinstance(xml, bytes):
        raise DecodeError(0, "a SOAP part with a body")
    message = _parse_envelope(xml)
    attachments: list[Attachment] = []
    for entity in entities:
        if entity is soap:
            continue
        for leaf in entity.walk():
            if leaf.is_multipart():
                continue
            try:
                data = leaf.get_payload(decode=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(0, f"a decodable attachment ({exc})") from exc
            attachments.append(
                Attachment(
                    content_type=leaf.get_content_type(),
                    content_id=(leaf.get("Content-ID") or "").strip().strip("<>"),
                    data=data if isinstance(data, bytes) else b"",
                    filename=leaf.get_filename() or leaf.get("Content-Location"),
                )
            )
    return Message(
        operation=message.operation,
        namespace=message.namespace,
        transaction_id=message.transaction_id,
        fields=message.fields,
        addresses=message.addresses,
        fault=message.fault,
        attachments=tuple(attachments),
    )
