"""The application: wiring (`wiring`: which adapters the configuration picks), the checks `bridge check-config`
runs (`checks`), and the running bridge (`run`)."""

from bridge.app.checks import check_files, route_of
from bridge.app.run import Bridge, serve
from bridge.app.wiring import convert_options, convert_profile, open_store
from bridge.logs import setup_logging

__all__ = [
    "Bridge",
    "check_files",
    "convert_options",
    "convert_profile",
    "open_store",
    "route_of",
    "serve",
    "setup_logging",
]
