"""Ranking possible duplicates: which open cases look like a new report, and why.

**Text similarity** is the cosine of TF-IDF vectors computed over the corpus of the new report and
the existing ones. Tokens come from the NFKC-normalised, case-folded text without its CVE ids and
URLs (those count as evidence, below, and are not counted twice):

- in alphabetic scripts, words (runs of letters and digits) of two characters or more, without a
  small list of English stop words;
- in runs of CJK ideographs and kana (Japanese has no spaces), overlapping character bigrams, or
  the single character of a one-character run.

A token's weight in a report is ``(1 + ln count) * idf`` with ``idf = ln((1 + n) / (1 + df)) + 1``,
``n`` the number of reports in the corpus and ``df`` the number containing the token.

**Evidence.** Shared identifiers are combined with the text similarity ``t`` as independent
evidence ("noisy or"): each shared item closes part of the remaining gap to 1::

    score = 1 - (1 - t) * (1 - 0.6) ** cves * (1 - 0.4) ** urls * (1 - 0.2) ** products

where ``cves``, ``urls`` and ``products`` count the CVE ids (``extract_cves``), normalised URLs
(``extract_urls``) and product slugs both reports share. One shared CVE alone scores 0.6 (strong),
a URL 0.4 (strong), a product 0.2 (moderate, enough to pass the default threshold so the
analyst sees other open cases on the product); the score never exceeds 1.

**Ranking.** Reports with the new report's key are skipped (a case is no duplicate of itself).
Candidates scoring at least ``threshold`` (and above 0) are returned, best first: score
descending, then key ascending, at most ``limit`` of them. The reasons say which evidence counted.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from mamori.errors import InvalidInput

CVE_WEIGHT = 0.6
URL_WEIGHT = 0.4
PRODUCT_WEIGHT = 0.2

_CJK = (
    "\u3005-\u3007"  # iteration mark, closing mark, ideographic zero
    "\u3040-\u30fa\u30fc-\u30ff"  # hiragana, katakana with ー (not the middle dot ・)
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W_{_CJK}]{{2,}}")  # letters and digits of other scripts, 2 or more
_ASCII_WORD = re.compile(r"[a-z0-9]{2,}")  # the same, for case-folded ASCII text (faster)
_DASHES = "\\-\u2010-\u2015\u2212"  # hyphen-minus, Unicode hyphens and dashes, minus sign
# On case-folded text; starts with a literal so that the search is fast.
_CVE = re.compile(
    rf"cve(?<![a-z0-9]cve)[{_DASHES}]([0-9]{{4}})[{_DASHES}]([0-9]{{4,}})(?![a-z0-9])", re.ASCII
)
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+", re.ASCII | re.IGNORECASE)
_TRAILING = ".,;:!?)]>"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_STOP_WORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do does for from
    had has have he her his how if in into is it its may more no not of on or our out she should
    so some such than that the their them then there these they this those to was we were what
    when where which while who will with would you your""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Report:
    """One report or case as the ranking sees it."""

    key: str  # e.g. the tracking id
    text: str  # title + description (+ first message)
    products: frozenset[str] = frozenset()  # product slugs


@dataclass(frozen=True)
class Candidate:
    """A possible duplicate: its key, a score in [0, 1] and the evidence behind the score."""

    key: str
    score: float
    reasons: tuple[str, ...]


def extract_cves(text: str) -> frozenset[str]:
    """CVE ids in ``text`` (any case, full-width too), as ``CVE-YYYY-NNNN`` in upper case."""
    return _cves(unicodedata.normalize("NFKC", text).casefold())


def extract_urls(text: str) -> frozenset[str]:
    """http(s) URLs in ``text``, normalised (see ``normalise_url``); unusable ones are dropped."""
    return _urls(unicodedata.normalize("NFKC", text))


def normalise_url(url: str) -> str | None:
    """Lower-case scheme and host, no default port, ``/`` for an empty path, no fragment.

    Returns ``None`` for a URL without a host or with an invalid port.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else host
    if parts.username is not None or parts.password is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def tokens(text: str) -> list[str]:
    """The text-similarity tokens of ``text`` (see the module docstring)."""
    return _tokens(unicodedata.normalize("NFKC", text).casefold())


def rank(
    new: Report, existing: Sequence[Report], *, limit: int = 5, threshold: float = 0.15
) -> list[Candidate]:
    """The existing reports most likely to be duplicates of ``new``, best first."""
    if limit < 0:
        raise InvalidInput("must be zero or more", field="limit")
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("must be between 0 and 1", field="threshold")
    target = _Analysis.of(new)
    others = [_Analysis.of(report) for report in existing if report.key != new.key]
    texts = _text_similarities(target.counts, [other.counts for other in others])
    found = []
    for other, text in zip(others, texts, strict=True):
        candidate = _candidate(target, other, text)
        if candidate.score > 0.0 and candidate.score >= threshold:
            found.append(candidate)
    found.sort(key=lambda candidate: (-candidate.score, candidate.key))
    return found[:limit]


@dataclass(frozen=True)
class _Analysis:
    report: Report
    counts: Counter[str]
    cves: frozenset[str]
    urls: frozenset[str]

    @classmethod
    def of(cls, report: Report) -> _Analysis:
        text = unicodedata.normalize("NFKC", report.text)
        folded = text.casefold()
        prose = _URL.sub(" ", _CVE.sub(" ", folded))  # identifiers count as evidence, not text
        return cls(report, Counter(_tokens(prose)), _cves(folded), _urls(text))


def _text_similarities(target: Counter[str], others: Sequence[Counter[str]]) -> list[float]:
    """The TF-IDF cosine of ``target`` with each of ``others``, over all of them as the corpus.

    Tokens are numbered once so that the per-token work after that indexes lists rather than
    looking strings up again: this is the hot loop when thousands of reports are ranked.
    """
    numbers: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    documents = [list(map(numbers.__getitem__, counts)) for counts in (target, *others)]
    idf = _idf(documents, len(numbers))
    squares = [weight * weight for weight in idf]
    norms = [
        math.sqrt(
            sum(map(operator.mul, map(_tf_square, counts.values()), map(squares.__getitem__, ids)))
        )
        for counts, ids in zip((target, *others), documents, strict=True)
    ]
    # dot(target, other) = sum over shared tokens of tf_target * tf_other * idf ** 2
    query = {token: _tf(count) * squares[numbers[token]] for token, count in target.items()}
    query_tokens = frozenset(query)
    similarities = []
    for counts, norm in zip(others, norms[1:], strict=True):
        # A set's order varies between processes; fsum's exact sum does not depend on it.
        shared = query_tokens.intersection(counts)
        tf = map(_tf, map(counts.__getitem__, shared))
        dot = math.fsum(map(operator.mul, map(query.__getitem__, shared), tf))
        similarities.append(min(1.0, dot / (norms[0] * norm)) if dot else 0.0)
    return similarities


def _idf(documents: Sequence[Sequence[int]], vocabulary: int) -> list[float]:
    """``ln((1 + n) / (1 + df)) + 1`` for each token number, ``df`` counting documents."""
    frequency = Counter(itertools.chain.from_iterable(documents))
    size = len(documents)
    by_frequency = [math.log((1 + size) / (1 + df)) + 1.0 for df in range(size + 1)]
    return list(map(by_frequency.__getitem__, map(frequency.__getitem__, range(vocabulary))))


def _candidate(target: _Analysis, other: _Analysis, text: float) -> Candidate:
    cves = sorted(target.cves & other.cves)
    urls = sorted(target.urls & other.urls)
    products = sorted(target.report.products & other.report.products)
    remaining = (
        (1.0 - text)
        * (1.0 - CVE_WEIGHT) ** len(cves)
        * (1.0 - URL_WEIGHT) ** len(urls)
        * (1.0 - PRODUCT_WEIGHT) ** len(products)
    )
    reasons = [
        *(f"shares {cve}" for cve in cves),
        *(f"shares URL {url}" for url in urls),
        *(f"same product: {product}" for product in products),
    ]
    if text >= 0.005:
        reasons.append(f"text {text:.2f} similar")
    return Candidate(other.report.key, min(1.0, max(0.0, 1.0 - remaining)), tuple(reasons))


@functools.cache
def _tf(count: int) -> float:
    """Sublinear term frequency (cached: called for every token of every report)."""
    return 1.0 + math.log(count)


@functools.cache
def _tf_square(count: int) -> float:
    return _tf(count) ** 2


def _tokens(folded: str) -> list[str]:
    """Tokens of NFKC-normalised, case-folded text: words, then CJK bigrams."""
    if folded.isascii():
        return list(itertools.filterfalse(_STOP_WORDS.__contains__, _ASCII_WORD.findall(folded)))
    found = list(itertools.filterfalse(_STOP_WORDS.__contains__, _WORD.findall(folded)))
    for run in _CJK_RUN.findall(folded):
        if len(run) == 1:
            found.append(run)
        else:
            found.extend(map(operator.add, run, run[1:]))
    return found


def _cves(folded: str) -> frozenset[str]:
    return frozenset(f"CVE-{year}-{number}" for year, number in _CVE.findall(folded))


def _urls(normalised: str) -> frozenset[str]:
    found = set()
    for match in _URL.finditer(normalised):
        url = normalise_url(_strip_trailing(match.group()))
        if url is not None:
            found.add(url)
    return frozenset(found)


def _strip_trailing(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL; keep balanced brackets."""
    while url and url[-1] in _TRAILING:
        last = url[-1]
        if last == ")" and url.count("(") >= url.count(")"):
            break
        if last == "]" and url.count("[") >= url.count("]"):
            break
        url = url[:-1]
    return url
