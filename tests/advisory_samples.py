"""Realistic ``Advisory`` values for the format builders' tests (CSAF, CVE, OSV, bulletins).

``sample_advisory()`` is a security bulletin from Example Corp fixing two vulnerabilities in two
products: the Example Gateway appliance (no package URL) and the ``example-sdk`` Python package
(``pkg:pypi/example-sdk``). ``sample_early_mitigation()`` is an early mitigation advisory for an
exploited vulnerability with no fix yet. Every CVSS score is computed from its vector by the
``cvss`` library (through ``core.rating``), so the numbers are right by construction.

Both take keyword overrides for any ``Advisory`` field (``dataclasses.replace``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from mamori.core.advisory import (
    Acknowledgment,
    Advisory,
    Kind,
    Note,
    ProductVersion,
    Publisher,
    Reference,
    Remediation,
    RemediationCategory,
    Revision,
    Score,
    Status,
    Text,
    Vulnerability,
)
from mamori.core.rating import parse_cvss

JST = timezone(timedelta(hours=9))
VENDOR = "Example Corp"
PUBLISHER = Publisher(
    name="Example Corp PSIRT",
    namespace="https://www.example.com",
    contact="security@example.com",
)

#: CVE ids of the sample's vulnerabilities.
CVE_TRAVERSAL = "CVE-2026-10001"
CVE_XSS = "CVE-2026-10002"
CVE_ZERO_DAY = "CVE-2026-10003"


def score(vector: str, *product_ids: str) -> Score:
    """A ``Score`` as ``core.rating`` computes it from ``vector``."""
    rated = parse_cvss(vector)
    return Score(
        version=rated.version,
        vector=rated.vector,
        base_score=rated.base_score,
        base_severity=rated.base_severity.upper(),
        product_ids=product_ids,
    )


def gateway(version: str) -> ProductVersion:
    return ProductVersion(
        product_id=f"example-gateway-{version}",
        vendor=VENDOR,
        product="Example Gateway",
        version=version,
        product_slug="example-gateway",
    )


def sdk(version: str) -> ProductVersion:
    return ProductVersion(
        product_id=f"example-sdk-{version}",
        vendor=VENDOR,
        product="example-sdk",
        version=version,
        purl=f"pkg:pypi/example-sdk@{version}",
        product_slug="example-sdk",
    )


GATEWAY = {v: gateway(v) for v in ("3.0.4", "3.1.0", "3.1.1", "3.1.2")}
SDK = {v: sdk(v) for v in ("1.9.3", "2.0.0", "2.0.1", "2.0.2")}


def _ids(products: dict[str, ProductVersion], *versions: str) -> tuple[str, ...]:
    return tuple(products[v].product_id for v in versions)


def traversal() -> Vulnerability:
    affected = _ids(GATEWAY, "3.1.0", "3.1.1")
    return Vulnerability(
        title=Text(
            "Example Gateway web console path traversal",
            "Example Gateway の Web コンソールにおけるパス トラバーサル",
        ),
        description=Text(
            "The file download endpoint of the Example Gateway web console does not restrict "
            "the requested path to the download directory. An authenticated user can read any "
            "file the gateway service can read, including its configuration and private keys.",
            "Example Gateway の Web コンソールのファイル ダウンロード機能は、要求されたパスを"
            "ダウンロード用ディレクトリに制限していません。認証済みのユーザーは、ゲートウェイ "
            "サービスが読めるすべてのファイル (設定や秘密鍵を含む) を読み取ることができます。",
        ),
        cve=CVE_TRAVERSAL,
        cwe_id="CWE-22",
        cwe_name="Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
        severity="Important",
        scores=(
            score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"),
        ),
        statuses={
            Status.KNOWN_AFFECTED: affected,
            Status.FIXED: _ids(GATEWAY, "3.1.2"),
            Status.KNOWN_NOT_AFFECTED: _ids(GATEWAY, "3.0.4"),
        },
        justifications={GATEWAY["3.0.4"].product_id: "component_not_present"},
        remediations=(
            Remediation(
                RemediationCategory.VENDOR_FIX,
                Text(
                    "Update Example Gateway to version 3.1.2.",
                    "Example Gateway をバージョン 3.1.2 に更新してください。",
                ),
                affected,
                restart_required=True,
            ),
            Remediation(
                RemediationCategory.WORKAROUND,
                Text(
                    "Allow access to the web console from the management network only.",
                    "Web コンソールへのアクセスを管理用ネットワークからのみに制限してください。",
                ),
                affected,
            ),
        ),
        exploitability="less likely",
        acknowledgments=(Acknowledgment("Hanako Yamada", "Example Research Lab"),),
        references=(
            Reference(
                "https://www.example.com/kb/KB-2026-0042",
                "KB-2026-0042: Restricting access to the Example Gateway web console",
            ),
        ),
        discovery_date=datetime(2026, 1, 20, 14, 30, tzinfo=JST),
    )


def xss() -> Vulnerability:
    affected = _ids(SDK, "2.0.0", "2.0.1")
    return Vulnerability(
        title=Text(
            "Cross-site scripting in example-sdk HTML reports",
            "example-sdk の HTML レポートにおけるクロスサイト スクリプティング",
        ),
        description=Text(
            "example-sdk writes scan findings into its HTML report without escaping them. A "
            "crafted finding runs script in the browser of whoever opens the report.",
            "example-sdk は検出結果をエスケープせずに HTML レポートに書き込みます。細工された"
            "検出結果により、レポートを開いたユーザーのブラウザーでスクリプトが実行されます。",
        ),
        cve=CVE_XSS,
        cwe_id="CWE-79",
        cwe_name="Improper Neutralization of Input During Web Page Generation "
        "('Cross-site Scripting')",
        severity="Moderate",
        scores=(
            score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N"),
        ),
        statuses={
            Status.KNOWN_AFFECTED: affected,
            Status.FIXED: _ids(SDK, "2.0.2"),
            Status.KNOWN_NOT_AFFECTED: _ids(SDK, "1.9.3"),
        },
        justifications={SDK["1.9.3"].product_id: "vulnerable_code_not_present"},
        remediations=(
            Remediation(
                RemediationCategory.VENDOR_FIX,
                Text(
                    "Upgrade example-sdk to 2.0.2: pip install --upgrade 'example-sdk>=2.0.2'.",
                    "example-sdk を 2.0.2 に更新してください: "
                    "pip install --upgrade 'example-sdk>=2.0.2'",
                ),
                affected,
                url="https://pypi.org/project/example-sdk/2.0.2/",
            ),
        ),
        publicly_disclosed=True,
        exploitability="more likely",
        acknowledgments=(Acknowledgment("Taro Suzuki"),),
    )


def sample_advisory(**overrides: Any) -> Advisory:
    """A security bulletin: two vulnerabilities, two products, two revisions."""
    released = datetime(2026, 3, 10, 9, 0, tzinfo=JST)
    revised = datetime(2026, 3, 17, 10, 30, tzinfo=JST)
    advisory = Advisory(
        id="MSA-2026-0001",
        kind=Kind.BULLETIN,
        title=Text(
            "Security update for Example Gateway and example-sdk",
            "Example Gateway および example-sdk のセキュリティ更新プログラム",
        ),
        summary=Text(
            "This update fixes a path traversal in the Example Gateway web console and a "
            "cross-site scripting vulnerability in the HTML reports of example-sdk.",
            "この更新プログラムは、Example Gateway の Web コンソールのパス トラバーサルと、"
            "example-sdk の HTML レポートのクロスサイト スクリプティングを修正します。",
        ),
        publisher=PUBLISHER,
        initial_release=released,
        current_release=revised,
        revisions=(
            Revision("1", released, "Initial release."),
            Revision("2", revised, "Added the FAQ entry on restarting the gateway."),
        ),
        products=(*GATEWAY.values(), *SDK.values()),
        vulnerabilities=(traversal(), xss()),
        faq=(
            Note(
                Text(
                    f"Can {CVE_TRAVERSAL} be exploited without signing in?",
                    f"{CVE_TRAVERSAL} はサインインせずに悪用できますか?",
                ),
                Text(
                    "No. The attacker needs a user account on the gateway's web console.",
                    "いいえ。攻撃者にはゲートウェイの Web コンソールの"
                    "ユーザー アカウントが必要です。",
                ),
            ),
            Note(
                Text(
                    "Does installing the update restart the gateway?",
                    "更新プログラムをインストールするとゲートウェイは再起動しますか?",
                ),
                Text(
                    "Yes. Plan a maintenance window of about five minutes.",
                    "はい。5 分程度のメンテナンス時間を確保してください。",
                ),
            ),
        ),
        update_url="https://www.example.com/downloads/gateway/3.1.2",
        restart_required=True,
        release_name="2026-03",
        url="https://www.example.com/security/advisories/MSA-2026-0001",
        references=(
            Reference(
                "https://www.example.com/security/release-notes/2026-03",
                "Release notes for the March 2026 security release",
            ),
        ),
    )
    return replace(advisory, **overrides)


def zero_day() -> Vulnerability:
    affected = _ids(GATEWAY, "3.1.1", "3.1.2")
    return Vulnerability(
        title=Text(
            "Example Gateway VPN portal remote code execution",
            "Example Gateway の VPN ポータルにおけるリモートでコードが実行される脆弱性",
        ),
        description=Text(
            "The VPN portal of Example Gateway passes part of the sign-in request to a shell "
            "command. An unauthenticated attacker can run commands as the gateway service.",
            "Example Gateway の VPN ポータルは、サインイン要求の一部をシェル コマンドに渡します。"
            "認証されていない攻撃者が、ゲートウェイ サービスの権限でコマンドを実行できます。",
        ),
        cve=CVE_ZERO_DAY,
        cwe_id="CWE-78",
        cwe_name="Improper Neutralization of Special Elements used in an OS Command "
        "('OS Command Injection')",
        severity="Critical",
        scores=(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
        statuses={
            Status.KNOWN_AFFECTED: affected,
            Status.KNOWN_NOT_AFFECTED: _ids(GATEWAY, "3.0.4"),
            Status.UNDER_INVESTIGATION: _ids(GATEWAY, "3.1.0"),
        },
        justifications={GATEWAY["3.0.4"].product_id: "component_not_present"},
        remediations=(
            Remediation(
                RemediationCategory.WORKAROUND,
                Text(
                    "Disable the VPN portal: set vpn.portal.enabled to false and restart the "
                    "gateway service.",
                    "VPN ポータルを無効にしてください: vpn.portal.enabled を false に設定し、"
                    "ゲートウェイ サービスを再起動します。",
                ),
                affected,
            ),
            Remediation(
                RemediationCategory.MITIGATION,
                Text(
                    "Block TCP port 8443 at the perimeter firewall.",
                    "境界ファイアウォールで TCP ポート 8443 を遮断してください。",
                ),
                affected,
            ),
        ),
        exploited=True,
        publicly_disclosed=True,
        exploitability="detected",
        acknowledgments=(Acknowledgment("Example Corp Threat Intelligence", "Example Corp"),),
    )


def sample_early_mitigation(**overrides: Any) -> Advisory:
    """An early mitigation advisory: an exploited vulnerability, workarounds, no fix yet."""
    released = datetime(2026, 4, 2, 18, 0, tzinfo=JST)
    advisory = Advisory(
        id="MSA-2026-0002",
        kind=Kind.EARLY_MITIGATION,
        title=Text(
            "Mitigations for a vulnerability in the Example Gateway VPN portal",
            "Example Gateway の VPN ポータルの脆弱性に対する緩和策",
        ),
        summary=Text(
            "Example Corp is aware of attacks against the Example Gateway VPN portal. Until an "
            "update is available, disable the portal or block it at the perimeter.",
            "Example Corp は Example Gateway の VPN ポータルを狙った攻撃を確認しています。更新"
            "プログラムが提供されるまで、ポータルを無効にするか境界で遮断してください。",
        ),
        publisher=PUBLISHER,
        initial_release=released,
        current_release=released,
        revisions=(Revision("1", released, "Initial release."),),
        products=tuple(GATEWAY.values()),
        vulnerabilities=(zero_day(),),
        mitigations=Text(
            "Disable the VPN portal, or block TCP port 8443 at the perimeter firewall.",
            "VPN ポータルを無効にするか、境界ファイアウォールで TCP ポート 8443 を遮断して"
            "ください。",
        ),
        url="https://www.example.com/security/advisories/MSA-2026-0002",
    )
    return replace(advisory, **overrides)
