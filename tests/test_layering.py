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
        "bridge.errors",
        "bridge.model",
        "bridge.pipeline",
        "bridge.convert.dsn",
        "bridge.adapters.store.base",
        "bridge.adapters.mail.base",
        "bridge.adapters.mmsc.base",
    },
    "bridge.config": {"bridge.errors"},
    "bridge.phone": {"bridge.errors", "bridge.model", "bridge.codec"},
    "bridge.routing": set(),
    "bridge.ids": set(),
    "bridge.logs": set(),
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
        if module == "bridge.app" or module.startswith("bridge.adapters"):
            continue
        concrete = {
            name
            for name in _imports(path)
            if name.startswith("bridge.adapters.") and not name.endswith(".base") and name != "bridge.adapters.files"
        }
        assert not concrete, f"{module} imports {concrete}; only bridge.app picks adapters"
