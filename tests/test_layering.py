"""The layers of DESIGN.md hold: the codec is pure, and each module imports only from the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bridge"

#: what codec/ may never import: it does no I/O, no asyncio, no logging, no imaging, no HTTP, no database
CODEC_FORBIDDEN = {
    "asyncio",
    "socket",
    "logging",
    "PIL",
    "httpx",
    "sqlite3",
    "asyncpg",
    "aiosmtpd",
    "subprocess",
}
#: module prefix -> the bridge modules it may import
ALLOWED = {
    "bridge.errors": set(),
    "bridge.model": {"bridge.errors"},
    "bridge.codec": {"bridge.errors", "bridge.model", "bridge.codec"},
    "bridge.convert": {"bridge.errors", "bridge.model", "bridge.codec", "bridge.convert"},
    "bridge.pipeline": {"bridge.errors", "bridge.model"},
    "bridge.worker": {
        "bridge.logs",
        "bridge.metrics",
        "bridge.errors",
        "bridge.model",
        "bridge.pipeline",
        "bridge.convert.dsn",
        "bridge.convert.mdn",
        "bridge.adapters.store.base",
        "bridge.adapters.mail.base",
        "bridge.adapters.mmsc.base",
    },
    # the release and profile names come from the one table each (codec/mm7, convert/profile)
    "bridge.config": {"bridge.errors", "bridge.codec.mm7", "bridge.convert.profile"},
    "bridge.phone": {"bridge.errors", "bridge.model", "bridge.codec"},
    "bridge.routing": set(),
    # the reply path is a use case: it reaches the store and the mail sender through their seams only
    "bridge.replies": {
        "bridge.logs",
        "bridge.metrics",
        "bridge.model",
        "bridge.convert.mdn",
        "bridge.adapters.store.base",
        "bridge.adapters.mail.base",
    },
    "bridge.ids": set(),
    "bridge.logs": set(),
    "bridge.metrics": set(),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def test_codec_imports_no_io_logging_or_imaging() -> None:
    for path in (PACKAGE / "codec").rglob("*.py"):
        bad = {name for name in _imports(path) if name.split(".")[0] in CODEC_FORBIDDEN}
        assert not bad, f"{path.name} imports {bad}"


def test_each_layer_imports_only_from_below() -> None:
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        rule = next((allowed for prefix, allowed in ALLOWED.items() if module.startswith(prefix)), None)
        if rule is None:
            continue
        checked += 1
        inner = {name for name in _imports(path) if name.startswith("bridge")}
        bad = {name for name in inner if not any(name == a or name.startswith(a + ".") for a in rule)}
        assert not bad, f"{module} imports {bad}"
    assert checked >= 8


def test_only_app_picks_concrete_adapters() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if module.startswith(("bridge.app", "bridge.adapters")):
            continue
        concrete = {
            name
            for name in _imports(path)
            if name.startswith("bridge.adapters.") and not name.endswith(".base") and name != "bridge.adapters.files"
        }
        assert not concrete, f"{module} imports {concrete}; only bridge.app picks adapters"


#: what every adapter may import besides its own package: the layers below it, the shared HTTP mapping, the
#: file helpers, the web server, and the seams (`adapters/*/base.py`) of the other adapters
_ADAPTER_COMMON = ("bridge.errors", "bridge.model", "bridge.codec", "bridge.convert", "bridge.pipeline", "bridge.ids",
                   "bridge.routing", "bridge.config", "bridge.adapters.http", "bridge.adapters.files",
                   "bridge.adapters.web", "bridge.adapters.passwords", "bridge.logs", "bridge.metrics")  # fmt: skip
#: the SMTP adapter is the glue between aiosmtpd and the intake use case
_ADAPTER_EXTRA = {
    "bridge.adapters.smtp": ("bridge.intake", "bridge.recipients"),
    # the HTTP API is the other way in: the same intake use case
    "bridge.adapters.web": ("bridge.intake", "bridge.recipients"),
    # the ways phones' replies come in (MM7 DeliverReq, the REST providers' inbound messages): the reply use case
    "bridge.adapters.mmsc": ("bridge.replies",),
    "bridge.adapters.rest": ("bridge.replies",),
}


def test_adapters_import_no_other_adapter_but_through_its_seam() -> None:
    checked = 0
    for path in (PACKAGE / "adapters").rglob("*.py"):
        module = _module(path)
        parts = module.split(".")
        if len(parts) < 4:
            continue  # bridge.adapters.http, .files: shared helpers
        own = ".".join(parts[:3])
        allowed = (*_ADAPTER_COMMON, own, *_ADAPTER_EXTRA.get(own, ()))
        checked += 1
        for name in _imports(path):
            if name == "bridge" or not name.startswith("bridge"):
                continue
            seam = name.startswith("bridge.adapters.") and name.endswith(".base")
            ok = seam or any(name == a or name.startswith(a + ".") for a in allowed)
            assert ok, f"{module} imports {name}"
    assert checked >= 20


def test_the_cli_goes_through_the_app_and_never_picks_an_adapter() -> None:
    allowed = ("bridge.app", "bridge.config", "bridge.codec", "bridge.convert", "bridge.errors", "bridge.model",
               "bridge.phone")  # fmt: skip
    for name in _imports(PACKAGE / "cli.py"):
        if name.startswith("bridge.") and name != "bridge":
            assert any(name == a or name.startswith(a + ".") for a in allowed), f"bridge.cli imports {name}"
