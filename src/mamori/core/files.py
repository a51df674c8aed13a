"""Files written so that a crash leaves the old content or the new, never a torn mix."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, body: bytes, *, mode: int = 0o600) -> None:
    """Write ``body`` to ``path`` atomically and durably: temp file, fsync, rename, fsync dir.

    The temporary file is ``.<name>.tmp`` beside ``path`` (callers that may race hold a lock),
    opened without following a symlink planted there.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
