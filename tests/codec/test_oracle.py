"""Every PDU type the codec encodes, and WAP Push segment sets of one and of several SMS, decoded by
Wireshark's dissectors (tshark): no malformed packet, no expert warning, and the fields it reads equal what we
encoded. The real PDUs of ../shared/mms-vectors are decoded by both and must agree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codec import mms
from bridge.codec.mms import decode_pdu, encode_pdu
from bridge.codec.wap_push import encode_wsp_push, segment_push
from tests.codec.expected import mismatches
from tests.codec.strategies import PDUS
from tests.codec.test_mms import PDU_CASES
from tests.oracle import dissect_pdus, dissect_push_segments
from tests.paths import VECTORS

PDU_VECTORS = sorted(
    p for d in ("python-messaging", "mmsd") for p in (VECTORS / d).iterdir() if p.suffix.lower() == ".mms"
)
EXAMPLES_PER_TYPE = 40


def _generated() -> list[mms.Pdu]:
    """EXAMPLES_PER_TYPE PDUs of each type drawn by Hypothesis (checked in one tshark run below); derandomized,
    so that CI judges the same PDUs every run (the round-trip tests explore at random)."""
    found: list[mms.Pdu] = []

    def collect_from(strategy: st.SearchStrategy[mms.Pdu]) -> None:
        @settings(
            max_examples=EXAMPLES_PER_TYPE, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        @given(strategy)
        def collect(pdu: mms.Pdu) -> None:
            found.append(pdu)

        collect()

    for strategy in PDUS.values():
        collect_from(strategy)
    return found


def test_every_encoded_pdu_type_passes_wiresharks_dissector() -> None:
    pdus = [case[1] for case in PDU_CASES] + _generated()
    assert {type(p) for p in pdus} == set(mms.PDU_CLASSES.values())
    encoded = [encode_pdu(p) for p in pdus]
    results = dissect_pdus(encoded)
    failures = []
    quirks = 0
    for pdu, data, seen in zip(pdus, encoded, results, strict=True):
        if _wireshark_trailing_0x84(pdu, data) and all("Malformed" in p for p in seen.problems):
            quirks += 1
            continue
        if "mmse" not in seen.protocols:
            failures.append(f"{data.hex()}: tshark found no MMSE PDU")
        elif seen.problems or (bad := mismatches(pdu, seen.fields)):
            failures.append(f"{pdu!r}\n  {data.hex()}\n  problems={seen.problems} mismatches={bad}")
    assert not failures, "\n".join(failures[:5])
    assert quirks < len(pdus) // 10


def _wireshark_trailing_0x84(pdu: mms.Pdu, data: bytes) -> bool:
    """Wireshark 4.0's MMSE dissector reports a malformed packet when a PDU without a body ends with the
    octet 0x84 (the Content-Type field code) as the value of its last header, e.g. X-Mms-Status Unrecognised
    or X-Mms-Response-Status 0x84; the same header followed by another one decodes cleanly
    (8c83985431008d9195849181). Those PDUs are valid; this dissector cannot judge them."""
    return not pdu.HAS_BODY and data[-1] == 0x84 and data[-2] >= 0x80


@pytest.mark.parametrize("subject_len", [0, 200])
def test_wap_push_of_one_and_of_several_sms(subject_len: int) -> None:
    notification = mms.NotificationInd(
        transaction_id="0123456789abcdef",
        sender="+12015554567/TYPE=PLMN",
        subject="S" * subject_len or None,
        message_class=mms.MessageClass.PERSONAL,
        message_size=123_456,
        expiry=timedelta(days=2),
        content_location="http://127.0.0.1:8080/m/AbCdEfGhIjKlMnOpQrStUv",
    )
    segments = segment_push(encode_wsp_push(encode_pdu(notification), transaction_id=7), reference=42)
    assert (len(segments) > 1) == (subject_len > 0)
    assert all(len(s) <= 140 for s in segments)
    seen = dissect_push_segments(list(reversed(segments)))
    assert not seen.problems
    assert {"gsm_sms", "wsp", "mmse"} <= seen.protocols
    assert seen.fields["gsm_sms.destination_port"][0] == "2948"
    assert seen.fields["gsm_sms.originator_port"][0] == "9200"
    assert seen.fields["wsp.pdu_type"] == ["0x06"]
    assert seen.fields["wsp.header.content_type"] == ["application/vnd.wap.mms-message"]
    assert seen.fields["wsp.header.x_wap_application_id"] == ["x-wap-application:mms.ua"]
    if len(segments) > 1:
        assert seen.fields["gsm_sms.udh.mm.msg_parts"][0] == str(len(segments))
        assert sorted(seen.fields["gsm_sms.udh.mm.msg_part"]) == [str(i) for i in range(1, len(segments) + 1)]
    else:
        assert "gsm_sms.udh.mm.msg_id" not in seen.fields
    assert not mismatches(notification, seen.fields)


def test_real_handset_and_mmsc_pdus_decode_as_wireshark_reads_them() -> None:
    assert len(PDU_VECTORS) >= 30, f"the vectors are missing from {VECTORS}"
    datas = [p.read_bytes() for p in PDU_VECTORS]
    decoded = [decode_pdu(d) for d in datas]
    results = dissect_pdus(datas)
    failures = {}
    for path, pdu, seen in zip(PDU_VECTORS, decoded, results, strict=True):
        bad = mismatches(pdu, seen.fields)
        if bad:
            failures[path.name] = bad
    assert not failures


#: Vectors whose decode-then-encode gives back the same octets. The others differ only in form (see the
#: closing note of issue 2): headers in another order than OMA-MMS-ENC's table, an explicit charset on ASCII
#: text, other WSP parameter codes (0x97 Name instead of 0x85), untyped `charset=` parameters, 1.4-style
#: encodings. Their decoded values survive a round trip unchanged.
BYTE_EXACT = {
    "mms_m_notify_ind_1.mms",
    "mms_m_notify_ind_2.mms",
    "mms_m_notifyresp_ind_1.mms",
    "mms_m_send_conf_1.mms",
    "mms_m_send_conf_2.mms",
    "ni-mms-1-3-con-272.mms",
    "sr-mms-mixed.mms",
    "BTMMS.MMS",
    "NOWMMS.MMS",
    "SIMPLE.MMS",
    "TOMSLOT.MMS",
    "m.mms",
}


@pytest.mark.parametrize("path", PDU_VECTORS, ids=[p.name for p in PDU_VECTORS])
def test_real_vectors_survive_a_round_trip(path: Path) -> None:
    data = path.read_bytes()
    pdu = decode_pdu(data)
    again = encode_pdu(pdu)
    assert decode_pdu(again) == pdu
    assert (again == data) == (path.name in BYTE_EXACT)
