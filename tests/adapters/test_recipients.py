"""RCPT addresses to E.164, with the relay rules and the allow and deny prefixes."""

from __future__ import annotations

import pytest

from bridge.model import MSISDN
from bridge.recipients import RecipientPolicy, Refusal, parse_recipient

POLICY = RecipientPolicy(domains=frozenset({"mms.example.net"}), default_region="US")


@pytest.mark.parametrize(
    ("address", "e164"),
    [
        ("12015554567@mms.example.net", "+12015554567"),
        ("+447911123456@mms.example.net", "+447911123456"),
        ("2015554567+camera@mms.example.net", "+12015554567"),
        ('"(201) 555-4567"@mms.example.net', "+12015554567"),
    ],
)
def test_numbers_normalise(address: str, e164: str) -> None:
    assert parse_recipient(address, POLICY) == MSISDN(e164=e164)


def test_default_region_applies_to_national_numbers() -> None:
    uk = RecipientPolicy(domains=frozenset({"mms.example.net"}), default_region="GB")
    assert parse_recipient("07911123456@mms.example.net", uk) == MSISDN(e164="+447911123456")


def test_allow_and_deny_prefixes() -> None:
    allow = RecipientPolicy(domains=POLICY.domains, default_region="US", allow_prefixes=("+1201",))
    assert isinstance(parse_recipient("12015554567@mms.example.net", allow), MSISDN)
    refused = parse_recipient("+447911123456@mms.example.net", allow)
    assert isinstance(refused, Refusal) and refused.reply.startswith("550 5.7.1")
    deny = RecipientPolicy(domains=POLICY.domains, default_region="US", deny_prefixes=("+1900",))
    refused = parse_recipient("19005550100@mms.example.net", deny)
    assert isinstance(refused, Refusal) and refused.reply.startswith("550 5.7.1")
    assert isinstance(parse_recipient("12015554567@mms.example.net", deny), MSISDN)


@pytest.mark.parametrize(
    ("local", "e164"),
    [
        ("00442071838750", "+442071838750"),  # the international prefix most of the world dials
        ("00 44 20 7183 8750", "+442071838750"),
        ("011442071838750", "+442071838750"),  # the region's own exit code
        ("442071838750", "+442071838750"),  # valid only as +<digits>
        ("4915112345678", "+4915112345678"),
        ("2015554567", "+12015554567"),  # a number of the region stays one
    ],
)
def test_numbers_as_people_write_them(local: str, e164: str) -> None:
    assert parse_recipient(f"{local}@mms.example.net", POLICY) == MSISDN(e164=e164)


@pytest.mark.parametrize(
    ("local", "why"),
    [
        ("1234", "is too short for a phone number"),
        ("555-0100", "is a local number: write it with its area code"),
        ("15551234567", "is not a valid number in region US"),
        ("+15551234567", "is not a valid number in its country"),
        ("19005550100", "does not send to premium-rate numbers"),
    ],
)
def test_a_refused_number_says_why(local: str, why: str) -> None:
    refused = parse_recipient(f"{local}@mms.example.net", POLICY)
    assert isinstance(refused, Refusal) and why in refused.reply, refused


def test_a_denied_prefix_says_so() -> None:
    deny = RecipientPolicy(domains=POLICY.domains, default_region="US", deny_prefixes=("+44",))
    refused = parse_recipient("00442071838750@mms.example.net", deny)
    assert isinstance(refused, Refusal) and refused.reply.startswith("550 5.7.1") and "denied prefix" in refused.reply
