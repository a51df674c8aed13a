"""FIRST EPSS score files: gzip and plain, the model line, row checks, and model ordering."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from mamori.core import epss
from mamori.core.epss import EpssFile, EpssScore, comparable, model_key, parse_epss
from mamori.errors import InvalidInput, PayloadTooLarge

DATA = Path(__file__).parent / "data" / "epss"
V3_PLAIN = DATA / "epss_scores-2023-03-07.csv"
V3_GZIP = DATA / "epss_scores-2023-03-07.csv.gz"
V4_GZIP = DATA / "epss_scores-2025-03-17.csv.gz"
NO_MODEL_LINE = DATA / "epss_scores-2021-10-01.csv"

MODEL_LINE = "#model_version:v2023.03.01,score_date:2023-03-07T00:00:00+0000"


def epss_file(*rows: str, first: str = MODEL_LINE, header: str = "cve,epss,percentile") -> bytes:
    return ("\n".join([first, header, *rows]) + "\n").encode()


def refusal(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_epss(data)
    return caught.value


# Reading ----------------------------------------------------------------------------------


def test_a_gzipped_file_and_its_plain_text_parse_alike() -> None:
    assert V3_GZIP.read_bytes().startswith(b"\x1f\x8b")

    assert parse_epss(V3_GZIP.read_bytes()) == parse_epss(V3_PLAIN.read_bytes())


def test_the_model_line_and_scores_are_read() -> None:
    parsed = parse_epss(V3_GZIP.read_bytes())

    assert parsed.model_version == "v2023.03.01"
    assert parsed.score_date == date(2023, 3, 7)
    assert len(parsed.scores) == 6
    assert parsed.scores[0] == EpssScore("CVE-1999-0001", 0.01009, 0.82625)
    assert parsed.scores[-1] == EpssScore("CVE-2023-12345", 0.00045, 0.12021)


def test_a_newer_model_file_with_a_z_timestamp_is_read() -> None:
    parsed = parse_epss(V4_GZIP.read_bytes())

    assert (parsed.model_version, parsed.score_date) == ("v2025.03.14", date(2025, 3, 17))
    assert EpssScore("CVE-2021-44228", 0.94358, 0.99969) in parsed.scores


def test_crlf_line_ends_a_bom_and_a_trailing_blank_line_are_accepted() -> None:
    data = "\ufeff" + "\r\n".join([MODEL_LINE, "cve,epss,percentile", "CVE-1999-0001,0,1", ""])

    parsed = parse_epss((data + "\r\n").encode())

    assert parsed == EpssFile("v2023.03.01", date(2023, 3, 7), (EpssScore("CVE-1999-0001", 0, 1),))


def test_a_multi_member_gzip_file_is_read_whole() -> None:
    text = V3_PLAIN.read_bytes()
    head, tail = text[:70], text[70:]

    parsed = parse_epss(gzip.compress(head) + gzip.compress(tail))

    assert parsed == parse_epss(text)


def test_three_hundred_thousand_rows_parse() -> None:
    rows = [
        f"CVE-{1999 + n // 100_000}-{n % 100_000:05d},0.{n:05d},0.{n:06d}" for n in range(300_000)
    ]
    data = gzip.compress(epss_file(*rows), compresslevel=1)

    parsed = parse_epss(data)

    assert len(parsed.scores) == 300_000
    assert parsed.scores[123_456] == EpssScore("CVE-2000-23456", 0.123456, 0.123456)


# Model versions ---------------------------------------------------------------------------


def test_model_versions_order_by_their_dates() -> None:
    versions = ["v2025.03.14", "v2022.01.01", "v2023.03.01"]

    assert sorted(versions, key=model_key) == ["v2022.01.01", "v2023.03.01", "v2025.03.14"]
    assert model_key("v2023.03.01") == (2023, 3, 1)
    assert model_key("v2023.10.01") > model_key("v2023.09.30")


@pytest.mark.parametrize("version", ["", "2023.03.01", "v", "v2023..01", "v2023.03.01b", "V1"])
def test_a_malformed_model_version_is_refused(version: str) -> None:
    with pytest.raises(InvalidInput):
        model_key(version)


def test_only_the_same_model_is_comparable() -> None:
    v3 = parse_epss(V3_GZIP.read_bytes())
    v4 = parse_epss(V4_GZIP.read_bytes())

    assert comparable(v3.model_version, "v2023.03.01")
    assert not comparable(v3.model_version, v4.model_version)
    with pytest.raises(InvalidInput):
        comparable("v2023.03.01", "latest")


# Refusals ---------------------------------------------------------------------------------


def test_a_file_that_does_not_name_its_model_is_refused() -> None:
    error = refusal(NO_MODEL_LINE.read_bytes())

    assert "no '#model_version:...,score_date:...' line" in error.message
    assert "comparable within one model version" in error.message


@pytest.mark.parametrize(
    ("first", "words"),
    [
        ("#score_date:2023-03-07T00:00:00+0000", "names no model_version"),
        ("#model_version:2023.03.01,score_date:2023-03-07", "not a model version"),
        ("#model_version:v2023.03.01", "score_date ''"),
        ("#model_version:v2023.03.01,score_date:2023-02-30T00:00:00Z", "not an ISO 8601 date"),
    ],
)
def test_a_bad_model_line_is_refused(first: str, words: str) -> None:
    assert words in refusal(epss_file("CVE-1999-0001,0.1,0.2", first=first)).message


@pytest.mark.parametrize("header", ["cve,epss", "cve,score,percentile", "CVE,EPSS,PERCENTILE", ""])
def test_a_wrong_column_header_is_refused(header: str) -> None:
    error = refusal(epss_file("CVE-1999-0001,0.1,0.2", header=header))

    assert "expected the header 'cve,epss,percentile'" in error.message


def test_a_file_with_only_the_model_line_is_refused() -> None:
    assert "line 2" in refusal(MODEL_LINE.encode()).message


def test_a_file_with_no_scores_is_refused() -> None:
    assert "no scores" in refusal(epss_file()).message


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("CVE-99-0001,0.1,0.2", "'CVE-99-0001' is not a CVE id"),
        ("cve-1999-0001,0.1,0.2", "is not a CVE id"),
        ("CVE-1999-0001,1.5,0.2", "epss '1.5' is not between 0 and 1"),
        ("CVE-1999-0001,0.1,-0.01", "percentile '-0.01' is not between 0 and 1"),
        ("CVE-1999-0001,nan,0.2", "epss 'nan' is not between 0 and 1"),
        ("CVE-1999-0001,inf,0.2", "epss 'inf' is not between 0 and 1"),
        ("CVE-1999-0001,high,0.2", "epss 'high' is not a number"),
        ("CVE-1999-0001,0.1,", "percentile '' is not a number"),
        ("CVE-1999-0001,0.1,0.2,extra", "expected 3 columns, found 4"),
        ("CVE-1999-0001,0.1", "expected 3 columns, found 2"),
    ],
)
def test_a_bad_row_is_refused_with_its_line_number(row: str, words: str) -> None:
    error = refusal(epss_file("CVE-1999-0002,0.1,0.2", row))

    assert words in error.problems["line 4"]


def test_a_duplicate_cve_is_refused() -> None:
    error = refusal(
        epss_file("CVE-1999-0001,0.1,0.2", "CVE-1999-0002,0.1,0.2", "CVE-1999-0001,0,0")
    )

    assert error.problems["line 5"] == "CVE-1999-0001 is listed twice (first on line 3)"


def test_problems_are_listed_up_to_a_limit() -> None:
    rows = [f"CVE-1999-{n:04d},2,0.5" for n in range(25)]

    error = refusal(epss_file(*rows))

    assert error.problems["epss"] == "not a valid EPSS file: 25 problem(s)"
    assert error.problems["line 3"] == "epss '2' is not between 0 and 1"
    assert error.problems["..."] == "and 5 more"
    assert len([k for k in error.problems if k.startswith("line ")]) == epss.MAX_PROBLEMS


def test_a_truncated_gzip_file_is_refused() -> None:
    data = V3_GZIP.read_bytes()

    assert "damaged gzip data" in refusal(data[: len(data) // 2]).message


def test_a_gzip_file_with_a_bad_checksum_is_refused() -> None:
    data = bytearray(V3_GZIP.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the uncompressed data

    assert "damaged gzip data" in refusal(bytes(data)).message


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        bytes(range(256)),
    ],
    ids=["png", "zip", "bytes"],
)
def test_binary_data_that_is_not_gzip_is_refused(data: bytes) -> None:
    assert "binary data" in refusal(data).message


def test_gzip_of_binary_data_is_refused() -> None:
    assert "binary data" in refusal(gzip.compress(bytes(range(256)) * 4)).message


@pytest.mark.parametrize("data", [b"", b"\n\n", gzip.compress(b"")], ids=["empty", "blank", "gz"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert "empty file" in refusal(data).message


def test_decompression_stops_at_the_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(epss, "MAX_EPSS_BYTES", 10_000)
    bomb = gzip.compress(MODEL_LINE.encode() + b"\n" + b"0" * 50_000)

    with pytest.raises(PayloadTooLarge):
        parse_epss(bomb)
    with pytest.raises(PayloadTooLarge):
        parse_epss(b"x" * 10_001)
