"""Serving stored files: always as a download, never rendered from the app's origin."""

from __future__ import annotations

from typing import IO

from django.http import FileResponse

from mamori.cases.attachments import served_type
from mamori.cases.models import Attachment


def attachment_response(attachment: Attachment) -> FileResponse:
    return download(
        attachment.file.open("rb"), attachment.filename, served_type(attachment.content_type)
    )


def download(stream: IO[bytes], filename: str, content_type: str) -> FileResponse:
    """A stored file as a download that no browser renders or caches."""
    response = FileResponse(
        stream, as_attachment=True, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
