"""CVSS vectors through the ``cvss`` library, and the vendor severity scale."""

from __future__ import annotations

import pytest
from cvss import CVSS3, CVSS4

from mamori.core.rating import Severity, parse_cvss
from mamori.errors import InvalidInput

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V30 = "CVSS:3.0/AV:L/AC:H/PR:L/UI:R/S:C/C:L/I:N/A:N"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
V40_LOW = "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(("vector", "version"), [(V31, "3.1"), (V30, "3.0")])
def test_v3_vectors_give_the_library_score(vector: str, version: str) -> None:
    expected = CVSS3(vector)
    score = parse_cvss(vector)
    assert score.version == version
    assert score.base_score == float(expected.base_score)
    assert score.base_severity == expected.severities()[0]
    assert score.vector == expected.clean_vector()


@pytest.mark.parametrize("vector", [V40, V40_LOW])
def test_v4_vectors_give_the_library_score(vector: str) -> None:
    expected = CVSS4(vector)
    score = parse_cvss(vector)
    assert score.version == "4.0"
    assert score.base_score == float(expected.base_score)
    assert score.base_severity == expected.severity
    assert score.vector == expected.clean_vector()


def test_known_scores() -> None:
    assert (parse_cvss(V31).base_score, parse_cvss(V31).base_severity) == (9.8, "Critical")
    assert parse_cvss(V40).base_score == 9.3


def test_surrounding_space_is_ignored() -> None:
    assert parse_cvss(f"  {V31}\n") == parse_cvss(V31)


def test_metrics_in_another_order_give_the_same_score() -> None:
    shuffled = "CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U"
    assert parse_cvss(shuffled).base_score == parse_cvss(V31).base_score


@pytest.mark.parametrize(
    "vector",
    [
        "",
        "   ",
        "garbage",
        "9.8",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C",
        "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    ],
)
def test_garbage_and_wrong_prefixes_are_refused(vector: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cvss(vector)
    assert set(caught.value.problems) == {"cvss_vector"}


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Z",
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H",
        "CVSS:3.1/AV:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:Z/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:N/AC:L",
        "CVSS:4.0/garbage",
    ],
)
def test_unknown_or_missing_metric_values_are_refused(vector: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cvss(vector)
    assert set(caught.value.problems) == {"cvss_vector"}
    assert caught.value.problems["cvss_vector"].startswith("invalid CVSS vector")


def test_severity_labels() -> None:
    assert [s.label for s in Severity] == ["Critical", "Important", "Moderate", "Low"]
