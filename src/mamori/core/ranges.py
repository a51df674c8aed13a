"""HTTP byte ranges and validators for serving the static update repository (RFC 9110 §13-14).

A client resuming a large bundle download sends ``Range: bytes=N-`` with ``If-Range`` carrying
the ETag it saw; a CDN probing sends ``If-None-Match``. Only single ranges are served: a request
for several ranges gets the whole file, which RFC 9110 allows.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class Unsatisfiable(Exception):
    """The range lies wholly past the end of the file: answer 416 with ``bytes */size``."""


def parse(header: str, size: int) -> ByteRange | None:
    """The range to serve, or ``None`` for the whole file; raises :class:`Unsatisfiable`.

    Malformed headers and multi-range requests are ignored (the whole file is served).
    """
    match = _SINGLE.match(header)
    if not match or "," in header:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    end = int(last) if last else size - 1
    return ByteRange(start, min(end, size - 1))


def etag(st: os.stat_result) -> str:
    """A strong validator for a file in the repository.

    Repository files are written once under new names and published by ``os.replace`` (new
    inode), so inode, size and modification time change whenever the bytes do.
    """
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def none_match(header: str, tag: str) -> bool:
    """``If-None-Match``: weak comparison (``W/`` ignored); ``*`` matches any file."""
    candidates = [item.strip().removeprefix("W/") for item in header.split(",")]
    return "*" in candidates or tag in candidates


def if_range(header: str, tag: str) -> bool:
    """``If-Range``: the range is served only if the strong validator is exactly ours."""
    return header.strip() == tag
