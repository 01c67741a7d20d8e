"""The SMS that stands in for an MMS a phone cannot get: "<subject> from <sender>: <link>" in one SMS — 160
characters of the GSM 7-bit alphabet, or 70 when the words need UCS-2 (TS 23.038) — shortened subject first, then
sender; the link is never cut."""

from __future__ import annotations

from bridge.codec.sms_text import GSM7_SINGLE, UCS2_SINGLE, gsm7_septets


def _fits(text: str) -> bool:
    septets = gsm7_septets(text)
    if septets is not None:
        return septets <= GSM7_SINGLE
    # UCS-2: a character outside the BMP takes two code units
    return len(text.encode("utf-16-be")) // 2 <= UCS2_SINGLE


def link_text(*, subject: str | None, sender: str, url: str) -> str:
    """The SMS text for a message's page at `url`."""
    # no more of either than one SMS could show: keeps the search below short whatever the mail says
    head = " ".join((subject or "").split())[: UCS2_SINGLE * 2] or "Message"
    sender = " ".join(sender.split())[: UCS2_SINGLE * 2] or "someone"
    wordings = [f"{head} from {sender}: {url}"]
    for who in (sender, sender.split("@")[0]):
        wordings += [f"{head[:cut].rstrip()}... from {who}: {url}" for cut in range(len(head) - 1, 0, -1)]
    wordings += [f"{head[:cut].rstrip()}...: {url}" for cut in range(len(head) - 1, 0, -1)]
    return next((w for w in wordings if _fits(w)), url)
