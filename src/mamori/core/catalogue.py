"""Catalogue values: support status, package URLs and alias normalisation."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum

from packageurl import PackageURL

from mamori.errors import InvalidInput


class SupportStatus(StrEnum):
    SUPPORTED = "supported"
    EXTENDED = "extended"
    END_OF_LIFE = "end_of_life"

    @property
    def label(self) -> str:
        return {
            SupportStatus.SUPPORTED: "Supported",
            SupportStatus.EXTENDED: "Extended support",
            SupportStatus.END_OF_LIFE: "End of life",
        }[self]


def check_support(status: SupportStatus, ends_on: date | None) -> None:
    """End of life needs the date support ended."""
    if status is SupportStatus.END_OF_LIFE and ends_on is None:
        raise InvalidInput("end of life needs the date support ended", field="support_ends_on")


def normalise_purl(text: str) -> str:
    """Parse a package URL and return its canonical string, or raise ``InvalidInput``."""
    try:
        return PackageURL.from_string(text.strip()).to_string()
    except ValueError as exc:
        raise InvalidInput(f"not a valid package URL: {exc}", field="purl") from exc


_SPACE = re.compile(r"\s+")


def normalise_alias(text: str) -> str:
    """Case- and width-insensitive form used for matching names in reports (NFKC, casefold)."""
    folded = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()
    if not folded:
        raise InvalidInput("must not be empty", field="alias")
    return folded


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}", re.ASCII)


def check_slug(slug: str) -> str:
    if not _SLUG.fullmatch(slug):
        raise InvalidInput(
            "1-63 lower-case letters, digits and hyphens, starting with a letter or digit",
            field="slug",
        )
    return slug
