"""Attachment storage: size limit, sniffed content type, stored names never from the upload."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import IO

import magic
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from mamori.accounts.models import User
from mamori.cases.audit import AuditLog
from mamori.cases.models import Attachment, Case, Message
from mamori.core.filenames import safe_filename
from mamori.errors import InvalidInput, PayloadTooLarge

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


def store_attachments(
    case: Case,
    message: Message | None,
    uploads: Sequence[UploadedFile[bytes]],
    actor: User | None,
    log: AuditLog,
) -> None:
    """Check every upload before writing any; if one fails, remove the files already written
    (their rows roll back with the caller's transaction)."""
    checked = [_check(case, message, upload, actor) for upload in uploads]
    written: list[Attachment] = []
    try:
        for attachment, upload in checked:
            attachment.file.save("upload", upload, save=False)
            written.append(attachment)
            attachment.save()
            log.add(
                "attachment",
                "",
                "",
                f"{attachment.filename} ({attachment.size} bytes, {attachment.sha256})",
            )
    except BaseException:
        _remove(written)
        raise


def _check(
    case: Case, message: Message | None, upload: UploadedFile[bytes], actor: User | None
) -> tuple[Attachment, UploadedFile[bytes]]:
    """Size, type and hash of an upload, checked for every upload before any is written."""
    if upload.file is None:
        raise InvalidInput("empty upload", field="attachment")
    sniffed, digest = inspect(upload.file, upload.size or 0)
    attachment = Attachment(
        case=case,
        message=message,
        filename=display_name(upload.name or ""),
        content_type=sniffed,
        size=upload.size or 0,
        sha256=digest,
        uploaded_by=actor,
    )
    return attachment, upload


def _remove(attachments: list[Attachment]) -> None:
    for attachment in attachments:
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)
