"""Finding catalogued products named in a report's text (for intake)."""

from __future__ import annotations

import pytest

from mamori.products import services
from tests import factories


@pytest.mark.django_db
def test_products_are_matched_by_name_slug_and_alias_as_whole_words(admin) -> None:
    factories.product(admin, "portal")
    factories.product(admin, "mail-gateway")
    services.add_alias(admin, "mail-gateway", "MailGW")
    factories.product(admin, "port")

    def names(text: str) -> list[str]:
        return [p.slug for p in services.match_products(text)]

    assert names("XSS in the customer Portal login") == ["portal"]
    full_width = "\uff2d\uff21\uff29\uff2c\uff27\uff37"  # "MAILGW" in full-width letters
    assert names(f"{full_width} 3.2 crashes on a long header") == ["mail-gateway"]
    assert names("reported against mail-gateway and portal") == ["mail-gateway", "portal"]
    assert names("the portals page and an airport") == []  # no partial words
    assert names("   ") == []
