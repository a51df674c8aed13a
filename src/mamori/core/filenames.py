"""Harmless display names for files that came from outside (uploads, mail attachments)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_LENGTH", "safe_filename"]

MAX_LENGTH = 200

# C0 and C1 controls, DEL, the bidirectional overrides and isolates (which can make
# "gpj.exe" display as "exe.jpg"), path separators and the characters Windows refuses.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069/\\:*?"<>|]+')


def safe_filename(name: str) -> str:
    """A harmless name for display and for a download's Content-Disposition, never a path.

    Keeps only the last path component (backslashes count as separators), replaces controls and
    the characters ``/\\:*?"<>|`` with ``_``, strips spaces and dots at both ends (so ``..`` and
    ``.hidden`` cannot survive as such) and keeps at most 200 characters. Never empty.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    return name[:MAX_LENGTH].rstrip(" .") or "attachment"
