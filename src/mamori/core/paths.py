"""Paths inside an install root, checked so that no update can write outside it.

Every path an update names (a manifest's files and removals, a delta's base files) is a relative
POSIX path checked by :func:`check_relative` when the data is loaded. Files under a root are then
opened by :func:`open_beneath`, which walks the path one component at a time with ``O_NOFOLLOW``
so that a symlink planted anywhere on the way (``lib -> /etc``) is refused rather than followed.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path, PurePosixPath

from mamori.errors import InvalidInput

#: Where the installer keeps its state, journal, staging and backups inside an install root.
STATE_DIR = ".mamori"
MAX_PATH = 4096
MAX_COMPONENT = 255


def check_relative(path: object, *, field: str = "path") -> str:
    """Return ``path`` if it is a safe, normalised, relative POSIX path; raise otherwise.

    Refused: non-strings, empty paths, absolute paths, ``..`` and ``.`` components, empty
    components (``a//b``, a trailing ``/``), backslashes, control characters, over-long paths,
    paths that are not NFC-normalised, and anything inside the installer's own state directory.
    """
    if not isinstance(path, str) or not path:
        raise InvalidInput("must be a non-empty relative path", field=field)
    shown = repr(path)[:200]
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise InvalidInput(f"{shown} is absolute; paths must be relative to the root", field=field)
    if "\\" in path:
        raise InvalidInput(f"{shown} contains a backslash", field=field)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise InvalidInput(f"{shown} contains a control character", field=field)
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise InvalidInput(f"{shown}… is longer than {MAX_PATH} bytes", field=field)
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidInput(f"{shown} is not NFC-normalised", field=field)
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidInput(
                f"{shown} has a {part or 'empty'!r} component; it could escape the root",
                field=field,
            )
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT:
            raise InvalidInput(f"{shown} has a component over {MAX_COMPONENT} bytes", field=field)
    if parts[0] == STATE_DIR:
        raise InvalidInput(f"{shown} is inside the installer's state directory", field=field)
    return path


def parents(path: str) -> list[str]:
    """The directories leading to ``path``, outermost first: ``a/b/c`` gives ``a``, ``a/b``."""
    parts = PurePosixPath(path).parts
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def lstat_beneath(root: Path, path: str) -> os.stat_result | None:
    """``lstat`` of ``root/path``, or ``None`` if it does not exist.

    Raises :class:`InvalidInput` if any directory on the way is a symlink or not a directory, so
    a caller never acts on a path that resolves outside ``root``.
    """
    check_relative(path)
    current = root
    for part in PurePosixPath(path).parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise InvalidInput(f"{path!r}: {current} is a symlink; refusing to follow it")
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{path!r}: {current} is not a directory")
    try:
        return os.lstat(root / path)
    except FileNotFoundError:
        return None


def open_beneath(root: Path, path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """Open ``root/path`` without following any symlink on the way; return the descriptor.

    Each component is opened relative to its parent's descriptor with ``O_NOFOLLOW``, so the
    check and the open cannot be separated by a swap (no time-of-check/time-of-use gap).
    Refuses symlinks, devices, FIFOs and sockets with :class:`InvalidInput`.
    """
    check_relative(path)
    parts = PurePosixPath(path).parts
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as error:
                if error.errno in (40, 20):  # ELOOP (a symlink), ENOTDIR
                    raise InvalidInput(
                        f"{path!r}: {part!r} is a symlink or not a directory; refusing it"
                    ) from None
                raise
            os.close(dir_fd)
            dir_fd = next_fd
        try:
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
        except OSError as error:
            if error.errno == 40:  # ELOOP
                raise InvalidInput(f"{path!r} is a symlink; refusing to follow it") from None
            raise
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        os.close(fd)
        raise InvalidInput(f"{path!r} is a device, FIFO or socket, not a regular file")
    os.set_blocking(fd, True)
    return fd
