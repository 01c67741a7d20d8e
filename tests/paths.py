"""Where the tests find what they read in place: the shared folder beside the checkout (CI lays a copy of it
there); `MMS_BRIDGE_SHARED` points elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMS_BRIDGE_SHARED", ROOT.parent / "shared"))
VECTORS = SHARED / "mms-vectors"
