"""``parse_cvss`` against published CVSS v3.1 and v4.0 vector/score pairs.

The pairs live in ``data/cvss_reference.json``. Every expected score (and rating, where the source
gives one) was copied from the cited public source -- FIRST's examples documents, its user guide
and its calculator validation set -- and never computed with the library under test. A pair
whose ``score_kind`` is ``"base"`` is checked against ``CvssScore.base_score``; ``"overall"`` is
checked against ``CvssScore.score`` (v3 temporal/environmental, v4 CVSS-BT/BE/BTE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mamori.core.rating import CvssScore, parse_cvss

DATA_FILE = Path(__file__).parent / "data" / "cvss_reference.json"
MIN_PAIRS = {"3.1": 14, "4.0": 12}


def _load() -> dict[str, Any]:
    with DATA_FILE.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


REFERENCE = _load()
PAIRS: list[dict[str, Any]] = REFERENCE["pairs"]


def _published(score: CvssScore, kind: str) -> tuple[float, str]:
    if kind == "base":
        return score.base_score, score.base_severity
    if kind == "overall":
        return score.score, score.severity
    raise AssertionError(f"unknown score_kind {kind!r}")


@pytest.mark.parametrize("pair", PAIRS, ids=[pair["id"] for pair in PAIRS])
def test_parse_cvss_matches_the_published_score(pair: dict[str, Any]) -> None:
    score = parse_cvss(pair["vector"])
    assert score.version == pair["version"]
    value, rating = _published(score, pair["score_kind"])
    assert value == pytest.approx(pair["expected_score"], abs=1e-9), pair["source"]
    if pair["expected_rating"] is not None:
        assert rating.casefold() == pair["expected_rating"].casefold(), pair["source"]


def test_the_reference_set_is_large_enough() -> None:
    for version, minimum in MIN_PAIRS.items():
        count = sum(1 for pair in PAIRS if pair["version"] == version)
        assert count >= minimum, f"only {count} CVSS {version} pairs"


def test_every_pair_is_cited_and_well_formed() -> None:
    assert REFERENCE["description"].strip()
    ids = [pair["id"] for pair in PAIRS]
    assert len(ids) == len(set(ids))
    for pair in PAIRS:
        assert pair["source"].strip(), pair["id"]
        assert pair["name"].strip(), pair["id"]
        assert pair["score_kind"] in {"base", "overall"}, pair["id"]
        assert pair["vector"].startswith(f"CVSS:{pair['version']}/"), pair["id"]
