"""FIRST's daily EPSS score files as ``EpssFile`` values.

Pure: bytes in, values out; fetching the file is someone else's job. The files FIRST publishes
(``epss_scores-YYYY-MM-DD.csv.gz``, see https://www.first.org/epss/data_stats) look like::

    #model_version:v2023.03.01,score_date:2023-03-07T00:00:00+0000
    cve,epss,percentile
    CVE-1999-0001,0.01009,0.82625

Newer files write the date as ``2025-03-17T12:55:00Z``; both forms are read. Files from before
February 2022 have no ``#model_version`` line and are refused (see below).

**EPSS scores from different model versions must never be compared.** Each model version
(v2022.01.01, v2023.03.01, v2025.03.14, ...) is a different predictor: when FIRST changes the
model, the same CVE's score can jump with nothing changed in the world, and a percentile is a
rank among that model's scores only. A rise from 0.1 under one model to 0.4 under the next is not
a rise in risk. So a file that does not state its model version is refused outright, every
``EpssFile`` carries its ``model_version``, and code that compares or diffs scores must check
``comparable`` first; ``model_key`` orders versions so the newest model can be picked.

A refusal is one ``InvalidInput`` naming up to ``MAX_PROBLEMS`` problems by line number, so a bad
file is diagnosed in one pass rather than one error per upload.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from mamori.errors import InvalidInput, PayloadTooLarge

#: A full daily file is about 10 MB uncompressed today; the cap bounds what a gzip bomb can cost.
MAX_EPSS_BYTES = 512 * 1024 * 1024

#: How many problems a refusal lists; the rest are counted, not named.
MAX_PROBLEMS = 20

HEADER = ("cve", "epss", "percentile")

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024
_CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")
_MODEL_VERSION = re.compile(r"v[0-9]+(?:\.[0-9]+)*")


@dataclass(frozen=True, slots=True)
class EpssScore:
    """One CVE's score: ``epss`` is the probability of exploitation activity in the next 30 days,
    ``percentile`` its rank among all scores of the same file (both in [0, 1])."""

    cve_id: str
    epss: float
    percentile: float


@dataclass(frozen=True)
class EpssFile:
    """One day's scores from one model; only files with the same ``model_version`` compare."""

    model_version: str
    score_date: date
    scores: tuple[EpssScore, ...]


def model_key(model_version: str) -> tuple[int, ...]:
    """Sort key for model versions: ``"v2023.03.01"`` -> ``(2023, 3, 1)``.

    Refuses anything that is not ``v`` and dot-separated numbers, because a version that cannot
    be ordered cannot be told apart from a typo of another one.
    """
    if not _MODEL_VERSION.fullmatch(model_version):
        raise InvalidInput(
            f"{model_version[:40]!r} is not a model version like v2023.03.01",
            field="model_version",
        )
    return tuple(int(part) for part in model_version[1:].split("."))


def comparable(a: str, b: str) -> bool:
    """Whether scores from models ``a`` and ``b`` may be compared: only if they are the same
    model. ``v2023.03.01`` and ``v2023.3.1`` name the same model; malformed versions raise."""
    return model_key(a) == model_key(b)


def parse_epss(data: bytes) -> EpssFile:
    """Parse one EPSS file, gzipped (detected by its magic bytes) or plain.

    Requires the ``#model_version:...,score_date:...`` line, then the ``cve,epss,percentile``
    header, then at least one row of exactly a CVE id and two numbers in [0, 1], no CVE twice.
    Raises ``PayloadTooLarge`` when the (decompressed) text exceeds ``MAX_EPSS_BYTES``.
    """
    text = _text(_decompressed(data))
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InvalidInput("empty file, not an EPSS score file", field="epss")

    lines = text.split("\n", 2)
    model_version, score_date = _metadata(lines[0].rstrip("\r"))
    if len(lines) < 2 or tuple(lines[1].rstrip("\r").split(",")) != HEADER:
        found = lines[1].rstrip("\r")[:80] if len(lines) > 1 else "nothing"
        raise InvalidInput(
            f"line 2: expected the header {','.join(HEADER)!r}, found {found!r}", field="epss"
        )
    body = lines[2] if len(lines) > 2 else ""
    return EpssFile(model_version, score_date, _scores(body, first_line=3))


def _decompressed(data: bytes) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic; never more than the cap,
    so a small bomb cannot expand to fill memory."""
    if not data.startswith(_GZIP_MAGIC):
        if len(data) > MAX_EPSS_BYTES:
            raise PayloadTooLarge(f"at most {MAX_EPSS_BYTES} bytes", field="epss")
        return data
    chunks: list[bytes] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as stream:
            # In chunks: one read(cap) would allocate the whole cap up front.
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > MAX_EPSS_BYTES:
                    raise PayloadTooLarge(
                        f"at most {MAX_EPSS_BYTES} bytes uncompressed", field="epss"
                    )
                chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInput(f"damaged gzip data: {exc}", field="epss") from None
    return b"".join(chunks)


def _text(plain: bytes) -> str:
    """The file as text; EPSS files are ASCII, so anything else is not one."""
    if b"\x00" in plain[:8192]:
        raise InvalidInput("binary data, neither gzip nor CSV text", field="epss")
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"binary data, neither gzip nor UTF-8 text (byte {exc.start})", field="epss"
        ) from None


def _metadata(line: str) -> tuple[str, date]:
    """Model version and score date from the first line; refused when absent, because scores
    whose model is unknown cannot safely be compared with anything."""
    if not line.startswith("#"):
        raise InvalidInput(
            "line 1: no '#model_version:...,score_date:...' line; files that do not name their"
            " model (FIRST's files before February 2022) are refused, since scores are only"
            " comparable within one model version",
            field="epss",
        )
    fields: dict[str, str] = {}
    for part in line[1:].split(","):
        key, sep, value = part.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    version = fields.get("model_version", "")
    if not version:
        raise InvalidInput("line 1: the comment line names no model_version", field="epss")
    try:
        model_key(version)
    except InvalidInput:
        raise InvalidInput(
            f"line 1: {version[:40]!r} is not a model version like v2023.03.01", field="epss"
        ) from None
    written = fields.get("score_date", "")
    score_date = _score_date(written)
    if score_date is None:
        raise InvalidInput(
            f"line 1: score_date {written[:40]!r} is not an ISO 8601 date", field="epss"
        )
    return version, score_date


def _score_date(text: str) -> date | None:
    """The UTC day the scores are for; FIRST writes ``...T00:00:00+0000`` or ``...T12:55:00Z``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.utcoffset() is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _scores(body: str, *, first_line: int) -> tuple[EpssScore, ...]:
    """Every row checked; one pass, no per-row allocation beyond the score itself, so a full
    300,000-row file parses in about a second."""
    scores: list[EpssScore] = []
    seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    cve_match = _CVE_ID.fullmatch
    offset = first_line - 1
    reader = csv.reader(io.StringIO(body))
    for row in reader:
        number = reader.line_num + offset
        if not row:
            continue  # a blank line, such as one left at the end
        if len(row) != len(HEADER):
            problems.append((number, f"expected 3 columns, found {len(row)}"))
            continue
        cve_id, epss_text, percentile_text = row
        row_ok = True
        if not cve_match(cve_id):
            problems.append((number, f"{cve_id[:40]!r} is not a CVE id"))
            row_ok = False
        elif cve_id in seen:
            problems.append((number, f"{cve_id} is listed twice (first on line {seen[cve_id]})"))
            row_ok = False
        else:
            seen[cve_id] = number
        epss = _probability(epss_text, "epss", number, problems)
        percentile = _probability(percentile_text, "percentile", number, problems)
        if row_ok and epss is not None and percentile is not None:
            scores.append(EpssScore(cve_id, epss, percentile))
    if problems:
        raise _refusal(problems)
    if not scores:
        raise InvalidInput("the file has a header but no scores", field="epss")
    return tuple(scores)


def _probability(
    text: str, name: str, number: int, problems: list[tuple[int, str]]
) -> float | None:
    """A value in [0, 1], or None with the problem recorded; NaN and infinities are refused."""
    try:
        value = float(text)
    except ValueError:
        problems.append((number, f"{name} {text[:40]!r} is not a number"))
        return None
    if not 0.0 <= value <= 1.0:  # also false for NaN
        problems.append((number, f"{name} {text[:40]!r} is not between 0 and 1"))
        return None
    return value


def _refusal(problems: list[tuple[int, str]]) -> InvalidInput:
    """One error naming the first problems by line; several problems on a line are joined."""
    named: dict[str, str] = {"epss": f"not a valid EPSS file: {len(problems)} problem(s)"}
    for number, message in problems[:MAX_PROBLEMS]:
        key = f"line {number}"
        named[key] = f"{named[key]}; {message}" if key in named else message
    if len(problems) > MAX_PROBLEMS:
        named["..."] = f"and {len(problems) - MAX_PROBLEMS} more"
    return InvalidInput(named)
