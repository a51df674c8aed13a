"""What product P at version V should install: rollups win, superseded fixes are never offered."""

from __future__ import annotations

import dataclasses

import pytest

from mamori.core import offer
from mamori.core.manifest import Kind
from mamori.core.offer import Catalogue, Download, Entry
from mamori.errors import VerificationFailed


def entry(
    bundle_id: str,
    kind: Kind,
    froms: tuple[str, ...],
    to: str,
    **extra: object,
) -> Entry:
    return Entry(
        id=bundle_id,
        kind=kind,
        from_versions=froms,
        to_version=to,
        bundle=Download(f"bundles/portal/{bundle_id}.mbundle", 100),
        manifest=f"bundles/portal/{bundle_id}.manifest.json",
        **extra,  # type: ignore[arg-type]
    )


FULL_1 = entry("portal-1", Kind.FULL, (), "1")
FIX_2 = entry("portal-2", Kind.FIX, ("1",), "2")
FIX_3 = entry("portal-3", Kind.FIX, ("2",), "3")
ROLLUP_3 = entry(
    "portal-rollup-3", Kind.ROLLUP, ("1", "2"), "3", supersedes=("portal-2", "portal-3")
)
FIX_4 = entry("portal-4", Kind.FIX, ("3",), "4")
CATALOGUE = Catalogue("portal", (FULL_1, FIX_2, FIX_3, ROLLUP_3, FIX_4))


def ids(steps: list[Entry]) -> list[str]:
    return [s.id for s in steps]


@pytest.mark.parametrize(
    ("version", "installed", "expected"),
    [
        (None, (), ["portal-1", "portal-rollup-3", "portal-4"]),
        ("1", ("portal-1",), ["portal-rollup-3", "portal-4"]),
        ("2", ("portal-2",), ["portal-rollup-3", "portal-4"]),
        ("3", ("portal-2", "portal-3"), ["portal-4"]),
        ("3", ("portal-rollup-3",), ["portal-4"]),
        ("4", (), []),
        ("0.9", (), []),  # no bundle updates 0.9
    ],
)
def test_the_plan_from_each_version(
    version: str | None, installed: tuple[str, ...], expected: list[str]
) -> None:
    assert ids(offer.plan(CATALOGUE, version, installed=installed)) == expected


def test_a_superseded_fix_is_never_offered_when_its_rollup_applies() -> None:
    for version in ("1", "2"):
        steps = offer.plan(CATALOGUE, version)
        assert "portal-2" not in ids(steps) and "portal-3" not in ids(steps)


def test_a_fix_is_offered_when_the_rollup_does_not_apply_on_this_platform() -> None:
    rollup = dataclasses.replace(ROLLUP_3, platforms=("linux-aarch64",))
    catalogue = Catalogue("portal", (FULL_1, FIX_2, FIX_3, rollup, FIX_4))
    assert ids(offer.plan(catalogue, "1", platform="linux-x86_64")) == [
        "portal-2",
        "portal-3",
        "portal-4",
    ]
    assert ids(offer.plan(catalogue, "1", platform="linux-aarch64")) == [
        "portal-rollup-3",
        "portal-4",
    ]


def test_prerequisites_must_be_installed_or_planned_first() -> None:
    ssu = entry("portal-ssu", Kind.FIX, ("3",), "3.0.1")
    needs = dataclasses.replace(FIX_4, from_versions=("3", "3.0.1"), prerequisites=("portal-ssu",))
    catalogue = Catalogue("portal", (FIX_3, ssu, needs))
    assert ids(offer.plan(catalogue, "3")) == ["portal-ssu", "portal-4"]
    assert ids(offer.plan(catalogue, "3", installed=("portal-ssu",))) == ["portal-4"]


def test_the_catalogue_round_trips_and_is_checked() -> None:
    with_delta = dataclasses.replace(
        FIX_4, deltas={"3": Download("deltas/portal/portal-4/from-3.mdelta", 10)}
    )
    catalogue = CATALOGUE.with_entry(with_delta)
    parsed = offer.loads(catalogue.to_json(), product="portal")
    assert parsed == catalogue
    assert parsed.entry("portal-4") == with_delta
    with pytest.raises(VerificationFailed, match="for portal, not billing"):
        offer.loads(catalogue.to_json(), product="billing")
    with pytest.raises(VerificationFailed, match="malformed"):
        offer.loads(b'{"format": "mamori-catalogue/1", "product": "portal", "bundles": [{}]}')
    with pytest.raises(VerificationFailed, match="not JSON"):
        offer.loads(b"{")
