"""A mutation fuzzer over the real mail corpus: byte flips, truncations, duplicated and missing MIME boundaries,
header injections (NUL, CR, bad charsets, RFC 2047 words), deep nesting. Deterministic for a seed, so a failure
found in CI is reproduced by its printed seed. `python -m tests.hostile.mutate --count N --seed S` runs it
longer, outside the test suite."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?', re.IGNORECASE)
#: charset labels that are not text encodings, or not charsets at all, as fuzzing found them
ODD_CHARSETS = [b"zlib", b"rot13", b"undefined", b"idna", b"punycode", b"base64", b"hex", b"utf\x00-8", b"", b"x" * 300]
_HEADERS = [
    b"Subject: =?%s?B?aGVsbG8=?=",
    b"Subject: =?utf-8?Q?a\x00b?=",
    b"Content-Type: text/plain; charset=%s",
    b"From: =?%s?Q?x?= <a\x00b@example.org>",
    b"Subject: a\x00b\rc",
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Content-Disposition: attachment; filename*=%s''%%FF%%00.jpg",
]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _boundaries(data: bytes, rng: random.Random) -> bytes:
    found = _BOUNDARY.findall(data)
    if not found:
        return _flip(data, rng)
    marker = b"--" + rng.choice(found)
    if rng.random() < 0.5:  # a boundary dropped (its closing one too, at times)
        return data.replace(marker, b"--gone", rng.randint(1, 3))
    at = data.find(marker)
    return data[:at] + marker + b"\r\n" + data[at:] if at >= 0 else data


def _header(data: bytes, rng: random.Random) -> bytes:
    template = rng.choice(_HEADERS)
    line = template % rng.choice(ODD_CHARSETS) if b"%s" in template else template
    return line + b"\r\n" + data


def _charset(data: bytes, rng: random.Random) -> bytes:
    label = b"charset=" + rng.choice(ODD_CHARSETS).replace(b"\\", b"")
    return re.sub(rb"(?i)charset=\"?[\w-]+\"?", label, data, count=1)


def _nest(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([10, 100, 1000])
    head = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    return b"Subject: nested\r\nMIME-Version: 1.0\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"


MUTATIONS = (_flip, _truncate, _boundaries, _header, _charset, _nest)


def corpus(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("*.eml"))]


def mutants(mails: list[bytes], *, seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` mutated mails, each with a label saying how it was made."""
    rng = random.Random(seed)
    for n in range(count):
        base = rng.randrange(len(mails))
        data = mails[base]
        steps = []
        for _ in range(rng.randint(1, 3)):
            mutation = rng.choice(MUTATIONS)
            data = mutation(data, rng)
            steps.append(mutation.__name__.strip("_"))
        yield f"#{n} mail {base} {'+'.join(steps)}", data


def main() -> None:
    import argparse
    import time

    from bridge.codec.mms import encode_pdu
    from bridge.convert.compose import ConversionRefused, convert_mail, send_req
    from tests.paths import SHARED

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    print(f"seed {args.seed}, {args.count} mutants", flush=True)
    failures = 0
    for label, data in mutants(corpus(SHARED / "corpus" / "real"), seed=args.seed, count=args.count):
        try:
            encode_pdu(send_req(convert_mail(data), transaction_id="t", to=("+12015554567/TYPE=PLMN",)))
        except ConversionRefused as exc:
            if not re.fullmatch(r"5\.\d{1,3}\.\d{1,3}", exc.status):
                failures += 1
                print(f"{label}: refused without a proper status: {exc.status!r}")
        except Exception as exc:
            failures += 1
            print(f"{label}: {type(exc).__name__}: {exc}")
    print(f"{failures} failures")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
