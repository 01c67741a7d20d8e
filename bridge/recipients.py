"""RCPT addresses: `<number>@<our domain>` -> an E.164 number, or the SMTP reply that refuses it.

Owns the relay protection: only the configured domains are ours; source routes, `%` and `!` routing, IP
literals, quoted local parts that hide another address and every foreign domain are refused with
`550 5.7.1` (RFC 5321 3.6, RFC 3463). Numbers are normalised with `phonenumbers` and a default region. A local
part with letters or an extension, a number possible only as a local call, and (by default) one that
phonenumbers does not know as assigned are `550 5.1.1`; premium-rate and shared-cost numbers (by default, by
number type) and the allow and deny prefixes, applied to the E.164 form, are `550 5.7.1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from bridge.model import MSISDN

RELAY_DENIED = "550 5.7.1 Relaying denied: this gateway only takes mail for its own domains"


#: `smtp.deny_number_types` names -> phonenumbers' number types
NUMBER_TYPES: dict[str, int] = {
    "fixed-line": phonenumbers.PhoneNumberType.FIXED_LINE,
    "mobile": phonenumbers.PhoneNumberType.MOBILE,
    "fixed-line-or-mobile": phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    "toll-free": phonenumbers.PhoneNumberType.TOLL_FREE,
    "premium-rate": phonenumbers.PhoneNumberType.PREMIUM_RATE,
    "shared-cost": phonenumbers.PhoneNumberType.SHARED_COST,
    "voip": phonenumbers.PhoneNumberType.VOIP,
    "personal-number": phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    "pager": phonenumbers.PhoneNumberType.PAGER,
    "uan": phonenumbers.PhoneNumberType.UAN,
    "voicemail": phonenumbers.PhoneNumberType.VOICEMAIL,
    "unknown": phonenumbers.PhoneNumberType.UNKNOWN,
}
#: what a sender may write for a number: digits, an optional leading +, and the usual separators. No letters
#: (1-800-FLOWERS is a vanity spelling, not a number), no extensions (x999, ext999, ;ext=): an MMS cannot dial one
_NUMBER_TEXT = re.compile(r"\+?[0-9(][0-9 ().-]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientPolicy:
    domains: frozenset[str]
    default_region: str
    allow_prefixes: tuple[str, ...] = ()
    deny_prefixes: tuple[str, ...] = ()
    #: "valid": a number phonenumbers knows to be assigned in its plan; "possible": any length that plan allows
    number_check: str = "valid"
    deny_number_types: frozenset[str] = frozenset({"premium-rate", "shared-cost"})


@dataclass(frozen=True, slots=True)
class Refusal:
    reply: str


@dataclass(frozen=True, slots=True)
class _Number:
    e164: str
    valid: bool
    kind: str


_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "is too short for a phone number",
    phonenumbers.ValidationResult.TOO_LONG: "is too long for a phone number",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "starts with no country code in use",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "is a local number: write it with its area code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has a length no number of its country has",
}
_SEPARATORS = re.compile(r"[ ().-]")


def _candidates(text: str) -> list[str]:
    """The ways a sender may have meant `text`: `00` is the international prefix most of the world dials (the
    region's own exit code, 011 in the US, phonenumbers knows), and an all-digit number that is no number of the
    region may be one written without its `+`, as the mail gateways people used took them."""
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("00") and digits[2:].isdigit():
        return ["+" + digits[2:], text]
    if digits.isdigit() and not digits.startswith("0"):
        return [text, "+" + digits]
    return [text]


def _possible(number: phonenumbers.PhoneNumber) -> bool:
    return bool(phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE)


@lru_cache(maxsize=4096)
def _number(text: str, region: str) -> _Number | str:
    """The number, or why it is not one. Cached: the same few numbers come back mail after mail, and phonenumbers
    costs a tenth of a millisecond each."""
    found: list[phonenumbers.PhoneNumber] = []
    for candidate in _candidates(text):
        try:
            found.append(phonenumbers.parse(candidate, region))
        except phonenumbers.NumberParseException:
            continue
    if not found:
        return "is not a phone number"
    if any(parsed.extension for parsed in found):
        return "has an extension, which an MMS cannot reach"
    # a number that is possible only as a local call (555-0100 in the US) has no E.164 form
    possible = [parsed for parsed in found if _possible(parsed)]
    if not possible:  # why, for the reading the sender most likely meant: the first
        return _REASONS.get(phonenumbers.is_possible_number_with_reason(found[0]), "is not a phone number in use")
    parsed = next((p for p in possible if phonenumbers.is_valid_number(p)), possible[0])
    kind = phonenumbers.number_type(parsed)
    name = next((n for n, t in NUMBER_TYPES.items() if t == kind), "unknown")
    e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return _Number(e164=e164, valid=phonenumbers.is_valid_number(parsed), kind=name)


def parse_recipient(address: str, policy: RecipientPolicy) -> MSISDN | Refusal:
    if address.startswith("@") or ":" in address.split("@", 1)[0]:
        return Refusal(RELAY_DENIED)  # a source route (<@a,@b:user@c>)
    local, sep, domain = address.rpartition("@")
    if not sep or not local:
        return Refusal("550 5.1.3 Bad recipient address syntax")
    domain = domain.strip().lower()
    domain = domain[:-1] if domain.endswith(".") else domain  # one root dot is tolerated, "a.." is not a domain
    if domain.startswith("[") or domain not in policy.domains:
        return Refusal(RELAY_DENIED)
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if any(ch in local for ch in "%!@"):
        return Refusal(RELAY_DENIED)
    number = local.split("+", 1)[0] if not local.startswith("+") else local  # tolerate subaddresses "n+tag"
    if not _NUMBER_TEXT.fullmatch(number):
        return Refusal(f"550 5.1.1 <{address}>: {local!r} is not a phone number (digits only, no letters or extension)")
    found = _number(number, policy.default_region)
    if isinstance(found, str):
        return Refusal(f"550 5.1.1 <{address}>: {local!r} {found}")
    if policy.number_check == "valid" and not found.valid:
        where = f"region {policy.default_region}" if not number.lstrip().startswith("+") else "its country"
        return Refusal(f"550 5.1.1 <{address}>: {local!r} is not a valid number in {where} (no such assigned number)")
    if found.kind in policy.deny_number_types:
        return Refusal(f"550 5.7.1 <{address}>: this gateway does not send to {found.kind} numbers")
    e164 = found.e164
    if policy.allow_prefixes and not e164.startswith(policy.allow_prefixes):
        return Refusal(f"550 5.7.1 <{address}>: this gateway does not send to {e164[:3]}... (not an allowed prefix)")
    if policy.deny_prefixes and e164.startswith(policy.deny_prefixes):
        return Refusal(f"550 5.7.1 <{address}>: this gateway does not send to {e164[:3]}... (a denied prefix)")
    return MSISDN(e164=e164)
