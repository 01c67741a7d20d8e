"""A small oracle nobody here wrote: Wireshark's dissectors, run through `tshark`.

An MMS PDU is wrapped as the body of an HTTP POST on a made-up loopback TCP connection (Wireshark reaches its
MMSE dissector through HTTP's media-type table); SMS user data is framed as SMS-DELIVER TPDUs on a DLT_USER
link mapped to the `gsm_sms` dissector, which parses the UDH, reassembles and hands port 2948 to WSP and MMSE.
`tshark` missing is a test failure, never a skip: the test command installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

LINKTYPE_ETHERNET = 1
LINKTYPE_USER0 = 147
_SEVERITY_WARN = 0x00600000
_CONFIG_DIR = tempfile.mkdtemp(prefix="mms-bridge-wireshark-")


def tshark() -> str:
    path = shutil.which("tshark")
    assert path, "tshark is not installed: the README's test command installs it (apt-get install tshark)"
    return path


def _pcap(frames: Sequence[bytes], linktype: int) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0x40000, linktype)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp_frame(
    seq: int, ack: int, flags: int, payload: bytes, *, to_server: bool, ident: int, port: int = 40000, server: int = 80
) -> bytes:
    sport, dport = (port, server) if to_server else (server, port)
    addr = bytes((127, 0, 0, 1))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", addr, addr, 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), ident & 0xFFFF, 0x4000, 64, 6, 0, addr, addr
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + tcp + payload


def _tcp_frames(payload: bytes, *, sport: int, server: int = 80) -> list[bytes]:
    """A complete TCP conversation in which the client sends `payload`, in 16 kB segments."""
    syn, ack, psh, fin = 0x02, 0x10, 0x08, 0x01
    c, s = 1000, 5000
    kw = {"port": sport, "server": server}
    frames = [
        _tcp_frame(c, 0, syn, b"", to_server=True, ident=1, **kw),
        _tcp_frame(s, c + 1, syn | ack, b"", to_server=False, ident=2, **kw),
        _tcp_frame(c + 1, s + 1, ack, b"", to_server=True, ident=3, **kw),
    ]
    c, s = c + 1, s + 1
    for off in range(0, len(payload), 16000):
        chunk = payload[off : off + 16000]
        frames.append(_tcp_frame(c, s, ack | psh, chunk, to_server=True, ident=len(frames) + 1, **kw))
        c += len(chunk)
        frames.append(_tcp_frame(s, c, ack, b"", to_server=False, ident=len(frames) + 1, **kw))
    frames.append(_tcp_frame(c, s, fin | ack, b"", to_server=True, ident=len(frames) + 1, **kw))
    frames.append(_tcp_frame(s, c + 1, fin | ack, b"", to_server=False, ident=len(frames) + 1, **kw))
    frames.append(_tcp_frame(c + 1, s + 1, ack, b"", to_server=True, ident=len(frames) + 1, **kw))
    return frames


def _http_post_frames(body: bytes, *, sport: int, content_type: str = "application/vnd.wap.mms-message") -> list[bytes]:
    """A complete TCP conversation carrying one HTTP POST of `body`."""
    request = (
        f"POST /mms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return _tcp_frames(request, sport=sport)


def sms_deliver(user_data: bytes, originator: str = "12015554567") -> bytes:
    """An SMS-DELIVER TPDU (TP-UDHI set, 8-bit data coding 0x04) carrying `user_data`."""
    digits = originator + ("F" if len(originator) % 2 else "")
    semi = bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))
    return (
        bytes((0x40, len(originator), 0x91))
        + semi
        + b"\x00\x04"
        + bytes.fromhex("62117221000000")
        + bytes((len(user_data),))
        + user_data
    )


@dataclass
class Dissection:
    """What tshark made of a capture: every field's shown values, and its warnings."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    protocols: set[str] = field(default_factory=set)

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


def _walk(elem: ET.Element) -> Iterator[ET.Element]:
    for child in elem:
        yield child
        yield from _walk(child)


def _run(pcap: bytes, extra: Sequence[str] = ()) -> list[tuple[ET.Element, str]]:
    """tshark's PDML packets of `pcap`, with the verbose text of the whole capture."""
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_CONFIG_DIR)
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(pcap)
        f.flush()
        pdml = subprocess.run(
            [tshark(), "-r", f.name, "-T", "pdml", *extra],
            capture_output=True,
            env=env,
            check=True,
            timeout=300,
        ).stdout
    root = ET.fromstring(_xml_safe(pdml))
    return [(packet, "") for packet in root.findall("packet")]


_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHAR_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def _xml_safe(pdml: bytes) -> str:
    """tshark copies whatever the decoded text holds into PDML (control characters, invalid UTF-8, references
    to characters XML forbids); replace those so the document parses."""

    def ref(m: re.Match[str]) -> str:
        code = int(m.group(1)[1:], 16) if m.group(1)[0] == "x" else int(m.group(1))
        return "?" if _INVALID_XML.match(chr(code)) or 0xD800 <= code <= 0xDFFF else m.group(0)

    text = pdml.decode("utf-8", "replace")
    return _CHAR_REF.sub(ref, _INVALID_XML.sub("?", text))


def _collect(packet: ET.Element, out: Dissection) -> None:
    for el in _walk(packet):
        name = el.get("name", "")
        if el.tag == "proto":
            out.protocols.add(name)
            if name == "_ws.malformed":
                out.problems.append(el.get("showname") or "malformed")
        if name == "_ws.expert":
            severity = next((int(f.get("show", "0"), 0) for f in el if f.get("name") == "_ws.expert.severity"), 0)
            message = next((f.get("show", "") for f in el if f.get("name") == "_ws.expert.message"), "")
            if severity >= _SEVERITY_WARN:
                out.problems.append(message)
        if el.tag == "field" and name:
            out.fields.setdefault(name, []).append(el.get("show", ""))


def _stream_of(packet: ET.Element) -> str:
    for el in _walk(packet):
        if el.get("name") == "tcp.stream":
            return el.get("show", "")
    return ""


def dissect_pdus(pdus: Sequence[bytes]) -> list[Dissection]:
    """tshark's reading of each MMS PDU, each sent as the body of an HTTP POST on its own TCP connection;
    one tshark run for all of them."""
    frames: list[bytes] = []
    for i, pdu in enumerate(pdus):
        frames.extend(_http_post_frames(pdu, sport=20000 + i))
    results = [Dissection() for _ in pdus]
    for packet, _ in _run(_pcap(frames, LINKTYPE_ETHERNET)):
        stream = _stream_of(packet)
        if stream:
            _collect(packet, results[int(stream)])
    return results


def dissect_pdu(pdu: bytes) -> Dissection:
    return dissect_pdus([pdu])[0]


SMPP_PORT = 2775


def split_smpp(stream: bytes) -> list[bytes]:
    """The PDUs of an SMPP byte stream, cut by their command_length."""
    pdus, pos = [], 0
    while pos + 4 <= len(stream):
        length = int.from_bytes(stream[pos : pos + 4], "big")
        assert length >= 16, f"command_length {length} at {pos}"
        pdus.append(stream[pos : pos + length])
        pos += length
    assert pos == len(stream), "the stream ends inside a PDU"
    return pdus


def dissect_smpp(pdus: Sequence[bytes]) -> list[Dissection]:
    """tshark's reading of SMPP PDUs an ESME sent on one connection, each in a TCP segment of its own; one
    Dissection per PDU. The SMPP dissector hands binary short messages with UDHI on to GSM SMS UD, WSP, MMSE."""
    syn, ack, psh = 0x02, 0x10, 0x08
    kw = {"port": 40000, "server": SMPP_PORT}
    c, s = 1001, 5001
    frames = [
        _tcp_frame(c - 1, 0, syn, b"", to_server=True, ident=1, **kw),
        _tcp_frame(s - 1, c, syn | ack, b"", to_server=False, ident=2, **kw),
    ]
    for pdu in pdus:
        frames.append(_tcp_frame(c, s, ack | psh, pdu, to_server=True, ident=len(frames) + 1, **kw))
        c += len(pdu)
    out: list[Dissection] = []
    for packet, _ in _run(_pcap(frames, LINKTYPE_ETHERNET), ["-d", f"tcp.port=={SMPP_PORT},smpp"]):
        seen = Dissection()
        _collect(packet, seen)
        if "smpp" in seen.protocols:
            out.append(seen)
    assert len(out) == len(pdus), f"tshark found {len(out)} SMPP PDUs in {len(pdus)} segments"
    return out


def dissect_push_segments(user_data: Sequence[bytes]) -> Dissection:
    """tshark's reading of SMS user data segments (each framed as an SMS-DELIVER TPDU)."""
    pcap = _pcap([sms_deliver(ud) for ud in user_data], LINKTYPE_USER0)
    uat = 'uat:user_dlts:"User 0 (DLT=147)","gsm_sms","0","","0",""'
    out = Dissection()
    for packet, _ in _run(pcap, ["-o", uat]):
        _collect(packet, out)
    return out
