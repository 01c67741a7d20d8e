"""SMPP 3.4 for an ESME, sans I/O: PDUs as typed values, and `SMPPConnection`, which owns no socket.

Follows the SMPP Protocol Specification v3.4 (SMPP Developers Forum, 1999): the PDU header (2.2), the command
ids (5.1.2.1, Table 5-1 "command_id"), the error codes (5.1.3, Table 5-2 "command_status"), the bind, submit_sm,
deliver_sm, enquire_link, unbind and generic_nack bodies (4.1-4.11) and TLVs (3.2.4, 5.3). Like h11, the
connection is fed the bytes that arrived (`receive_data`) and gives back events (`next_event`); it hands out the
bytes to send and checks the session rules: sequence numbers, a response only to an outstanding request of its
kind, submit only when bound to transmit.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

from bridge.errors import DecodeError, EncodeError, ProtocolError, Verdict

HEADER: Final = struct.Struct("!IIII")
#: no SMPP PDU a bridge meets comes near this; a longer length is a broken or hostile stream
MAX_PDU_BYTES: Final = 64 * 1024
INTERFACE_VERSION: Final = 0x34


class CommandId(IntEnum):
    """SMPP 3.4 5.1.2.1, Table 5-1 command_id (responses have bit 31 set)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103

    @property
    def is_response(self) -> bool:
        return bool(self & 0x80000000)


class CommandStatus(IntEnum):
    """SMPP 3.4 5.1.3, Table 5-2 command_status (the error codes)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


#: submit_sm errors about the message or its recipient: sending it again cannot succeed (5.1.3). Everything else
#: — throttling, a full queue, system errors, our own bind or source address settings — may pass later.
PERMANENT_SUBMIT_ERRORS: Final = frozenset(
    {
        CommandStatus.ESME_RINVMSGLEN,
        CommandStatus.ESME_RINVDSTADR,
        CommandStatus.ESME_RINVDSTTON,
        CommandStatus.ESME_RINVDSTNPI,
        CommandStatus.ESME_RINVESMCLASS,
        CommandStatus.ESME_RINVREGDLVFLG,
        CommandStatus.ESME_RINVOPTPARAMVAL,
        CommandStatus.ESME_RX_P_APPN,
        CommandStatus.ESME_RX_R_APPN,
    }
)
#: errors that ask the ESME to slow down before submitting more
BACKOFF_SUBMIT_ERRORS: Final = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})


def submit_verdict(status: int) -> tuple[Verdict, str]:
    """The verdict and RFC 3463 status of a submit_sm_resp's command_status: the recipient's address refused
    is 5.1.1, the message's form 5.3.0; anything not about the message or recipient may pass later (4.4.2)."""
    if status == CommandStatus.ESME_ROK:
        return Verdict.SUCCESS, "2.0.0"
    if status in PERMANENT_SUBMIT_ERRORS:
        destination = status in (
            CommandStatus.ESME_RINVDSTADR,
            CommandStatus.ESME_RINVDSTTON,
            CommandStatus.ESME_RINVDSTNPI,
        )
        return Verdict.PERMANENT, "5.1.1" if destination else "5.3.0"
    return Verdict.TEMPORARY, "4.4.2"


class Tag(IntEnum):
    """SMPP 3.4 5.3.2 TLV tags the bridge reads or writes."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(IntEnum):
    """SMPP 3.4 5.2.28 message_state, as carried in delivery receipts."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


# esm_class bits (5.2.12)
ESM_UDHI: Final = 0x40
ESM_DELIVERY_RECEIPT: Final = 0x04
ESM_TYPE_MASK: Final = 0x3C


@dataclass(frozen=True, slots=True, kw_only=True)
class Tlv:
    tag: int
    value: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind:
    command_id: CommandId
    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp:
    command_id: CommandId
    system_id: str
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortMessage:
    """submit_sm (4.4.1) and deliver_sm (4.6.1), which share one body layout."""

    command_id: CommandId
    destination_addr: str
    short_message: bytes
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: tuple[Tlv, ...] = ()

    def tlv(self, tag: int) -> bytes | None:
        return next((t.value for t in self.tlvs if t.tag == tag), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageIdResp:
    """submit_sm_resp (4.4.2), deliver_sm_resp (4.6.2): a message_id, empty on error."""

    command_id: CommandId
    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Empty:
    """enquire_link, enquire_link_resp, unbind, unbind_resp, generic_nack: a header and nothing more."""

    command_id: CommandId


Body = Bind | BindResp | ShortMessage | MessageIdResp | Empty


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    body: Body
    sequence_number: int
    command_status: int = CommandStatus.ESME_ROK

    @property
    def command_id(self) -> CommandId:
        return self.body.command_id


# --- encoding ---------------------------------------------------------------------------------------------------


def _cstr(value: str, max_octets: int, what: str) -> bytes:
    data = value.encode("ascii") + b"\0"
    if len(data) > max_octets:
        raise EncodeError(f"{what}: at most {max_octets - 1} characters, got {len(value)}")
    return data


def _tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    return b"".join(struct.pack("!HH", t.tag, len(t.value)) + t.value for t in tlvs)


def _encode_body(body: Body) -> bytes:
    if isinstance(body, Bind):
        return (
            _cstr(body.system_id, 16, "system_id")
            + _cstr(body.password, 9, "password")
            + _cstr(body.system_type, 13, "system_type")
            + bytes((body.interface_version, body.addr_ton, body.addr_npi))
            + _cstr(body.address_range, 41, "address_range")
        )
    if isinstance(body, BindResp):
        return _cstr(body.system_id, 16, "system_id") + _tlvs(body.tlvs)
    if isinstance(body, ShortMessage):
        if len(body.short_message) > 254:
            raise EncodeError(f"short_message: at most 254 octets, got {len(body.short_message)}")
        return (
            _cstr(body.service_type, 6, "service_type")
            + bytes((body.source_addr_ton, body.source_addr_npi))
            + _cstr(body.source_addr, 21, "source_addr")
            + bytes((body.dest_addr_ton, body.dest_addr_npi))
            + _cstr(body.destination_addr, 21, "destination_addr")
            + bytes((body.esm_class, body.protocol_id, body.priority_flag))
            + _cstr(body.schedule_delivery_time, 17, "schedule_delivery_time")
            + _cstr(body.validity_period, 17, "validity_period")
            + bytes(
                (
                    body.registered_delivery,
                    body.replace_if_present_flag,
                    body.data_coding,
                    body.sm_default_msg_id,
                    len(body.short_message),
                )
            )
            + body.short_message
            + _tlvs(body.tlvs)
        )
    if isinstance(body, MessageIdResp):
        return _cstr(body.message_id, 65, "message_id")
    return b""


def encode(pdu: Pdu) -> bytes:
    body = _encode_body(pdu.body)
    if isinstance(pdu.body, MessageIdResp) and pdu.command_status and not pdu.body.message_id:
        body = b""  # 4.4.2: an error response carries no body
    return HEADER.pack(HEADER.size + len(body), pdu.body.command_id, pdu.command_status, pdu.sequence_number) + body


# --- decoding ---------------------------------------------------------------------------------------------------


class _Cursor:
    __slots__ = ("base", "data", "pos")

    def __init__(self, data: bytes, base: int) -> None:
        self.data, self.pos, self.base = data, 0, base

    def octet(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise DecodeError(self.base + self.pos, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def cstr(self, max_octets: int, what: str) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + max_octets)
        if end < 0:
            raise DecodeError(self.base + self.pos, f"{what}: a NUL-terminated string of at most {max_octets} octets")
        raw, self.pos = self.data[self.pos : end], end + 1
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DecodeError(self.base + self.pos, f"{what}: ASCII") from exc

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError(self.base + self.pos, f"{what}: {n} octets")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def tlvs(self) -> tuple[Tlv, ...]:
        found = []
        while self.pos < len(self.data):
            tag, length = struct.unpack("!HH", self.take(4, "TLV tag and length"))
            found.append(Tlv(tag=tag, value=self.take(length, f"TLV 0x{tag:04X} value")))
        return tuple(found)


def _decode_body(command_id: CommandId, status: int, c: _Cursor) -> Body:
    if command_id in (CommandId.BIND_RECEIVER, CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER):
        return Bind(
            command_id=command_id,
            system_id=c.cstr(16, "system_id"),
            password=c.cstr(9, "password"),
            system_type=c.cstr(13, "system_type"),
            interface_version=c.octet("interface_version"),
            addr_ton=c.octet("addr_ton"),
            addr_npi=c.octet("addr_npi"),
            address_range=c.cstr(41, "address_range"),
        )
    if command_id in (
        CommandId.BIND_RECEIVER_RESP,
        CommandId.BIND_TRANSMITTER_RESP,
        CommandId.BIND_TRANSCEIVER_RESP,
    ):
        if not c.data:  # an error response may come without a body
            return BindResp(command_id=command_id, system_id="")
        return BindResp(command_id=command_id, system_id=c.cstr(16, "system_id"), tlvs=c.tlvs())
    if command_id in (CommandId.SUBMIT_SM, CommandId.DELIVER_SM):
        # fields in wire order (4.4.1): the keyword arguments are evaluated left to right
        return ShortMessage(
            command_id=command_id,
            service_type=c.cstr(6, "service_type"),
            source_addr_ton=c.octet("source_addr_ton"),
            source_addr_npi=c.octet("source_addr_npi"),
            source_addr=c.cstr(21, "source_addr"),
            dest_addr_ton=c.octet("dest_addr_ton"),
            dest_addr_npi=c.octet("dest_addr_npi"),
            destination_addr=c.cstr(21, "destination_addr"),
            esm_class=c.octet("esm_class"),
            protocol_id=c.octet("protocol_id"),
            priority_flag=c.octet("priority_flag"),
            schedule_delivery_time=c.cstr(17, "schedule_delivery_time"),
            validity_period=c.cstr(17, "validity_period"),
            registered_delivery=c.octet("registered_delivery"),
            replace_if_present_flag=c.octet("replace_if_present_flag"),
            data_coding=c.octet("data_coding"),
            sm_default_msg_id=c.octet("sm_default_msg_id"),
            short_message=c.take(c.octet("sm_length"), "short_message"),
            tlvs=c.tlvs(),
        )
    if command_id in (CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM_RESP, CommandId.DATA_SM_RESP):
        if not c.data:
            return MessageIdResp(command_id=command_id)
        return MessageIdResp(command_id=command_id, message_id=c.cstr(65, "message_id"))
    if command_id in (
        CommandId.ENQUIRE_LINK,
        CommandId.ENQUIRE_LINK_RESP,
        CommandId.UNBIND,
        CommandId.UNBIND_RESP,
        CommandId.GENERIC_NACK,
    ):
        return Empty(command_id=command_id)
    raise DecodeError(c.base - HEADER.size + 4, f"a command_id an ESME handles, got {command_id.name}")


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included)."""
    if len(data) < HEADER.size:
        raise DecodeError(len(data), "a 16-octet SMPP header")
    length, raw_id, status, seq = HEADER.unpack_from(data)
    if length != len(data):
        raise DecodeError(0, f"command_length {length} to match the {len(data)} octets given")
    try:
        command_id = CommandId(raw_id)
    except ValueError:
        raise DecodeError(4, f"a known command_id, got 0x{raw_id:08X}") from None
    c = _Cursor(bytes(data[HEADER.size :]), HEADER.size)
    body = _decode_body(command_id, status, c)
    if c.pos != len(c.data) and not isinstance(body, ShortMessage | BindResp):
        raise DecodeError(HEADER.size + c.pos, f"the end of {command_id.name}, {len(c.data) - c.pos} octets left")
    return Pdu(body=body, sequence_number=seq, command_status=status)


# --- delivery receipts ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """An SMSC delivery receipt (deliver_sm with esm_class 0x04; SMPP 3.4 Appendix B text, TLVs 5.3.2.12/35)."""

    message_id: str
    state: str
    error: str = ""


_STATE_NAMES: Final = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.ENROUTE: "ENROUTE",
}


def parse_receipt(sm: ShortMessage) -> Receipt | None:
    """The receipt in a deliver_sm, or None when it is not one. TLVs win over the Appendix B text."""
    if sm.esm_class & ESM_TYPE_MASK != ESM_DELIVERY_RECEIPT:
        return None
    words = {}
    text = (sm.short_message or sm.tlv(Tag.MESSAGE_PAYLOAD) or b"").decode("latin-1")
    for token in text.replace(" date:", "_date:").split():
        key, sep, value = token.partition(":")
        if sep:
            words[key.lower()] = value
    tlv_id = sm.tlv(Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = sm.tlv(Tag.MESSAGE_STATE)
    message_id = tlv_id.rstrip(b"\0").decode("ascii", "replace") if tlv_id else words.get("id", "")
    state = words.get("stat", "")
    if tlv_state and tlv_state[0] in MessageState._value2member_map_:
        state = _STATE_NAMES[MessageState(tlv_state[0])]
    if not message_id:
        return None
    return Receipt(message_id=message_id, state=state or "UNKNOWN", error=words.get("err", ""))


# --- the connection ---------------------------------------------------------------------------------------------


class BindState(Enum):
    OPEN = "open"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


_BIND_RESULT: Final = {
    CommandId.BIND_TRANSMITTER: BindState.BOUND_TX,
    CommandId.BIND_RECEIVER: BindState.BOUND_RX,
    CommandId.BIND_TRANSCEIVER: BindState.BOUND_TRX,
}


@dataclass
class SMPPConnection:
    """One ESME session. `send_*` return the bytes to write; `receive_data` + `next_event` give what came."""

    state: BindState = BindState.OPEN
    _next_seq: int = 1
    _outstanding: dict[int, CommandId] = field(default_factory=dict)
    _buffer: bytearray = field(default_factory=bytearray)
    _events: deque[Pdu] = field(default_factory=deque)

    @property
    def can_submit(self) -> bool:
        return self.state in (BindState.BOUND_TX, BindState.BOUND_TRX)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    def _request(self, body: Body) -> tuple[int, bytes]:
        seq = self._next_seq
        self._next_seq = seq + 1 if seq < 0x7FFFFFFF else 1
        self._outstanding[seq] = body.command_id
        return seq, encode(Pdu(body=body, sequence_number=seq))

    def send_bind(self, bind: Bind) -> tuple[int, bytes]:
        if self.state is not BindState.OPEN:
            raise EncodeError(f"bind in state {self.state.value}")
        self.state = BindState.BINDING
        return self._request(bind)

    def send_submit(self, sm: ShortMessage) -> tuple[int, bytes]:
        if not self.can_submit:
            raise EncodeError(f"submit_sm in state {self.state.value}")
        return self._request(sm)

    def send_enquire_link(self) -> tuple[int, bytes]:
        return self._request(Empty(command_id=CommandId.ENQUIRE_LINK))

    def send_unbind(self) -> tuple[int, bytes]:
        self.state = BindState.UNBINDING
        return self._request(Empty(command_id=CommandId.UNBIND))

    def send_response(self, request: Pdu, status: int = CommandStatus.ESME_ROK) -> bytes:
        """The answer to a request the SMSC sent (deliver_sm, enquire_link, unbind)."""
        cid = request.command_id
        body: Body
        if cid is CommandId.DELIVER_SM:
            body = MessageIdResp(command_id=CommandId.DELIVER_SM_RESP)
        elif cid in (CommandId.ENQUIRE_LINK, CommandId.UNBIND):
            body = Empty(command_id=CommandId(cid | 0x80000000))
            if cid is CommandId.UNBIND:
                self.state = BindState.CLOSED
        else:
            body = Empty(command_id=CommandId.GENERIC_NACK)
            status = status or CommandStatus.ESME_RINVCMDID
        return encode(Pdu(body=body, sequence_number=request.sequence_number, command_status=status))

    def receive_data(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:4], "big")
            if not HEADER.size <= length <= MAX_PDU_BYTES:
                raise DecodeError(0, f"command_length between 16 and {MAX_PDU_BYTES}, got {length}")
            if len(self._buffer) < length:
                break
            chunk, self._buffer = bytes(self._buffer[:length]), self._buffer[length:]
            self._events.append(self._accept(decode(chunk)))

    def _accept(self, pdu: Pdu) -> Pdu:
        cid = pdu.command_id
        if cid.is_response:
            asked = self._outstanding.pop(pdu.sequence_number, None)
            if cid is CommandId.GENERIC_NACK:
                return pdu  # may answer anything, even a request it could not read the sequence of
            if asked is None or asked | 0x80000000 != cid:
                raise ProtocolError(0, f"a response to an outstanding request, got {cid.name} #{pdu.sequence_number}")
            if asked in _BIND_RESULT:
                self.state = _BIND_RESULT[asked] if pdu.command_status == 0 else BindState.CLOSED
            elif asked is CommandId.UNBIND:
                self.state = BindState.CLOSED
            return pdu
        if cid is CommandId.DELIVER_SM and self.state not in (BindState.BOUND_RX, BindState.BOUND_TRX):
            raise ProtocolError(0, f"no deliver_sm in state {self.state.value}")
        return pdu

    def next_event(self) -> Pdu | None:
        """The next PDU received, or None until more data arrives."""
        return self._events.popleft() if self._events else None

    def forget(self, sequence_number: int) -> None:
        """Give up on an outstanding request (it timed out)."""
        self._outstanding.pop(sequence_number, None)
