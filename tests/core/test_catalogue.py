"""Catalogue values: package URLs, aliases, slugs and support status."""

from __future__ import annotations

from datetime import date

import pytest

from mamori.core.catalogue import (
    SupportStatus,
    check_slug,
    check_support,
    normalise_alias,
    normalise_purl,
)
from mamori.errors import InvalidInput

#: Full-width "PORTAL" and "portal" (U+FF21 block), as escapes so they cannot pass for ASCII.
FULL_WIDTH_UPPER = "\uff30\uff2f\uff32\uff34\uff21\uff2c"
FULL_WIDTH_LOWER = "\uff50\uff4f\uff52\uff54\uff41\uff4c"

# Package URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("pkg:pypi/django@5.2", "pkg:pypi/django@5.2"),
        ("pkg:pypi/Django_Rest@1.0", "pkg:pypi/django-rest@1.0"),
        ("pkg:github/Foo/Bar", "pkg:github/foo/bar"),
        ("  pkg:npm/%40angular/core@17.0.0\n", "pkg:npm/%40angular/core@17.0.0"),
        (
            "pkg:maven/org.apache.commons/commons-lang3@3.14.0?type=jar&classifier=sources",
            "pkg:maven/org.apache.commons/commons-lang3@3.14.0?classifier=sources&type=jar",
        ),
        (
            "pkg:deb/debian/curl@7.88.1?arch=amd64#docs/man",
            "pkg:deb/debian/curl@7.88.1?arch=amd64#docs/man",
        ),
    ],
)
def test_purls_are_normalised(given: str, canonical: str) -> None:
    assert normalise_purl(given) == canonical
    assert normalise_purl(canonical) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "django",
        "not a purl",
        "https://pypi.org/project/django/",
        "pkg:",
        "pkg:pypi",
        "pkg:pypi/",
        "pkg:pypi/@1.0",
        "pkg:/django",
    ],
)
def test_invalid_purls_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_purl(text)
    assert set(caught.value.problems) == {"purl"}
    assert caught.value.problems["purl"].startswith("not a valid package URL")


# Aliases -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "normalised"),
    [
        (FULL_WIDTH_UPPER, "portal"),
        ("Portal", "portal"),
        ("PORTAL", "portal"),
        ("  Customer   Portal\t", "customer portal"),
        ("Customer\u3000Portal", "customer portal"),
        ("Straße", "strasse"),
        ("ﬁle server", "file server"),
        ("ﾎﾟｰﾀﾙ", "ポータル"),
    ],
)
def test_aliases_fold_case_width_and_space(alias: str, normalised: str) -> None:
    assert normalise_alias(alias) == normalised


def test_full_width_alias_matches_its_ascii_form() -> None:
    assert len(FULL_WIDTH_UPPER) == 6
    assert FULL_WIDTH_UPPER != "PORTAL"
    assert normalise_alias(FULL_WIDTH_UPPER) == normalise_alias("portal")
    assert normalise_alias("ポータル") == normalise_alias("ﾎﾟｰﾀﾙ")


@pytest.mark.parametrize("alias", ["", "   ", "\u3000", "\t\n"])
def test_empty_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_alias(alias)
    assert set(caught.value.problems) == {"alias"}


# Slugs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["a", "9", "portal", "portal-2", "web-team", "a" * 63, "0-x"])
def test_good_slugs_are_kept(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "-portal",
        "Portal",
        "portal_2",
        "portal 2",
        "portal.2",
        "a" * 64,
        FULL_WIDTH_LOWER,
        "café",
        "../portal",
        "portal/",
        "portal\n",
    ],
)
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_slug(slug)
    assert set(caught.value.problems) == {"slug"}


# Support status ------------------------------------------------------------------------------


def test_end_of_life_needs_a_date() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_support(SupportStatus.END_OF_LIFE, None)
    assert set(caught.value.problems) == {"support_ends_on"}
    check_support(SupportStatus.END_OF_LIFE, date(2025, 12, 31))


@pytest.mark.parametrize("status", [SupportStatus.SUPPORTED, SupportStatus.EXTENDED])
def test_other_statuses_need_no_date(status: SupportStatus) -> None:
    check_support(status, None)
    check_support(status, date(2030, 1, 1))
    assert status.label in {"Supported", "Extended support"}


def test_support_status_labels() -> None:
    assert SupportStatus.END_OF_LIFE.label == "End of life"
    assert SupportStatus("end_of_life") is SupportStatus.END_OF_LIFE
