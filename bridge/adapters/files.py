"""Durable file writes shared by the folder adapters: a file appears whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary name, fsync it and the folder, then rename into place;
    writing the same path again replaces it (so a retried delivery is not a second delivery)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def writable(folder: Path) -> str | None:
    """None when files can be written in `folder` (made if missing); else why not (for `/readyz`)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{folder}: {exc.strerror}"
    return None if os.access(folder, os.W_OK | os.X_OK) else f"{folder}: not writable"
