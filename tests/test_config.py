"""config.toml is the annotated default: it loads, it holds every key, and bad files are named precisely."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from bridge.config import ROUTE_SETTINGS, Config, load_config
from bridge.errors import ConfigError
from tests.convert.helpers import mail, photo
from tests.paths import ROOT


def test_shipped_config_is_the_embedded_default() -> None:
    assert load_config(ROOT / "config.toml") == Config() == load_config(None)


def test_shipped_config_lists_every_key_with_a_comment() -> None:
    data = tomllib.loads((ROOT / "config.toml").read_text())
    text = (ROOT / "config.toml").read_text().splitlines()
    commented: set[str] = set()
    section = ""
    for i, line in enumerate(text):
        if line.startswith("["):
            section = line.strip("[]")
        elif " = " in line and not line.startswith("#") and text[i - 1].startswith("#"):
            commented.add(f"{section}.{line.split(' = ')[0]}")
    for sec in fields(Config):
        name = "route" if sec.name == "routes" else sec.name
        assert name in data, f"[{name}] missing from config.toml"
        section = getattr(Config(), sec.name)
        table = data[name]
        if sec.name == "routes":  # [[route]]: the first entry documents every key
            section, table = section[0], table[0]
        check_documented(name, section, table, commented)


ROUTE_SETTINGS_BY_NAME = {kind.value: cls for kind, cls in ROUTE_SETTINGS.items()}


def check_documented(name: str, section: object, table: dict[str, object], commented: set[str]) -> None:
    for key in fields(section):  # type: ignore[arg-type]
        assert key.name in table, f"{name}.{key.name} missing from config.toml"
        value = getattr(section, key.name)
        if value is None and key.name in ROUTE_SETTINGS_BY_NAME:  # a REST kind's credentials: no default to read
            value = ROUTE_SETTINGS_BY_NAME[key.name]
        if hasattr(value, "__dataclass_fields__"):  # a kind's own table, [route.mm7] or [sms.smpp]
            nested = table[key.name]
            assert isinstance(nested, dict)
            check_documented(f"{name}.{key.name}", value, nested, commented)
        else:
            assert f"{name}.{key.name}" in commented, f"{name}.{key.name} has no comment above it"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[smtpd]\nport = 25\n", "smtpd: unknown section"),
        ("[log]\nlevel = 'loud'\n", "log.level: one of debug, info, warning, error, got 'loud'"),
        ("[log]\ncolour = true\n", "log.colour: unknown key"),
        ("[decode]\nmax_input_bytes = 0\n", "decode.max_input_bytes: a positive number of bytes"),
        ("[decode]\nmax_input_bytes = true\n", "decode.max_input_bytes: expected int, got bool"),
        ("[log\n", "not valid TOML"),
        (
            '[[route]]\nkind = "mm7"\nurl = "http://x/"\nmm7_release = "REL-6-MM7-1-4"\n',
            "route.url -> [route.<kind>] url; route.mm7_release -> [route.mm7] release",
        ),
        ('[sms]\nkind = "smpp"\nsmpp_host = "smsc"\n', "sms.smpp_host -> [sms.smpp] host"),
        ('[[route]]\nkind = "mm7"\n[route.mm7]\nurl = "ftp://x"\n', "route.mm7.url: the MMSC's http://"),
        ('[[route]]\nkind = "mm7"\n[route.mm7]\nurl = "http://x/"\n', "route.mm7.callback_username"),
        ('[sms]\nkind = "smpp"\n', "sms.smpp.host and sms.smpp.system_id"),
        ('[[route]]\nkind = "sms"\n', "route.kind: one of builtin, folder, mm7, eaif, mm1, twilio"),
        ('[[route]]\nkind = "twilio"\n', "route.twilio: the table of the route's credentials is needed"),
        (
            '[[route]]\nkind = "twilio"\n[route.twilio]\naccount_sid = "AC1"\nauth_token = "t"\n',
            "route.twilio.account_sid: AC and 32 hex digits",
        ),
        (
            '[[route]]\nkind = "telnyx"\n[route.telnyx]\napi_key = "k"\nfrom_number = "+15550100"\n',
            "route.telnyx.public_key",
        ),
        (
            '[[route]]\nkind = "telnyx"\n[route.telnyx]\napi_key = "k"\nfrom_number = "+15550100"\n'
            'public_key = "eA=="\n',
            "the base64 of a 32-byte Ed25519 public key",
        ),
        (
            '[[route]]\nkind = "bandwidth"\n[route.bandwidth]\naccount_id = "1"\napplication_id = "a"\n'
            'from_number = "+15550100"\nusername = "u"\npassword = "p"\n',
            "route.bandwidth.callback_username and callback_password",
        ),
        ('[[route]]\nkind = "builtin"\n[route.twilio]\nsid = "x"\n', "route.twilio.sid: unknown key"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.toml")


def test_convert_settings_reach_bridge_convert(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[convert]\nprofile = "image-basic"\nmax_message_bytes = 20000\n')
    src = tmp_path / "m.eml"
    src.write_bytes(mail("Door", attachments=[(photo(1600, 1200), "image/jpeg", "d.jpg")]))
    out = subprocess.run(
        [str(Path(sys.executable).with_name("bridge")), "convert", str(src), "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "of 20,000 bytes (image-basic)" in out.stdout
    assert "160x120" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[convert]\nprofile = "huge"\n')
    with pytest.raises(ConfigError, match=r"convert\.profile: one of default, text"):
        load_config(bad)
