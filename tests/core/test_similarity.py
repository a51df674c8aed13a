"""Ranking possible duplicates: tokens, CVE and URL extraction, scores, reasons and ordering."""

from __future__ import annotations

import random

import pytest

from mamori.core.similarity import (
    CVE_WEIGHT,
    PRODUCT_WEIGHT,
    URL_WEIGHT,
    Candidate,
    Report,
    extract_cves,
    extract_urls,
    normalise_url,
    rank,
    tokens,
)
from mamori.errors import InvalidInput

ROUTER = (
    "Stack buffer overflow in the web admin login page of the Acme router firmware 2.1 allows "
    "remote attackers to execute arbitrary code via a long username parameter."
)
ROUTER_REWORDED = (
    "The Acme router's web admin login page has a stack-based buffer overflow: a long username "
    "parameter lets a remote attacker execute arbitrary code (firmware 2.1)."
)
PORTAL_XSS = (
    "Cross-site scripting in the search box of the customer portal lets attackers inject script "
    "into result pages."
)
MOBILE_TOKENS = (
    "The mobile app stores session tokens in plain text in a world-readable file on the SD card."
)
PRINTER_DOS = "Sending a malformed print job over IPP makes the office printer reboot repeatedly."

JA_ROUTER = (
    "Acmeルーターの管理画面にログインする際、ユーザー名に長い文字列を入力すると"
    "バッファオーバーフローが発生し、任意のコードが実行される可能性があります。"
)
JA_ROUTER_REWORDED = (
    "Acme製ルーターの管理画面のログイン処理で、長いユーザー名を入力すると"
    "バッファオーバーフローが起き、任意のコードを実行される恐れがあります。"
)
JA_PORTAL_XSS = (
    "顧客ポータルの検索欄にスクリプトを埋め込むと、"
    "検索結果ページでクロスサイトスクリプティングが発生します。"
)
JA_LEAVE_SYSTEM = (
    "社内向けの休暇申請システムで、承認者の一覧が正しく表示されない不具合について報告します。"
)

ENGLISH_CORPUS = [
    Report("MAMORI-2026-0002", ROUTER_REWORDED),
    Report("MAMORI-2026-0003", PORTAL_XSS),
    Report("MAMORI-2026-0004", MOBILE_TOKENS),
    Report("MAMORI-2026-0005", PRINTER_DOS),
]


def scores(candidates: list[Candidate]) -> dict[str, float]:
    return {candidate.key: candidate.score for candidate in candidates}


# Tokens


def test_tokens_fold_case_normalise_width_and_drop_stop_words_and_single_letters() -> None:
    assert tokens("The ＡＣＭＥ Router's login, of a Web-UI (v2)") == [
        "acme",
        "router",
        "login",
        "web",
        "ui",
        "v2",
    ]


def test_tokens_of_japanese_are_overlapping_bigrams_of_each_run() -> None:
    assert tokens("脆弱性") == ["脆弱", "弱性"]
    assert tokens("Acme製ﾙｰﾀｰ") == ["acme", "製ル", "ルー", "ータ", "ター"]  # half-width kana
    assert tokens("管理画面・設定") == ["管理", "理画", "画面", "設定"]  # ・ separates runs
    assert tokens("字 a 1 x") == ["字"]  # a lone ideograph is kept, a lone letter is not


def test_tokens_of_text_without_words_are_empty() -> None:
    assert tokens("") == []
    assert tokens(" ... !!! ---\n") == []


# CVE ids


@pytest.mark.parametrize(
    ("text", "cves"),
    [
        ("see CVE-2026-1234.", {"CVE-2026-1234"}),
        ("cve-2026-1234 and Cve-2025-98765", {"CVE-2026-1234", "CVE-2025-98765"}),
        ("ＣＶＥ－２０２６－１２３４", {"CVE-2026-1234"}),  # full-width letters, digits and hyphen
        ("CVE\u20102026\u20131234", {"CVE-2026-1234"}),  # Unicode hyphen and en dash
        ("脆弱性CVE-2026-1234について", {"CVE-2026-1234"}),
        ("(CVE-2026-1234567)", {"CVE-2026-1234567"}),
        ("CVE-2026-1234 CVE-2026-1234", {"CVE-2026-1234"}),
        ("CVE-2026-123", set()),  # too few digits
        ("CVE-26-1234", set()),
        ("XCVE-2026-1234", set()),  # part of another word
        ("CVE-2026-1234x", set()),
        ("CVE 2026 1234", set()),
        ("no identifiers here", set()),
    ],
)
def test_extract_cves(text: str, cves: set[str]) -> None:
    assert extract_cves(text) == frozenset(cves)


# URLs


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("http://Example.org:80/a.", {"http://example.org/a"}),
        ("HTTPS://EXAMPLE.ORG:443/Path?Q=1#frag", {"https://example.org/Path?Q=1"}),
        ("https://example.org:8443/x", {"https://example.org:8443/x"}),
        ("http://example.org:443/x", {"http://example.org:443/x"}),
        ("(see https://example.org/a), then", {"https://example.org/a"}),
        ("<https://example.org/a>;", {"https://example.org/a"}),
        ("[https://example.org/a]", {"https://example.org/a"}),
        ("https://w.example/wiki/Acme_(company).", {"https://w.example/wiki/Acme_(company)"}),
        ("https://example.org", {"https://example.org/"}),
        ("詳細はhttps://example.jp/advisoryを参照", {"https://example.jp/advisory"}),
        ("「https://example.jp/a」", {"https://example.jp/a"}),
        ("http://[2001:DB8::1]:80/x", {"http://[2001:db8::1]/x"}),
        ("a http://user@Example.org/x b", {"http://user@example.org/x"}),
        ("http://a.example/x http://a.example/x/", {"http://a.example/x", "http://a.example/x/"}),
        ("http://example.org:99999/x", set()),  # invalid port
        ("http://:80/x", set()),  # no host
        ("ftp://example.org/a", set()),
        ("no links at all", set()),
    ],
)
def test_extract_urls_normalises(text: str, urls: set[str]) -> None:
    assert extract_urls(text) == frozenset(urls)


def test_normalise_url_refuses_a_url_without_a_host() -> None:
    assert normalise_url("http://") is None
    assert normalise_url("http://Example.ORG") == "http://example.org/"


# Ranking by text


def test_identical_text_ranks_first_and_scores_one() -> None:
    existing = [*ENGLISH_CORPUS, Report("MAMORI-2026-0009", ROUTER)]
    ranked = rank(Report("NEW", ROUTER), existing)
    assert ranked[0].key == "MAMORI-2026-0009"
    assert ranked[0].score == pytest.approx(1.0)
    assert ranked[0].reasons == ("text 1.00 similar",)


def test_a_reworded_duplicate_ranks_above_unrelated_reports() -> None:
    found = scores(rank(Report("NEW", ROUTER), ENGLISH_CORPUS, threshold=0.0))
    reworded = found.pop("MAMORI-2026-0002")
    assert reworded > 0.5
    assert found, "unrelated reports that share a word should still get a (low) score"
    assert max(found.values()) < 0.15


def test_unrelated_reports_stay_under_the_default_threshold() -> None:
    ranked = rank(Report("NEW", ROUTER), ENGLISH_CORPUS)
    assert [candidate.key for candidate in ranked] == ["MAMORI-2026-0002"]


def test_japanese_near_duplicates_score_high_and_unrelated_japanese_low() -> None:
    existing = [
        Report("J-REWORDED", JA_ROUTER_REWORDED),
        Report("J-XSS", JA_PORTAL_XSS),
        Report("J-LEAVE", JA_LEAVE_SYSTEM),
    ]
    ranked = rank(Report("NEW", JA_ROUTER), existing, threshold=0.0)
    assert ranked[0].key == "J-REWORDED"
    assert ranked[0].score > 0.5
    assert all(candidate.score < 0.1 for candidate in ranked[1:])
    assert [candidate.key for candidate in rank(Report("NEW", JA_ROUTER), existing)] == [
        "J-REWORDED"
    ]


def test_an_english_report_shares_nothing_with_an_empty_one() -> None:
    existing = [Report("EMPTY", ""), Report("BLANK", "  \n")]
    assert rank(Report("NEW", ROUTER), existing, threshold=0.0) == []
    assert rank(Report("NEW", ""), [Report("OLD", ROUTER)], threshold=0.0) == []


def test_english_and_japanese_reports_share_no_text() -> None:
    ranked = rank(Report("NEW", "管理画面の脆弱性"), [Report("OLD", PORTAL_XSS)], threshold=0.0)
    assert ranked == []


# Ranking by evidence


def test_a_shared_cve_lifts_an_otherwise_dissimilar_report() -> None:
    new = Report("NEW", f"{ROUTER} Tracked as CVE-2026-1234.")
    other = Report("OLD", f"{MOBILE_TOKENS} MITRE assigned cve-2026-1234 to this issue.")
    without = Report("OLD", MOBILE_TOKENS)
    assert rank(new, [without]) == []
    [candidate] = rank(new, [other])
    assert candidate.key == "OLD"
    assert candidate.reasons[0] == "shares CVE-2026-1234"
    assert candidate.score >= CVE_WEIGHT


def test_only_a_shared_cve_scores_exactly_its_weight() -> None:
    [candidate] = rank(
        Report("NEW", "CVE-2026-1234"), [Report("OLD", "ＣＶＥ－２０２６－１２３４")]
    )
    assert (candidate.key, candidate.reasons) == ("OLD", ("shares CVE-2026-1234",))
    assert candidate.score == pytest.approx(CVE_WEIGHT)


def test_a_shared_url_is_recognised_after_normalisation() -> None:
    new = Report("NEW", "Proof of concept: http://Example.org:80/a.")
    other = Report("OLD", "Reported with a link to http://example.org/a (mirror).")
    [candidate] = rank(new, [other])
    assert candidate.reasons[0] == "shares URL http://example.org/a"
    assert candidate.score >= URL_WEIGHT
    assert rank(new, [Report("OLD", "Reported with a link to http://example.org/b")]) == []


def test_a_shared_product_alone_makes_a_moderate_candidate() -> None:
    new = Report("NEW", ROUTER, frozenset({"acme-router", "acme-firmware"}))
    same_product = Report("SAME", PRINTER_DOS, frozenset({"acme-router"}))
    other_product = Report("OTHER", PRINTER_DOS, frozenset({"acme-printer"}))
    [candidate] = rank(new, [same_product, other_product])
    assert (candidate.key, candidate.reasons) == ("SAME", ("same product: acme-router",))
    assert candidate.score == pytest.approx(PRODUCT_WEIGHT)


def test_evidence_combines_without_exceeding_one() -> None:
    ids = "CVE-2026-1234 CVE-2026-5678 https://example.org/poc"
    products = frozenset({"acme-router"})
    [only_ids] = rank(Report("NEW", ids, products), [Report("OLD", ids, products)])
    assert only_ids.score == pytest.approx(
        1 - (1 - CVE_WEIGHT) ** 2 * (1 - URL_WEIGHT) * (1 - PRODUCT_WEIGHT)
    )
    assert only_ids.reasons == (
        "shares CVE-2026-1234",
        "shares CVE-2026-5678",
        "shares URL https://example.org/poc",
        "same product: acme-router",
    )
    text = f"{ROUTER} {ids}"
    [everything] = rank(Report("NEW", text, products), [Report("OLD", text, products)])
    assert everything.score == 1.0
    assert everything.reasons[-1] == "text 1.00 similar"
    [two_cves] = rank(Report("NEW", "CVE-2026-1234 CVE-2026-5678"), [Report("OLD", text)])
    assert two_cves.score == pytest.approx(1 - (1 - CVE_WEIGHT) ** 2)
    [cve_and_product] = rank(
        Report("NEW", "CVE-2026-1234", products), [Report("OLD", "see cve-2026-1234", products)]
    )
    assert cve_and_product.score == pytest.approx(1 - (1 - CVE_WEIGHT) * (1 - PRODUCT_WEIGHT))


# Limit, threshold, edge cases, order


def corpus_of_router_variants() -> list[Report]:
    return [
        Report(f"MAMORI-2026-{number:04d}", ROUTER + " " + " ".join(["extra"] * number))
        for number in range(1, 9)
    ]


def test_limit_caps_the_number_of_candidates() -> None:
    existing = corpus_of_router_variants()
    assert len(rank(Report("NEW", ROUTER), existing)) == 5
    top_two = rank(Report("NEW", ROUTER), existing, limit=2)
    assert [candidate.key for candidate in top_two] == ["MAMORI-2026-0001", "MAMORI-2026-0002"]
    assert rank(Report("NEW", ROUTER), existing, limit=0) == []
    assert len(rank(Report("NEW", ROUTER), existing, limit=100)) == 8


def test_threshold_drops_weak_candidates() -> None:
    new = Report("NEW", ROUTER)
    existing = [Report("DUP", ROUTER_REWORDED), Report("XSS", PORTAL_XSS)]
    dup_score = scores(rank(new, existing))["DUP"]
    assert [c.key for c in rank(new, existing, threshold=dup_score)] == ["DUP"]
    assert rank(new, existing, threshold=min(1.0, dup_score + 0.01)) == []
    assert {c.key for c in rank(new, existing, threshold=0.0)} == {"DUP", "XSS"}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"limit": -1}, "limit"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
    ],
)
def test_bad_options_are_refused(options: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rank(Report("NEW", ROUTER), ENGLISH_CORPUS, **options)
    assert set(caught.value.problems) == {field}


def test_no_existing_reports_means_no_candidates() -> None:
    assert rank(Report("NEW", ROUTER, frozenset({"acme-router"})), []) == []


def test_a_report_is_not_a_duplicate_of_itself() -> None:
    existing = [Report("MAMORI-2026-0001", ROUTER), Report("MAMORI-2026-0002", ROUTER_REWORDED)]
    ranked = rank(Report("MAMORI-2026-0001", ROUTER), existing)
    assert [candidate.key for candidate in ranked] == ["MAMORI-2026-0002"]


def test_order_is_score_then_key_whatever_the_input_order() -> None:
    existing = [Report(key, ROUTER) for key in ("C-3", "A-1", "B-2")] + ENGLISH_CORPUS
    expected = rank(Report("NEW", ROUTER), existing, threshold=0.0, limit=10)
    assert [candidate.key for candidate in expected[:4]] == [
        "A-1",
        "B-2",
        "C-3",
        "MAMORI-2026-0002",
    ]
    shuffled = list(existing)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert rank(Report("NEW", ROUTER), shuffled, threshold=0.0, limit=10) == expected
