"""Serving the published tree in development and small installations.

In production any web server, CDN or object store serves the same static tree (see
docs/publishing.md); these views exist so that a fresh installation answers at once. They only
ever read the current published tree, never the database, so nothing unpublished can leak here.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.views.decorators.http import require_safe

from mamori.advisories.publisher import public_file

_TYPES = {
    ".json": "application/json",
    ".atom": "application/atom+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".asc": "application/pgp-signature",
    ".sha256": "text/plain; charset=utf-8",
    ".sha512": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def _serve(relpath: str) -> HttpResponseBase:
    path = public_file(settings.MAMORI_PUBLISHING.public_dir, relpath)
    kind = (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    response = FileResponse(path.open("rb"), content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    response["Access-Control-Allow-Origin"] = "*"  # public advisories, read by tools
    return response


@require_safe
def well_known(request: HttpRequest, path: str) -> HttpResponseBase:
    return _serve(f".well-known/{path}")


@require_safe
def security(request: HttpRequest, path: str = "") -> HttpResponseBase:
    if path in ("", "index.html"):
        language = "ja" if request.GET.get("lang") == "ja" else "en"
        return _serve("security/index.html" if language == "en" else "security/index.ja.html")
    if path.endswith("/"):
        return HttpResponseRedirect(f"/security/{path}index.html")
    return _serve(f"security/{path}")
