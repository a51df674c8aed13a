"""Serving the repository's static tree in development, under ``/updates/``.

In production any web server, CDN or object store serves the same directory (docs/updates.md has
an nginx example). These views answer what an update client and a CDN ask: ``HEAD``, byte ranges
for resumed downloads (``Range``, ``If-Range``), strong ETags and ``If-None-Match``.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Iterator

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from mamori.core import ranges
from mamori.core.paths import open_beneath
from mamori.errors import InvalidInput

CHUNK = 256 * 1024
CONTENT_TYPES = {".json": "application/json"}


@require_safe
def repository_file(request: HttpRequest, path: str) -> HttpResponseBase:
    root = settings.MAMORI_UPDATES.repository_dir
    if not path.startswith(("metadata/", "targets/")):
        raise Http404
    try:
        fd = open_beneath(root, path)
    except (InvalidInput, FileNotFoundError, NotADirectoryError, PermissionError):
        raise Http404 from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Http404
    handle = os.fdopen(fd, "rb")
    return _respond(request, handle, st, path)


#: Names that never change once written: ``N.role.json`` and hash-prefixed target files.
IMMUTABLE = re.compile(r"^(metadata/\d+\.[^/]+\.json|targets/(.*/)?[0-9a-f]{64}\.[^/]+)$")


def _respond(
    request: HttpRequest, handle: io.BufferedReader, st: os.stat_result, path: str
) -> HttpResponseBase:
    tag = ranges.etag(st)
    content_type = CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")
    if ranges.none_match(request.headers.get("If-None-Match", "-"), tag):
        handle.close()
        return _headers(HttpResponse(status=304), tag, content_type, path)
    wanted = request.headers.get("Range", "")
    if wanted and ranges.if_range(request.headers.get("If-Range", tag), tag):
        try:
            part = ranges.parse(wanted, st.st_size)
        except ranges.Unsatisfiable:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{st.st_size}"
            return _headers(response, tag, content_type, path)
        if part is not None:
            return _partial(handle, part, st.st_size, tag, content_type, path)
    full = FileResponse(handle, content_type=content_type)
    full["Content-Length"] = str(st.st_size)
    return _headers(full, tag, content_type, path)


def _partial(
    handle: io.BufferedReader,
    part: ranges.ByteRange,
    size: int,
    tag: str,
    content_type: str,
    path: str,
) -> HttpResponseBase:
    def body() -> Iterator[bytes]:
        with handle:
            handle.seek(part.start)
            left = part.length
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    response = StreamingHttpResponse(body(), status=206, content_type=content_type)
    response["Content-Range"] = part.content_range(size)
    response["Content-Length"] = str(part.length)
    return _headers(response, tag, content_type, path)


def _headers(
    response: HttpResponseBase, tag: str, content_type: str, path: str
) -> HttpResponseBase:
    response["ETag"] = tag
    response["Accept-Ranges"] = "bytes"
    response["Content-Type"] = content_type
    response["X-Content-Type-Options"] = "nosniff"
    # Versioned names never change; timestamp.json (and the unversioned root) must be re-checked.
    immutable = IMMUTABLE.match(path)
    response["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
    return response
