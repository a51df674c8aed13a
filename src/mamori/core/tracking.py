"""Tracking ids: ``MAMORI-2026-0001``. Issued from a per-year sequence and never reused."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mamori.errors import InvalidInput

_PREFIX = re.compile(r"[A-Z][A-Z0-9]{1,15}", re.ASCII)
_ID = re.compile(
    r"(?P<prefix>[A-Z][A-Z0-9]{1,15})-(?P<year>[0-9]{4})-(?P<number>[0-9]{4,9})", re.ASCII
)


@dataclass(frozen=True, order=True)
class TrackingId:
    prefix: str
    year: int
    number: int

    def __post_init__(self) -> None:
        self.check_prefix(self.prefix)
        if not 1970 <= self.year <= 9999 or self.number < 1:
            raise InvalidInput("year or number out of range", field="tracking_id")

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year:04d}-{self.number:04d}"

    @staticmethod
    def check_prefix(prefix: str) -> str:
        if not _PREFIX.fullmatch(prefix):
            raise InvalidInput("must be 2-16 capital letters or digits", field="prefix")
        return prefix

    @classmethod
    def parse(cls, text: str) -> TrackingId:
        match = _ID.fullmatch(text.strip())
        if not match:
            raise InvalidInput(f"not a tracking id: {text[:40]!r}", field="tracking_id")
        return cls(match["prefix"], int(match["year"]), int(match["number"]))
