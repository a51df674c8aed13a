"""OSV records built from advisories: one per vulnerability in an OSV ecosystem package, valid
under the OSV schema, with ranges only where the affected matrix supports them."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

import pytest

from mamori.core import osv
from mamori.core.advisory import Advisory, ProductVersion, Status, Vulnerability
from mamori.errors import InvalidInput
from tests.advisory_samples import (
    CVE_XSS,
    SDK,
    sample_advisory,
    sample_early_mitigation,
    score,
    xss,
)

PREFIX = re.compile(osv.schema()["$defs"]["prefix"]["pattern"])


def package_versions(purl_base: str, versions: list[str]) -> tuple[ProductVersion, ...]:
    """Product versions of one package, e.g. ``pkg:npm/left-pad`` and ``["1.0.0", "1.1.0"]``."""
    name = purl_base.rpartition("/")[2]
    return tuple(
        ProductVersion(f"{name}-{v}", "Example Corp", name, v, purl=f"{purl_base}@{v}")
        for v in versions
    )


def matrix_advisory(
    purl_base: str, statuses: dict[str, Status], vulnerability: Vulnerability | None = None
) -> Advisory:
    """The sample advisory with one package whose versions have the given statuses."""
    products = package_versions(purl_base, list(statuses))
    by_status: dict[Status, tuple[str, ...]] = {}
    for product in products:
        status = statuses[product.version]
        by_status[status] = (*by_status.get(status, ()), product.product_id)
    base = vulnerability or xss()
    changed = replace(base, statuses=by_status, justifications={}, remediations=())
    return sample_advisory(products=products, vulnerabilities=(changed,))


def only_record(advisory: Advisory) -> dict[str, Any]:
    (record,) = osv.build(advisory)
    assert osv.validate(record) == []
    return record


A, F, N, U = (
    Status.KNOWN_AFFECTED,
    Status.FIXED,
    Status.KNOWN_NOT_AFFECTED,
    Status.UNDER_INVESTIGATION,
)


def test_the_sample_has_one_record_for_its_python_package() -> None:
    advisory = sample_advisory()
    records = osv.build(advisory)
    assert [r["id"] for r in records] == [f"x_MSA-2026-0001-{CVE_XSS}"]  # the gateway has no purl
    (record,) = records
    assert osv.validate(record) == []
    assert PREFIX.match(record["id"])
    assert record["schema_version"] == osv.SCHEMA_VERSION
    assert record["aliases"] == [CVE_XSS]
    assert record["published"] == "2026-03-10T00:00:00Z"
    assert record["modified"] == "2026-03-17T01:30:00Z"
    assert record["summary"] == "Cross-site scripting in example-sdk HTML reports"
    assert record["details"] == advisory.vulnerabilities[1].description.en
    assert record["database_specific"] == {"severity": "Moderate"}


def test_affected_package_versions_and_range() -> None:
    (affected,) = only_record(sample_advisory())["affected"]
    assert affected["package"] == {
        "ecosystem": "PyPI",
        "name": "example-sdk",
        "purl": "pkg:pypi/example-sdk",
    }
    assert affected["versions"] == ["2.0.0", "2.0.1"]
    assert affected["ranges"] == [
        {"events": [{"introduced": "2.0.0"}, {"fixed": "2.0.2"}], "type": "ECOSYSTEM"}
    ]


def test_severity_references_and_credits() -> None:
    advisory = sample_advisory()
    record = only_record(advisory)
    assert record["severity"] == [
        {"score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "type": "CVSS_V3"},
        {
            "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N",
            "type": "CVSS_V4",
        },
    ]
    assert record["references"] == [
        {"type": "ADVISORY", "url": advisory.url},
        {"type": "WEB", "url": "https://www.example.com/security/release-notes/2026-03"},
    ]
    assert record["credits"] == [{"name": "Taro Suzuki"}]


def test_building_is_repeatable() -> None:
    assert osv.build(sample_advisory()) == osv.build(sample_advisory())


def test_an_advisory_without_package_products_has_no_records() -> None:
    assert osv.build(sample_early_mitigation()) == []
    gateway_only = sample_advisory(vulnerabilities=sample_advisory().vulnerabilities[:1])
    assert osv.build(gateway_only) == []


def test_a_package_outside_the_osv_ecosystems_is_left_out() -> None:
    advisory = matrix_advisory("pkg:generic/example-firmware", {"1.0": A, "1.1": F})
    assert osv.build(advisory) == []


def test_a_package_that_is_only_fixed_or_not_affected_is_left_out() -> None:
    advisory = matrix_advisory("pkg:pypi/example-sdk", {"1.9.3": N, "2.0.2": F})
    assert osv.build(advisory) == []


def test_release_lines_each_get_their_range() -> None:
    statuses = {"1.4.0": A, "1.4.1": A, "1.4.2": F, "2.0.0": A, "2.0.1": F}
    (affected,) = only_record(matrix_advisory("pkg:pypi/example-sdk", statuses))["affected"]
    assert affected["versions"] == ["1.4.0", "1.4.1", "2.0.0"]
    assert [r["events"] for r in affected["ranges"]] == [
        [{"introduced": "1.4.0"}, {"fixed": "1.4.2"}],
        [{"introduced": "2.0.0"}, {"fixed": "2.0.1"}],
    ]


def test_without_a_fix_the_range_ends_at_the_last_affected_version() -> None:
    statuses = {"0.9.0": N, "1.0.0": A, "1.1.0": A, "1.2.0": U}
    (affected,) = only_record(matrix_advisory("pkg:pypi/example-sdk", statuses))["affected"]
    assert [r["events"] for r in affected["ranges"]] == [
        [{"introduced": "1.0.0"}, {"last_affected": "1.1.0"}]
    ]


def test_versions_are_ordered_as_pep_440_orders_them() -> None:
    statuses = {"10.0": F, "9.0": A, "2.0.0rc1": N, "2.0.0": A, "9.0.post1": A}
    (affected,) = only_record(matrix_advisory("pkg:pypi/example-sdk", statuses))["affected"]
    assert affected["versions"] == ["2.0.0", "9.0", "9.0.post1"]
    assert [r["events"] for r in affected["ranges"]] == [
        [{"introduced": "2.0.0"}, {"fixed": "10.0"}]
    ]


def test_npm_versions_follow_semver_precedence_and_scoped_names() -> None:
    statuses = {"1.0.0": F, "1.0.0-alpha": A, "1.0.0-alpha.1": A, "1.0.0-beta.11": A}
    statuses |= {"1.0.0-beta.2": A, "0.9.9": N}
    (affected,) = only_record(matrix_advisory("pkg:npm/%40example/report-kit", statuses))[
        "affected"
    ]
    assert affected["package"]["ecosystem"] == "npm"
    assert affected["package"]["name"] == "@example/report-kit"
    assert affected["versions"] == ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11"]
    assert [r["events"] for r in affected["ranges"]] == [
        [{"introduced": "1.0.0-alpha"}, {"fixed": "1.0.0"}]
    ]


def test_an_ecosystem_without_a_known_order_gets_versions_only() -> None:
    statuses = {"5.2.0": A, "5.2.1": A, "5.2.2": F}
    advisory = matrix_advisory("pkg:maven/com.example/report-kit", statuses)
    (affected,) = only_record(advisory)["affected"]
    assert affected["package"] == {
        "ecosystem": "Maven",
        "name": "com.example:report-kit",
        "purl": "pkg:maven/com.example/report-kit",
    }
    assert affected["versions"] == ["5.2.0", "5.2.1"]
    assert "ranges" not in affected


def test_a_version_that_does_not_parse_means_no_ranges() -> None:
    statuses = {"2.0.0": A, "nightly-2026-03-01": A, "2.0.2": F}
    (affected,) = only_record(matrix_advisory("pkg:pypi/example-sdk", statuses))["affected"]
    assert affected["versions"] == ["2.0.0", "nightly-2026-03-01"]
    assert "ranges" not in affected


def test_pypi_names_are_normalised_and_the_purl_loses_its_version() -> None:
    statuses = {"2.0.0": A, "2.0.1": F}
    advisory = matrix_advisory("pkg:pypi/Example_SDK", statuses)
    (affected,) = only_record(advisory)["affected"]
    assert affected["package"]["name"] == "example-sdk"
    assert "@" not in affected["package"]["purl"]


def test_a_vulnerability_without_a_cve_is_numbered_and_has_no_alias() -> None:
    advisory = sample_advisory()
    first, second = advisory.vulnerabilities
    advisory = replace(advisory, vulnerabilities=(first, replace(second, cve="")))
    record = only_record(advisory)
    assert record["id"] == "x_MSA-2026-0001-2"
    assert "aliases" not in record


def test_product_specific_scores_move_to_the_package() -> None:
    statuses = {"2.0.0": A, "2.0.1": A, "2.0.2": F}
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    scored = replace(xss(), scores=(score(vector, "example-sdk-2.0.0"),))
    record = only_record(matrix_advisory("pkg:pypi/example-sdk", statuses, scored))
    assert "severity" not in record
    assert record["affected"][0]["severity"] == [{"score": vector, "type": "CVSS_V3"}]


def test_early_mitigation_details_say_there_is_no_fix_and_list_workarounds() -> None:
    advisory = sample_early_mitigation()
    vulnerability = advisory.vulnerabilities[0]
    statuses = dict(vulnerability.statuses)
    statuses[Status.KNOWN_AFFECTED] = (SDK["2.0.1"].product_id,)
    vulnerability = replace(vulnerability, statuses=statuses)
    advisory = replace(
        advisory, products=(*advisory.products, SDK["2.0.1"]), vulnerabilities=(vulnerability,)
    )
    record = only_record(advisory)
    assert "No fixed version is available yet." in record["details"]
    assert "## Workarounds" in record["details"]
    assert "Block TCP port 8443 at the perimeter firewall." in record["details"]
    assert [r["events"] for r in record["affected"][0]["ranges"]] == [
        [{"introduced": "2.0.1"}, {"last_affected": "2.0.1"}]
    ]


def test_an_invalid_package_url_is_refused() -> None:
    broken = replace(SDK["2.0.0"], purl="pkg:pypi")
    vulnerability = replace(xss(), statuses={Status.KNOWN_AFFECTED: (broken.product_id,)})
    with pytest.raises(InvalidInput) as caught:
        osv.build(sample_advisory(products=(broken,), vulnerabilities=(vulnerability,)))
    assert f"{broken.product_id}.purl" in caught.value.problems


def test_a_broken_record_is_reported_by_path() -> None:
    good = only_record(sample_advisory())

    no_introduced = copy.deepcopy(good)
    no_introduced["affected"][0]["ranges"][0]["events"] = [{"fixed": "2.0.2"}]
    problems = osv.validate(no_introduced)
    assert problems
    assert all(p.startswith("$.affected[0].ranges[0].events") for p in problems)

    unregistered = copy.deepcopy(good)
    unregistered["id"] = "MSA-2026-0001"
    assert [p.split(":")[0] for p in osv.validate(unregistered)] == ["$.id"]

    no_modified = copy.deepcopy(good)
    del no_modified["modified"]
    assert osv.validate(no_modified) == ["$: 'modified' is a required property"]
