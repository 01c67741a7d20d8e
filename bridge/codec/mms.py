"""MMS PDUs of OMA-MMS-ENC 1.3 (MMS encapsulation), encoded and decoded.

Owns the wire codes (section 7.3 "Field Name Assignments", 7.2 value tables), one frozen dataclass per PDU
type (m-send-req ... m-read-orig-ind) with the headers that type may carry, and `encode_pdu` / `decode_pdu`.

Rules this module keeps, each because a real receiver depends on it:
- X-Mms-Message-Type, X-Mms-Transaction-Id and X-Mms-MMS-Version come first, in that order; Content-Type is
  the last header and the multipart body follows it (Android loses whatever follows Content-Type).
- Message-Size, Date and Expiry are always Long-integers (Android rejects a Short-integer Message-Size).
- An m-notification-ind cannot be built without MMS-Version, Content-Location, Expiry, Message-Class,
  Message-Size and Transaction-Id, nor with an empty one: Android drops such a notification.
- Headers this codec does not model, and application headers, decode to `RawHeader` and encode back as
  they came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, ClassVar, Final, TypeVar

from bridge.codec.multipart import BodyPart, RawHeader, decode_multipart, encode_multipart
from bridge.codec.wsp import (
    ContentType,
    Reader,
    encode_content_type,
    encode_date,
    encode_encoded_string,
    encode_long_integer,
    encode_short_integer,
    encode_text_string,
    encode_token_text,
    read_content_type,
    with_value_length,
)
from bridge.errors import DecodeError, EncodeError


class MessageType(IntEnum):
    """OMA-MMS-ENC 1.3 section 7.3.30, X-Mms-Message-Type values."""

    SEND_REQ = 0x80
    SEND_CONF = 0x81
    NOTIFICATION_IND = 0x82
    NOTIFYRESP_IND = 0x83
    RETRIEVE_CONF = 0x84
    ACKNOWLEDGE_IND = 0x85
    DELIVERY_IND = 0x86
    READ_REC_IND = 0x87
    READ_ORIG_IND = 0x88


class HeaderField(IntEnum):
    """OMA-MMS-ENC 1.3 Table 27, "Field Name Assignments" (the wire octet sets the high bit)."""

    BCC = 0x01
    CC = 0x02
    CONTENT_LOCATION = 0x03
    CONTENT_TYPE = 0x04
    DATE = 0x05
    DELIVERY_REPORT = 0x06
    DELIVERY_TIME = 0x07
    EXPIRY = 0x08
    FROM = 0x09
    MESSAGE_CLASS = 0x0A
    MESSAGE_ID = 0x0B
    MESSAGE_TYPE = 0x0C
    MMS_VERSION = 0x0D
    MESSAGE_SIZE = 0x0E
    PRIORITY = 0x0F
    READ_REPORT = 0x10
    REPORT_ALLOWED = 0x11
    RESPONSE_STATUS = 0x12
    RESPONSE_TEXT = 0x13
    SENDER_VISIBILITY = 0x14
    STATUS = 0x15
    SUBJECT = 0x16
    TO = 0x17
    TRANSACTION_ID = 0x18
    RETRIEVE_STATUS = 0x19
    RETRIEVE_TEXT = 0x1A
    READ_STATUS = 0x1B
    REPLY_CHARGING = 0x1C
    REPLY_CHARGING_DEADLINE = 0x1D
    REPLY_CHARGING_ID = 0x1E
    REPLY_CHARGING_SIZE = 0x1F
    PREVIOUSLY_SENT_BY = 0x20
    PREVIOUSLY_SENT_DATE = 0x21
    STORE = 0x22
    MM_STATE = 0x23
    MM_FLAGS = 0x24
    STORE_STATUS = 0x25
    STORE_STATUS_TEXT = 0x26
    STORED = 0x27
    ATTRIBUTES = 0x28
    TOTALS = 0x29
    MBOX_TOTALS = 0x2A
    QUOTAS = 0x2B
    MBOX_QUOTAS = 0x2C
    MESSAGE_COUNT = 0x2D
    CONTENT = 0x2E
    START = 0x2F
    ADDITIONAL_HEADERS = 0x30
    DISTRIBUTION_INDICATOR = 0x31
    ELEMENT_DESCRIPTOR = 0x32
    LIMIT = 0x33
    RECOMMENDED_RETRIEVAL_MODE = 0x34
    RECOMMENDED_RETRIEVAL_MODE_TEXT = 0x35
    STATUS_TEXT = 0x36
    APPLIC_ID = 0x37
    REPLY_APPLIC_ID = 0x38
    AUX_APPLIC_INFO = 0x39
    CONTENT_CLASS = 0x3A
    DRM_CONTENT = 0x3B
    ADAPTATION_ALLOWED = 0x3C
    REPLACE_ID = 0x3D
    CANCEL_ID = 0x3E
    CANCEL_STATUS = 0x3F

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES[self]


_PLAIN_NAMES = {
    HeaderField.BCC: "Bcc",
    HeaderField.CC: "Cc",
    HeaderField.CONTENT_TYPE: "Content-Type",
    HeaderField.DATE: "Date",
    HeaderField.FROM: "From",
    HeaderField.MESSAGE_ID: "Message-ID",
    HeaderField.SUBJECT: "Subject",
    HeaderField.TO: "To",
    HeaderField.MMS_VERSION: "X-Mms-MMS-Version",
}
_DISPLAY_NAMES: dict[HeaderField, str] = {
    f: _PLAIN_NAMES.get(f) or "X-Mms-" + "-".join(word.title() for word in f.name.split("_")) for f in HeaderField
}
#: wire code -> field, faster than calling the enum on every header
_FIELDS_BY_CODE: dict[int, HeaderField] = {f.value: f for f in HeaderField}


class MmsVersion(IntEnum):
    """X-Mms-MMS-Version as a short-integer value: major in the high nibble (0x93 on the wire = 1.3)."""

    V1_0 = 0x10
    V1_1 = 0x11
    V1_2 = 0x12
    V1_3 = 0x13


class YesNo(IntEnum):
    """Delivery-Report, Read-Report, Report-Allowed, Adaptation-Allowed, DRM-Content, Stored (7.3.x)."""

    YES = 0x80
    NO = 0x81


class Priority(IntEnum):
    """OMA-MMS-ENC 7.3.35 X-Mms-Priority."""

    LOW = 0x80
    NORMAL = 0x81
    HIGH = 0x82


class MessageClass(IntEnum):
    """OMA-MMS-ENC 7.3.27 X-Mms-Message-Class (Class-identifier); a token-text is the other form."""

    PERSONAL = 0x80
    ADVERTISEMENT = 0x81
    INFORMATIONAL = 0x82
    AUTO = 0x83


class SenderVisibility(IntEnum):
    """OMA-MMS-ENC 7.3.52 X-Mms-Sender-Visibility."""

    HIDE = 0x80
    SHOW = 0x81


class Status(IntEnum):
    """OMA-MMS-ENC 7.3.54 X-Mms-Status."""

    EXPIRED = 0x80
    RETRIEVED = 0x81
    REJECTED = 0x82
    DEFERRED = 0x83
    UNRECOGNISED = 0x84
    INDETERMINATE = 0x85
    FORWARDED = 0x86
    UNREACHABLE = 0x87


class ResponseStatus(IntEnum):
    """OMA-MMS-ENC 7.3.48 X-Mms-Response-Status: 0xC0-0xDF transient, 0xE0-0xFF permanent failures."""

    OK = 0x80
    ERROR_UNSPECIFIED = 0x81
    ERROR_SERVICE_DENIED = 0x82
    ERROR_MESSAGE_FORMAT_CORRUPT = 0x83
    ERROR_SENDING_ADDRESS_UNRESOLVED = 0x84
    ERROR_MESSAGE_NOT_FOUND = 0x85
    ERROR_NETWORK_PROBLEM = 0x86
    ERROR_CONTENT_NOT_ACCEPTED = 0x87
    ERROR_UNSUPPORTED_MESSAGE = 0x88
    ERROR_TRANSIENT_FAILURE = 0xC0
    ERROR_TRANSIENT_SENDING_ADDRESS_UNRESOLVED = 0xC1
    ERROR_TRANSIENT_MESSAGE_NOT_FOUND = 0xC2
    ERROR_TRANSIENT_NETWORK_PROBLEM = 0xC3
    ERROR_TRANSIENT_PARTIAL_SUCCESS = 0xC4
    ERROR_PERMANENT_FAILURE = 0xE0
    ERROR_PERMANENT_SERVICE_DENIED = 0xE1
    ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT = 0xE2
    ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED = 0xE3
    ERROR_PERMANENT_MESSAGE_NOT_FOUND = 0xE4
    ERROR_PERMANENT_CONTENT_NOT_ACCEPTED = 0xE5
    ERROR_PERMANENT_REPLY_CHARGING_LIMITATIONS_NOT_MET = 0xE6
    ERROR_PERMANENT_REPLY_CHARGING_REQUEST_NOT_ACCEPTED = 0xE7
    ERROR_PERMANENT_REPLY_CHARGING_FORWARDING_DENIED = 0xE8
    ERROR_PERMANENT_REPLY_CHARGING_NOT_SUPPORTED = 0xE9
    ERROR_PERMANENT_ADDRESS_HIDING_NOT_SUPPORTED = 0xEA
    ERROR_PERMANENT_LACK_OF_PREPAID = 0xEB


class RetrieveStatus(IntEnum):
    """OMA-MMS-ENC 7.3.50 X-Mms-Retrieve-Status."""

    OK = 0x80
    ERROR_TRANSIENT_FAILURE = 0xC0
    ERROR_TRANSIENT_MESSAGE_NOT_FOUND = 0xC1
    ERROR_TRANSIENT_NETWORK_PROBLEM = 0xC2
    ERROR_PERMANENT_FAILURE = 0xE0
    ERROR_PERMANENT_SERVICE_DENIED = 0xE1
    ERROR_PERMANENT_MESSAGE_NOT_FOUND = 0xE2
    ERROR_PERMANENT_CONTENT_UNSUPPORTED = 0xE3


class ReadStatus(IntEnum):
    """OMA-MMS-ENC 7.3.40 X-Mms-Read-Status."""

    READ = 0x80
    DELETED_WITHOUT_BEING_READ = 0x81


class ContentClass(IntEnum):
    """OMA-MMS-ENC 1.3 7.3.9 X-Mms-Content-Class (the classes of OMA-MMS-CONF)."""

    TEXT = 0x80
    IMAGE_BASIC = 0x81
    IMAGE_RICH = 0x82
    VIDEO_BASIC = 0x83
    VIDEO_RICH = 0x84
    MEGAPIXEL = 0x85
    CONTENT_BASIC = 0x86
    CONTENT_RICH = 0x87


class _AddressToken(IntEnum):
    """From: Address-present-token / Insert-address-token (7.3.21); Expiry: Absolute / Relative (7.3.20)."""

    ADDRESS_PRESENT = 0x80
    INSERT_ADDRESS = 0x81


class _TimeToken(IntEnum):
    ABSOLUTE = 0x80
    RELATIVE = 0x81


@dataclass(frozen=True, slots=True)
class InsertAddress:
    """The From value that asks the MMSC to insert the sender's address (Insert-address-token)."""

    def __repr__(self) -> str:
        return "INSERT_ADDRESS"


INSERT_ADDRESS: Final = InsertAddress()

Sender = str | InsertAddress
Time = datetime | timedelta
"""Expiry and Delivery-Time: an absolute date (aware datetime) or a time relative to now."""

X_MMS_MESSAGE_TYPE: Final = 0x80 | HeaderField.MESSAGE_TYPE
#: the HTTP and push Content-Type of an MMS PDU (WSP Table 40, 0x3E)
MMS_MEDIA_TYPE: Final = "application/vnd.wap.mms-message"


# --- header value codecs ---------------------------------------------------------------------------------

_E = TypeVar("_E", bound=IntEnum)


def _enum_decoder(enum: type[_E], *, open_range: bool = False) -> Callable[[Reader, str], _E | int]:
    def decode(r: Reader, what: str) -> _E | int:
        start = r.pos
        o = r.octet(what)
        try:
            return enum(o)
        except ValueError:
            if open_range and o >= 0x80:
                return o
            raise DecodeError(start, f"{what}: one of {[hex(m) for m in enum]}, got 0x{o:02X}") from None

    return decode


def _encode_octet(value: int) -> bytes:
    if not 0x80 <= value <= 0xFF:
        raise EncodeError(f"octet value out of range: {value}")
    return bytes((value,))


def _decode_version(r: Reader, what: str) -> int:
    v = r.short_integer(what)
    try:
        return MmsVersion(v)
    except ValueError:
        return v


def _decode_size(r: Reader, what: str) -> int:
    # Written as a Long-integer; some senders use a Short-integer, which we accept but never write.
    return r.integer_value(what)


def _decode_sender(r: Reader, what: str) -> Sender:
    inner = r.sub(r.value_length(what), what)
    token = inner.octet(f"{what}: address token")
    if token == _AddressToken.INSERT_ADDRESS:
        return INSERT_ADDRESS
    if token != _AddressToken.ADDRESS_PRESENT:
        raise DecodeError(inner.pos - 1, f"{what}: address-present (0x80) or insert-address (0x81) token")
    return inner.encoded_string(what)


def _encode_sender(value: Sender) -> bytes:
    if isinstance(value, InsertAddress):
        return with_value_length(bytes((_AddressToken.INSERT_ADDRESS,)))
    return with_value_length(bytes((_AddressToken.ADDRESS_PRESENT,)) + encode_encoded_string(value, "From"))


def _decode_time(r: Reader, what: str) -> Time:
    inner = r.sub(r.value_length(what), what)
    token = inner.octet(f"{what}: absolute/relative token")
    if token == _TimeToken.ABSOLUTE:
        return inner.date(what)
    if token == _TimeToken.RELATIVE:
        return timedelta(seconds=inner.integer_value(what))
    raise DecodeError(inner.pos - 1, f"{what}: absolute (0x80) or relative (0x81) token, got 0x{token:02X}")


def _encode_time(value: Time) -> bytes:
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return with_value_length(bytes((_TimeToken.RELATIVE,)) + encode_long_integer(seconds))
    return with_value_length(bytes((_TimeToken.ABSOLUTE,)) + encode_date(value))


def _decode_message_class(r: Reader, what: str) -> MessageClass | str:
    start = r.pos
    if r.peek(what) >= 0x80:
        o = r.octet(what)
        try:
            return MessageClass(o)
        except ValueError:
            raise DecodeError(start, f"{what}: a class identifier 0x80..0x83, got 0x{o:02X}") from None
    text = r.until_nul(what).decode("latin-1")
    if not text:
        raise DecodeError(start, f"{what}: a non-empty token")
    return text


def _encode_message_class(value: MessageClass | str) -> bytes:
    if isinstance(value, MessageClass):
        return bytes((value,))
    return encode_token_text(value, "X-Mms-Message-Class")


def _decode_text(r: Reader, what: str) -> str:
    return r.text_string(what)


def _decode_encoded(r: Reader, what: str) -> str:
    return r.encoded_string(what)


def _decode_date(r: Reader, what: str) -> datetime:
    return r.date(what)


def _decode_content_type(r: Reader, what: str) -> ContentType:
    return read_content_type(r, what)


_F = HeaderField
_DECODERS: dict[HeaderField, Callable[[Reader, str], Any]] = {
    _F.BCC: _decode_encoded,
    _F.CC: _decode_encoded,
    _F.TO: _decode_encoded,
    _F.CONTENT_LOCATION: _decode_text,
    _F.DATE: _decode_date,
    _F.DELIVERY_REPORT: _enum_decoder(YesNo),
    _F.DELIVERY_TIME: _decode_time,
    _F.EXPIRY: _decode_time,
    _F.FROM: _decode_sender,
    _F.MESSAGE_CLASS: _decode_message_class,
    _F.MESSAGE_ID: _decode_text,
    _F.MMS_VERSION: _decode_version,
    _F.MESSAGE_SIZE: _decode_size,
    _F.PRIORITY: _enum_decoder(Priority),
    _F.READ_REPORT: _enum_decoder(YesNo),
    _F.REPORT_ALLOWED: _enum_decoder(YesNo),
    _F.RESPONSE_STATUS: _enum_decoder(ResponseStatus, open_range=True),
    _F.RESPONSE_TEXT: _decode_encoded,
    _F.SENDER_VISIBILITY: _enum_decoder(SenderVisibility),
    _F.STATUS: _enum_decoder(Status),
    _F.SUBJECT: _decode_encoded,
    _F.TRANSACTION_ID: _decode_text,
    _F.RETRIEVE_STATUS: _enum_decoder(RetrieveStatus, open_range=True),
    _F.RETRIEVE_TEXT: _decode_encoded,
    _F.READ_STATUS: _enum_decoder(ReadStatus),
    _F.CONTENT_CLASS: _enum_decoder(ContentClass),
    _F.DRM_CONTENT: _enum_decoder(YesNo),
    _F.ADAPTATION_ALLOWED: _enum_decoder(YesNo),
    _F.STATUS_TEXT: _decode_encoded,
    _F.CONTENT_TYPE: _decode_content_type,
}


def _encode_text(value: str) -> bytes:
    return encode_text_string(value)


def _encode_encoded(value: str) -> bytes:
    return encode_encoded_string(value)


_ENCODERS: dict[HeaderField, Callable[[Any], bytes]] = {
    _F.BCC: _encode_encoded,
    _F.CC: _encode_encoded,
    _F.TO: _encode_encoded,
    _F.CONTENT_LOCATION: _encode_text,
    _F.DATE: encode_date,
    _F.DELIVERY_REPORT: _encode_octet,
    _F.DELIVERY_TIME: _encode_time,
    _F.EXPIRY: _encode_time,
    _F.FROM: _encode_sender,
    _F.MESSAGE_CLASS: _encode_message_class,
    _F.MESSAGE_ID: _encode_text,
    _F.MMS_VERSION: encode_short_integer,
    _F.MESSAGE_SIZE: encode_long_integer,
    _F.PRIORITY: _encode_octet,
    _F.READ_REPORT: _encode_octet,
    _F.REPORT_ALLOWED: _encode_octet,
    _F.RESPONSE_STATUS: _encode_octet,
    _F.RESPONSE_TEXT: _encode_encoded,
    _F.SENDER_VISIBILITY: _encode_octet,
    _F.STATUS: _encode_octet,
    _F.SUBJECT: _encode_encoded,
    _F.TRANSACTION_ID: _encode_text,
    _F.RETRIEVE_STATUS: _encode_octet,
    _F.RETRIEVE_TEXT: _encode_encoded,
    _F.READ_STATUS: _encode_octet,
    _F.CONTENT_CLASS: _encode_octet,
    _F.DRM_CONTENT: _encode_octet,
    _F.ADAPTATION_ALLOWED: _encode_octet,
    _F.STATUS_TEXT: _encode_encoded,
    _F.CONTENT_TYPE: encode_content_type,
}

_MULTI_VALUED = frozenset({_F.TO, _F.CC, _F.BCC})
#: Fields that must appear once: a second one is a corrupt PDU, not a detail.
_UNIQUE = frozenset({_F.MESSAGE_TYPE, _F.TRANSACTION_ID, _F.MMS_VERSION})

WAP_MULTIPART_TYPES = frozenset(
    {
        "application/vnd.wap.multipart.related",
        "application/vnd.wap.multipart.mixed",
        "application/vnd.wap.multipart.alternative",
        "application/vnd.wap.multipart.*",
    }
)


# --- the PDU types ---------------------------------------------------------------------------------------


class _Pdu:
    """Behaviour shared by the PDU dataclasses: their type code, header table and required headers."""

    __slots__ = ()
    MESSAGE_TYPE: ClassVar[MessageType]
    #: (attribute, field) in the order OMA-MMS-ENC's table for the type lists them
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]]
    #: attributes the type cannot do without (the spec's mandatory headers)
    REQUIRED: ClassVar[frozenset[str]]
    HAS_BODY: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for attr in self.REQUIRED:
            value = getattr(self, attr)
            if value is None or value == "" or value == ():
                field = dict(self.HEADERS).get(attr)
                name = field.display_name if field else attr
                raise EncodeError(f"{self.MESSAGE_TYPE.name.lower()}: {name} is mandatory and cannot be empty")


_COMMON = (("transaction_id", _F.TRANSACTION_ID), ("mms_version", _F.MMS_VERSION))


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReq(_Pdu):
    """m-send-req (OMA-MMS-ENC 6.1.1): a terminal or VASP submits a message."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.SEND_REQ
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("date", _F.DATE),
        ("sender", _F.FROM),
        ("to", _F.TO),
        ("cc", _F.CC),
        ("bcc", _F.BCC),
        ("subject", _F.SUBJECT),
        ("message_class", _F.MESSAGE_CLASS),
        ("expiry", _F.EXPIRY),
        ("delivery_time", _F.DELIVERY_TIME),
        ("priority", _F.PRIORITY),
        ("sender_visibility", _F.SENDER_VISIBILITY),
        ("delivery_report", _F.DELIVERY_REPORT),
        ("read_report", _F.READ_REPORT),
        ("content_class", _F.CONTENT_CLASS),
        ("drm_content", _F.DRM_CONTENT),
        ("adaptation_allowed", _F.ADAPTATION_ALLOWED),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"transaction_id", "sender", "content_type"})
    HAS_BODY: ClassVar[bool] = True

    transaction_id: str
    content_type: ContentType
    parts: tuple[BodyPart, ...] = ()
    mms_version: int = MmsVersion.V1_3
    date: datetime | None = None
    sender: Sender = INSERT_ADDRESS
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str | None = None
    message_class: MessageClass | str | None = None
    expiry: Time | None = None
    delivery_time: Time | None = None
    priority: Priority | None = None
    sender_visibility: SenderVisibility | None = None
    delivery_report: YesNo | None = None
    read_report: YesNo | None = None
    content_class: ContentClass | None = None
    drm_content: YesNo | None = None
    adaptation_allowed: YesNo | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SendConf(_Pdu):
    """m-send-conf (6.1.2): the MMSC's answer to m-send-req."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.SEND_CONF
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("response_status", _F.RESPONSE_STATUS),
        ("response_text", _F.RESPONSE_TEXT),
        ("message_id", _F.MESSAGE_ID),
        ("content_location", _F.CONTENT_LOCATION),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"transaction_id", "response_status"})

    transaction_id: str
    response_status: ResponseStatus | int
    mms_version: int = MmsVersion.V1_3
    response_text: str | None = None
    message_id: str | None = None
    content_location: str | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationInd(_Pdu):
    """m-notification-ind (6.2): tells the phone a message waits at `content_location`."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.NOTIFICATION_IND
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("sender", _F.FROM),
        ("subject", _F.SUBJECT),
        ("delivery_report", _F.DELIVERY_REPORT),
        ("message_class", _F.MESSAGE_CLASS),
        ("priority", _F.PRIORITY),
        ("message_size", _F.MESSAGE_SIZE),
        ("expiry", _F.EXPIRY),
        ("content_location", _F.CONTENT_LOCATION),
        ("content_class", _F.CONTENT_CLASS),
        ("drm_content", _F.DRM_CONTENT),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset(
        {"transaction_id", "mms_version", "message_class", "message_size", "expiry", "content_location"}
    )

    transaction_id: str
    message_class: MessageClass | str
    message_size: int
    expiry: Time
    content_location: str
    mms_version: int = MmsVersion.V1_3
    sender: Sender | None = None
    subject: str | None = None
    delivery_report: YesNo | None = None
    priority: Priority | None = None
    content_class: ContentClass | None = None
    drm_content: YesNo | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyRespInd(_Pdu):
    """m-notifyresp-ind (6.2): the phone's answer to a notification."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.NOTIFYRESP_IND
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("status", _F.STATUS),
        ("report_allowed", _F.REPORT_ALLOWED),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"transaction_id", "status"})

    transaction_id: str
    status: Status
    mms_version: int = MmsVersion.V1_3
    report_allowed: YesNo | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrieveConf(_Pdu):
    """m-retrieve-conf (6.3): the message itself, as the phone fetches it."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.RETRIEVE_CONF
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("message_id", _F.MESSAGE_ID),
        ("date", _F.DATE),
        ("sender", _F.FROM),
        ("to", _F.TO),
        ("cc", _F.CC),
        ("subject", _F.SUBJECT),
        ("message_class", _F.MESSAGE_CLASS),
        ("priority", _F.PRIORITY),
        ("delivery_report", _F.DELIVERY_REPORT),
        ("read_report", _F.READ_REPORT),
        ("retrieve_status", _F.RETRIEVE_STATUS),
        ("retrieve_text", _F.RETRIEVE_TEXT),
        ("content_class", _F.CONTENT_CLASS),
        ("drm_content", _F.DRM_CONTENT),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"date", "content_type"})
    HAS_BODY: ClassVar[bool] = True

    date: datetime
    content_type: ContentType
    parts: tuple[BodyPart, ...] = ()
    transaction_id: str | None = None
    mms_version: int = MmsVersion.V1_3
    message_id: str | None = None
    sender: Sender | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str | None = None
    message_class: MessageClass | str | None = None
    priority: Priority | None = None
    delivery_report: YesNo | None = None
    read_report: YesNo | None = None
    retrieve_status: RetrieveStatus | int | None = None
    retrieve_text: str | None = None
    content_class: ContentClass | None = None
    drm_content: YesNo | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgeInd(_Pdu):
    """m-acknowledge-ind (6.4): the phone confirms a retrieval."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.ACKNOWLEDGE_IND
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        *_COMMON,
        ("report_allowed", _F.REPORT_ALLOWED),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"transaction_id"})

    transaction_id: str
    mms_version: int = MmsVersion.V1_3
    report_allowed: YesNo | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryInd(_Pdu):
    """m-delivery-ind (6.6): the MMSC reports a delivery to the sender's phone."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.DELIVERY_IND
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        ("mms_version", _F.MMS_VERSION),
        ("message_id", _F.MESSAGE_ID),
        ("to", _F.TO),
        ("date", _F.DATE),
        ("status", _F.STATUS),
        ("status_text", _F.STATUS_TEXT),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"message_id", "to", "date", "status"})

    message_id: str
    to: tuple[str, ...]
    date: datetime
    status: Status
    mms_version: int = MmsVersion.V1_3
    status_text: str | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _ReadReport(_Pdu):
    HEADERS: ClassVar[tuple[tuple[str, HeaderField], ...]] = (
        ("mms_version", _F.MMS_VERSION),
        ("message_id", _F.MESSAGE_ID),
        ("to", _F.TO),
        ("sender", _F.FROM),
        ("date", _F.DATE),
        ("read_status", _F.READ_STATUS),
    )
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"message_id", "to", "sender", "read_status"})

    message_id: str
    to: tuple[str, ...]
    sender: Sender
    read_status: ReadStatus
    mms_version: int = MmsVersion.V1_3
    date: datetime | None = None
    extra_headers: tuple[RawHeader, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadRecInd(_ReadReport):
    """m-read-rec-ind (6.7.2): the recipient's phone reports that the message was read."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.READ_REC_IND


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOrigInd(_ReadReport):
    """m-read-orig-ind (6.7.2): the MMSC passes the read report on to the sender's phone."""

    MESSAGE_TYPE: ClassVar[MessageType] = MessageType.READ_ORIG_IND
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"message_id", "to", "sender", "read_status", "date"})


Pdu = (
    SendReq
    | SendConf
    | NotificationInd
    | NotifyRespInd
    | RetrieveConf
    | AcknowledgeInd
    | DeliveryInd
    | ReadRecInd
    | ReadOrigInd
)

PDU_CLASSES: dict[MessageType, type[Pdu]] = {
    cls.MESSAGE_TYPE: cls
    for cls in (
        SendReq,
        SendConf,
        NotificationInd,
        NotifyRespInd,
        RetrieveConf,
        AcknowledgeInd,
        DeliveryInd,
        ReadRecInd,
        ReadOrigInd,
    )
}

_FIELD_ATTRS: dict[type[Pdu], dict[HeaderField, str]] = {
    cls: {f: a for a, f in cls.HEADERS} for cls in PDU_CLASSES.values()
}
_INIT_NAMES: dict[type[Pdu], frozenset[str]] = {
    cls: frozenset(f.name for f in fields(cls)) for cls in PDU_CLASSES.values()
}


# --- encoder ---------------------------------------------------------------------------------------------


def encode_pdu(pdu: Pdu) -> bytes:
    """The PDU's octets: type, Transaction-Id, version first; Content-Type and the body last."""
    out: list[bytes] = [bytes((X_MMS_MESSAGE_TYPE, pdu.MESSAGE_TYPE))]
    for attr, field in pdu.HEADERS:
        value = getattr(pdu, attr)
        if value is None:
            continue
        code = bytes((0x80 | field,))
        encode = _ENCODERS[field]
        if field in _MULTI_VALUED:
            out.extend(code + encode(v) for v in value)
        else:
            out.append(code + encode(value))
    out.extend(h.encode() for h in pdu.extra_headers)
    if isinstance(pdu, SendReq | RetrieveConf):
        out.append(bytes((0x80 | _F.CONTENT_TYPE,)) + encode_content_type(pdu.content_type))
        if pdu.content_type.media_type.lower() not in WAP_MULTIPART_TYPES:
            raise EncodeError(f"{pdu.MESSAGE_TYPE.name.lower()}: the body must be a WAP multipart")
        encode_multipart(pdu.parts, out)
    return b"".join(out)


# --- decoder ---------------------------------------------------------------------------------------------


def decode_pdu(data: bytes | bytearray | memoryview) -> Pdu:
    """Decode one MMS PDU; any malformed input raises `DecodeError` naming the offset."""
    r = Reader(data)
    if r.remaining < 2 or r.peek("X-Mms-Message-Type") != X_MMS_MESSAGE_TYPE:
        raise DecodeError(0, "X-Mms-Message-Type (0x8C) as the first header")
    r.pos += 1
    tstart = r.pos
    mtype = r.octet("X-Mms-Message-Type value")
    try:
        cls = PDU_CLASSES[MessageType(mtype)]
    except (ValueError, KeyError):
        raise DecodeError(tstart, f"a supported X-Mms-Message-Type (0x80..0x88), got 0x{mtype:02X}") from None
    attrs = _FIELD_ATTRS[cls]
    kwargs: dict[str, Any] = {}
    multi: dict[str, list[str]] = {}
    extras: list[RawHeader] = []
    seen: set[HeaderField] = set()
    content_type: ContentType | None = None
    while not r.at_end():
        hstart = r.pos
        o = r.octet("header field")
        if o >= 0x80:
            try:
                field = HeaderField(o & 0x7F)
            except ValueError:
                extras.append(
                    RawHeader(name=f"X-Mms-0x{o & 0x7F:02X}", code=o & 0x7F, value=bytes(r.skip_value("header")))
                )
                continue
            what = field.display_name
            if (field in _UNIQUE and field in seen) or field is HeaderField.MESSAGE_TYPE:
                raise DecodeError(hstart, f"{what} only once, at the start")
            seen.add(field)
            if field is HeaderField.CONTENT_TYPE:
                if cls.HAS_BODY:
                    content_type = read_content_type(r, what)
                else:
                    # e.g. python-messaging appends a Content-Type and an empty body to m-notifyresp-ind
                    extras.append(RawHeader(name=what, code=field, value=bytes(r.rest())))
                break
            attr = attrs.get(field)
            if attr is None or (attr in kwargs and field not in _MULTI_VALUED):
                extras.append(RawHeader(name=what, code=field, value=bytes(r.skip_value(what))))
                continue
            value = _DECODERS[field](r, what)
            if field in _MULTI_VALUED:
                multi.setdefault(attr, []).append(value)
            else:
                kwargs[attr] = value
        elif 0x20 <= o < 0x7F:
            # Application-header = Token-text Application-specific-value
            r.pos = hstart
            name = r.until_nul("application header name").decode("latin-1")
            extras.append(RawHeader(name=name, value=bytes(r.skip_value(name))))
        else:
            raise DecodeError(hstart, f"a header field (well-known code or token), got 0x{o:02X}")
    for attr, values in multi.items():
        kwargs[attr] = tuple(values)
    if extras:
        kwargs["extra_headers"] = tuple(extras)
    if cls.HAS_BODY:
        if content_type is None:
            raise DecodeError(r.pos, f"{cls.MESSAGE_TYPE.name.lower()}: Content-Type and a body")
        if content_type.media_type.lower() not in WAP_MULTIPART_TYPES:
            raise DecodeError(r.pos, f"a WAP multipart body, got {content_type.media_type}")
        kwargs["content_type"] = content_type
        kwargs["parts"] = decode_multipart(r)
        if not r.at_end():
            raise DecodeError(r.pos, f"the end of the PDU after the multipart body, {r.remaining} octets remain")
    missing = [a for a in cls.REQUIRED if a not in kwargs]
    if missing:
        names = ", ".join(sorted(dict(cls.HEADERS).get(a, HeaderField.CONTENT_TYPE).display_name for a in missing))
        raise DecodeError(r.pos, f"{cls.MESSAGE_TYPE.name.lower()}: mandatory {names}")
    unknown = set(kwargs) - _INIT_NAMES[cls]
    if unknown:  # pragma: no cover - the tables above keep this empty
        raise DecodeError(0, f"internal: unmapped {unknown}")
    try:
        return cls(**kwargs)
    except EncodeError as exc:
        raise DecodeError(r.pos, str(exc)) from None


def readdress(data: bytes, *, transaction_id: str, to: tuple[str, ...], insert_sender: bool = False) -> bytes:
    """An m-send-req with a new Transaction-Id and new To headers, everything else copied as it is; with
    `insert_sender`, From becomes the Insert-address-token (what a handset sends on MM1).

    The headers are walked (values skipped by the WSP generic rule), the body is not decoded: sending one
    stored message to each recipient costs a copy, not a decode and an encode.
    """
    r = Reader(data)
    if r.remaining < 2 or r.peek("X-Mms-Message-Type") != X_MMS_MESSAGE_TYPE:
        raise DecodeError(0, "X-Mms-Message-Type (0x8C) as the first header")
    r.pos += 1
    if r.octet("X-Mms-Message-Type value") != MessageType.SEND_REQ:
        raise DecodeError(1, "an m-send-req")
    kept: list[bytes] = []
    version = encode_short_integer(MmsVersion.V1_3)
    while not r.at_end():
        start = r.pos
        o = r.octet("header field")
        if o == 0x80 | HeaderField.CONTENT_TYPE:
            r.pos = start
            break
        if o >= 0x80:
            r.skip_value("header")
        elif 0x20 <= o < 0x7F:
            r.pos = start
            r.until_nul("application header name")
            r.skip_value("application header")
        else:
            raise DecodeError(start, f"a header field, got 0x{o:02X}")
        if o == 0x80 | HeaderField.MMS_VERSION:
            version = bytes(data[start + 1 : r.pos])
        elif o == 0x80 | HeaderField.FROM and insert_sender:
            kept.append(bytes((o,)) + _encode_sender(INSERT_ADDRESS))
        elif o not in (0x80 | HeaderField.TRANSACTION_ID, 0x80 | HeaderField.TO):
            kept.append(bytes(data[start : r.pos]))
    head = [
        bytes((X_MMS_MESSAGE_TYPE, MessageType.SEND_REQ, 0x80 | HeaderField.TRANSACTION_ID)),
        encode_text_string(transaction_id),
        bytes((0x80 | HeaderField.MMS_VERSION,)),
        version,
        *kept,
        *(bytes((0x80 | HeaderField.TO,)) + encode_encoded_string(address) for address in to),
    ]
    return b"".join(head) + data[r.pos :]
