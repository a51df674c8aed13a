from __future__ import annotations

import gzip
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from mamori.accounts.models import User
from mamori.core.authz import Role
from mamori.core.catalogue import SupportStatus
from mamori.products import services as catalogue
from tests import factories

SHARED = Path(__file__).resolve().parents[3] / "shared"
KEV_FILE = SHARED / "data" / "kev" / "known_exploited_vulnerabilities.json"
EPSS_DIR = Path(__file__).resolve().parents[1] / "core" / "data" / "epss"


def epss_file(
    rows: Iterable[tuple[str, float, float]],
    model: str = "v2025.03.14",
    day: str = "2025-03-17",
    *,
    compress: bool = True,
) -> bytes:
    """An EPSS score file in FIRST's published format."""
    lines = [f"#model_version:{model},score_date:{day}T00:00:00+0000", "cve,epss,percentile"]
    lines += [f"{cve},{p:.5f},{q:.5f}" for cve, p, q in rows]
    text = ("\n".join(lines) + "\n").encode()
    return gzip.compress(text) if compress else text


@pytest.fixture
def engineer(db: None) -> User:
    return factories.user(Role.PRODUCT_ENGINEER, "engineer-web")


@pytest.fixture
def world(admin: User, engineer: User) -> dict[str, str]:
    """Two products of two teams; the engineer is in the web team. Portal has a supported 2.x,
    an extended 1.x and an end-of-life 0.9; billing has 3.0."""
    web = factories.team(admin, "web-team", members=(engineer,))
    other = factories.team(admin, "billing-team")
    factories.product(admin, "portal", teams=(web,))
    factories.product(admin, "billing", teams=(other,))
    for name, status, ends in (
        ("2.x", "supported", None),
        ("1.x", "extended", None),
        ("0.9", "end_of_life", "2024-01-31"),
    ):
        catalogue.add_version(
            admin,
            "portal",
            catalogue.VersionDraft(
                name, SupportStatus(status), date.fromisoformat(ends) if ends else None
            ),
        )
    catalogue.add_version(admin, "billing", catalogue.VersionDraft("3.0"))
    case = factories.case(admin, "Stored XSS in the portal", products=("portal",))
    return {"case": case, "web": web, "other": other}
