"""Attachment storage: size limit, sniffed content type, stored names never from the upload."""

from __future__ import annotations

import hashlib
from typing import IO

import magic
from django.conf import settings

from mamori.core.filenames import safe_filename
from mamori.errors import PayloadTooLarge

_CHUNK = 64 * 1024

#: Content types a browser may be told; anything else is sent as application/octet-stream.
SAFE_TYPES = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "application/pgp-encrypted",
        "application/pgp-signature",
        "image/png",
        "image/jpeg",
        "image/gif",
        "text/plain",
    }
)


def display_name(filename: str) -> str:
    """A harmless name for display and the download's Content-Disposition, never a path."""
    return safe_filename(filename)


def limit() -> int:
    return int(settings.MAMORI_MAX_ATTACHMENT_BYTES)


def inspect(stream: IO[bytes], size: int) -> tuple[str, str]:
    """Check the size, sniff the content type and hash the content; rewinds ``stream``."""
    if size > limit():
        raise PayloadTooLarge(
            f"{size} bytes is over the attachment limit of {limit()} bytes", field="attachment"
        )
    stream.seek(0)
    head = stream.read(8192)
    sniffed = magic.from_buffer(head, mime=True) if head else "application/x-empty"
    digest = hashlib.sha256(head)
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    stream.seek(0)
    return sniffed, digest.hexdigest()


def served_type(sniffed: str) -> str:
    return sniffed if sniffed in SAFE_TYPES else "application/octet-stream"
