"""Hypothesis strategies for every MMS PDU type the codec models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from bridge.codec import mms
from bridge.codec.multipart import BodyPart
from bridge.codec.smil import Slide, encode_smil
from bridge.codec.tables import Charset
from bridge.codec.wsp import ContentType

ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=24)
any_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=24)
token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-"), min_size=1, max_size=12).filter(
    lambda t: t != "charset"
)
dates = st.integers(0, 2**32 - 1).map(lambda s: datetime.fromtimestamp(s, UTC))
times: st.SearchStrategy[mms.Time] = st.one_of(dates, st.integers(0, 10**8).map(lambda s: timedelta(seconds=s)))
phone = st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True).map(lambda n: f"{n}/TYPE=PLMN")
email = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.[a-z]{2,3}", fullmatch=True)
address = st.one_of(phone, email, any_text.filter(bool))
sender: st.SearchStrategy[mms.Sender] = st.one_of(address, st.just(mms.INSERT_ADDRESS))
message_class = st.one_of(st.sampled_from(mms.MessageClass), token)
version = st.sampled_from(mms.MmsVersion)

# SMIL src values are Content-Locations: file names. (Wireshark's XML dissector flags a '%' in an attribute.)
file_name = st.from_regex(r"[A-Za-z0-9_-]{1,12}\.[a-z]{3}", fullmatch=True)
opt_file = st.one_of(st.none(), file_name)
media_types = st.sampled_from(
    ["image/jpeg", "image/png", "image/gif", "text/plain", "application/smil", "audio/amr", "video/3gpp"]
)


def _params() -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    known = st.tuples(st.sampled_from(["name", "filename", "start", "start-info"]), ascii_text)
    # A value ending in '"' is valid, but Wireshark warns that it looks like a stray trailing quote.
    untyped = st.tuples(
        token.filter(lambda t: t not in {"name", "filename", "start", "start-info", "type"}),
        any_text.filter(lambda v: not v.endswith('"')),
    )
    return st.lists(st.one_of(known, untyped), max_size=3).map(tuple)


part_content_types = st.builds(
    ContentType,
    media_type=media_types,
    charset=st.one_of(st.none(), st.sampled_from([Charset.UTF_8, Charset.US_ASCII, Charset.UTF_16, 2084])),
    params=_params(),
)
smil = st.lists(st.builds(Slide, image=opt_file, text=opt_file, audio=opt_file), min_size=1, max_size=3).map(
    encode_smil
)


@st.composite
def body_part(draw: st.DrawFn) -> BodyPart:
    content_type = draw(part_content_types)
    # Wireshark parses SMIL as XML: give SMIL parts a real document. Other parts get any bytes after a fixed
    # first octet: Wireshark's heuristic MMSE dissector claims part data that starts with 0x8C (an MMS
    # message type) and reports the part as a malformed PDU.
    is_smil = content_type.media_type == "application/smil"
    return BodyPart(
        content_type=content_type,
        data=draw(smil if is_smil else st.binary(max_size=300).map(lambda b: b"\x00" + b)),
        content_id=draw(st.one_of(st.none(), ascii_text.map(lambda t: f"<{t}>"))),
        content_location=draw(st.one_of(st.none(), ascii_text)),
    )


parts = st.lists(body_part(), max_size=4).map(tuple)
body_content_types = st.builds(
    ContentType,
    media_type=st.sampled_from(["application/vnd.wap.multipart.related", "application/vnd.wap.multipart.mixed"]),
    params=st.one_of(
        st.just(()),
        ascii_text.map(lambda s: (("start", f"<{s}>"), ("type", "application/smil"))),
    ),
)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def enum(e: Any) -> st.SearchStrategy[Any]:
    return opt(st.sampled_from(e))


addresses = st.lists(address, max_size=3).map(tuple)
some_addresses = st.lists(address, min_size=1, max_size=2).map(tuple)


def _read_report(
    cls: type[mms.ReadRecInd | mms.ReadOrigInd], date: st.SearchStrategy[Any]
) -> st.SearchStrategy[mms.Pdu]:
    return st.builds(
        cls,
        message_id=ascii_text,
        to=some_addresses,
        sender=sender,
        read_status=st.sampled_from(mms.ReadStatus),
        mms_version=version,
        date=date,
    )


PDUS: dict[str, st.SearchStrategy[mms.Pdu]] = {
    "m-send-req": st.builds(
        mms.SendReq,
        transaction_id=ascii_text,
        content_type=body_content_types,
        parts=parts,
        mms_version=version,
        date=opt(dates),
        sender=sender,
        to=addresses,
        cc=addresses,
        bcc=addresses,
        subject=opt(any_text),
        message_class=opt(message_class),
        expiry=opt(times),
        delivery_time=opt(times),
        priority=enum(mms.Priority),
        sender_visibility=enum(mms.SenderVisibility),
        delivery_report=enum(mms.YesNo),
        read_report=enum(mms.YesNo),
        content_class=enum(mms.ContentClass),
        drm_content=enum(mms.YesNo),
        adaptation_allowed=enum(mms.YesNo),
    ),
    "m-send-conf": st.builds(
        mms.SendConf,
        transaction_id=ascii_text,
        response_status=st.sampled_from(mms.ResponseStatus),
        mms_version=version,
        response_text=opt(any_text),
        message_id=opt(ascii_text),
        content_location=opt(ascii_text),
    ),
    "m-notification-ind": st.builds(
        mms.NotificationInd,
        transaction_id=ascii_text,
        message_class=message_class,
        message_size=st.integers(0, 2**32 - 1),
        expiry=times,
        content_location=ascii_text,
        mms_version=version,
        sender=opt(sender),
        subject=opt(any_text),
        delivery_report=enum(mms.YesNo),
        priority=enum(mms.Priority),
        content_class=enum(mms.ContentClass),
        drm_content=enum(mms.YesNo),
    ),
    "m-notifyresp-ind": st.builds(
        mms.NotifyRespInd,
        transaction_id=ascii_text,
        status=st.sampled_from(mms.Status),
        mms_version=version,
        report_allowed=enum(mms.YesNo),
    ),
    "m-retrieve-conf": st.builds(
        mms.RetrieveConf,
        date=dates,
        content_type=body_content_types,
        parts=parts,
        transaction_id=opt(ascii_text),
        mms_version=version,
        message_id=opt(ascii_text),
        sender=opt(sender),
        to=addresses,
        cc=addresses,
        subject=opt(any_text),
        message_class=opt(message_class),
        priority=enum(mms.Priority),
        delivery_report=enum(mms.YesNo),
        read_report=enum(mms.YesNo),
        retrieve_status=enum(mms.RetrieveStatus),
        retrieve_text=opt(any_text),
        content_class=enum(mms.ContentClass),
        drm_content=enum(mms.YesNo),
    ),
    "m-acknowledge-ind": st.builds(
        mms.AcknowledgeInd, transaction_id=ascii_text, mms_version=version, report_allowed=enum(mms.YesNo)
    ),
    "m-delivery-ind": st.builds(
        mms.DeliveryInd,
        message_id=ascii_text,
        to=some_addresses,
        date=dates,
        status=st.sampled_from(mms.Status),
        mms_version=version,
        status_text=opt(any_text),
    ),
    "m-read-rec-ind": _read_report(mms.ReadRecInd, opt(dates)),
    "m-read-orig-ind": _read_report(mms.ReadOrigInd, dates),
}
