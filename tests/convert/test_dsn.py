"""RFC 3464 bounces, as Mailman's bounce scanner (flufl.bounce) and Python's email parser read them."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest
from flufl.bounce import all_failures, scan_message

from bridge.convert.dsn import RecipientStatus, build_dsn, is_report, may_report
from bridge.model import Report
from tests.convert.helpers import mail

ORIGINAL = mail("The door opened", subject="Front door")
ARRIVAL = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)


def dsn(report: Report, *, ret_full: bool = False) -> bytes:
    return build_dsn(
        report=report,
        reporting_mta="mms.example.net",
        to="camera@example.org",
        recipients=[
            RecipientStatus(
                rcpt_to="12015554567@mms.example.net",
                status="5.1.1" if report is Report.FAILED else "4.4.1",
                diagnostic="unknown subscriber",
                original_recipient="rfc822; 12015554567@mms.example.net",
                last_attempt=ARRIVAL,
            )
        ],
        original=ORIGINAL,
        arrival=ARRIVAL,
        envid="ENV-42",
        ret_full=ret_full,
        subject="Front door",
    )


ADDRESS = b"12015554567@mms.example.net"


def test_flufl_bounce_finds_the_failed_recipient_as_a_permanent_failure() -> None:
    msg = email.message_from_bytes(dsn(Report.FAILED))
    temporary, permanent = all_failures(msg)
    assert permanent == {ADDRESS} and not temporary
    assert scan_message(msg) == {ADDRESS}


def test_structure_of_the_report() -> None:
    msg = email.message_from_bytes(dsn(Report.FAILED, ret_full=True), policy=policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Auto-Submitted"] == "auto-replied"
    human, status, original = msg.iter_parts()
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    assert original.get_content_type() == "message/rfc822"
    text = dsn(Report.FAILED).decode()
    for field in (
        "Reporting-MTA: dns; mms.example.net",
        "Original-Envelope-Id: ENV-42",
        "Final-Recipient: rfc822; 12015554567@mms.example.net",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: X-MMS; unknown subscriber",
    ):
        assert field in text
    assert "Content-Type: text/rfc822-headers" in text and "The door opened" not in text


@pytest.mark.parametrize(("report", "temporary"), [(Report.DELAYED, {ADDRESS}), (Report.DELIVERED, set())])
def test_delay_is_a_temporary_failure_and_success_none(report: Report, temporary: set[bytes]) -> None:
    msg = email.message_from_bytes(dsn(report))
    assert all_failures(msg) == (temporary, set())
    assert f"Action: {report.value}" in dsn(report).decode()


def test_never_to_the_null_sender_nor_about_a_report_or_an_auto_reply() -> None:
    assert may_report(mail_from="a@example.org", auto_submitted=False, is_report=False)
    assert not may_report(mail_from="", auto_submitted=False, is_report=False)
    assert not may_report(mail_from="a@example.org", auto_submitted=True, is_report=False)
    assert not may_report(mail_from="a@example.org", auto_submitted=False, is_report=True)
    assert is_report(dsn(Report.FAILED)) and not is_report(ORIGINAL)
