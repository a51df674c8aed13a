"""A product, a team and a case that has been rated and handed to development, plus a publishing
configuration with a real signing key and a public directory of the test's own."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings

from mamori.accounts.models import User
from mamori.advisories import services as advisories
from mamori.assessment import services as assessment
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.core.webhooks import SIGNATURE_HEADER, verify
from mamori.core.workflow import StepInput
from mamori.products import services as catalogue
from tests import factories, gpg_keys

#: A Friday; the December 2026 train releases on Tuesday the 8th at 10:00 UTC, its cut-off is
#: the 1st and its advance notification goes out on Thursday the 3rd.
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture(scope="session")
def team_key() -> Iterator[gpg_keys.Identity]:
    with gpg_keys.identity("Mamori PSIRT <psirt@example.com>") as key:
        yield key


@pytest.fixture
def publishing(tmp_path: Path, team_key: gpg_keys.Identity) -> Iterator[Path]:
    """Publishing into ``tmp_path/public``, signed with the team key, for https://psirt.example."""
    public = tmp_path / "public"
    config = dataclasses.replace(
        settings.MAMORI_PUBLISHING,
        public_dir=public,
        site_url="https://psirt.example.com",
        publisher_namespace="https://example.com",
        vendor="Example",
        publisher_name="Example PSIRT",
        signing_key=team_key.fingerprint,
        cve_org="Example",
        cve_org_id="5f6b2b7e-1a0e-4f34-9c77-6f1f1b5c2a11",
    )
    intake = dataclasses.replace(settings.MAMORI_INTAKE, gnupg_home=team_key.home)
    with override_settings(MAMORI_PUBLISHING=config, MAMORI_INTAKE=intake):
        yield public


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(admin: User) -> dict[str, User]:
    engineer = factories.user(Role.PRODUCT_ENGINEER, "engineer")
    web = factories.team(admin, "web-team", members=(engineer,))
    factories.product(admin, "portal", teams=(web,))
    catalogue.add_version(admin, "portal", catalogue.VersionDraft("2.1"))
    catalogue.add_component(admin, "portal", "pkg:pypi/example-portal")
    return {
        "admin": admin,
        "analyst": factories.user(Role.ANALYST, "analyst"),
        "engineer": engineer,
        "manager": factories.user(Role.RELEASE_MANAGER, "manager"),
        "auditor": factories.user(Role.AUDITOR, "auditor"),
    }


def confirmed_case(
    people: dict[str, User],
    title: str = "Secret overflow in the portal upload parser",
    cve: str = "CVE-2026-41234",
    ssvc: dict[str, str] | None = None,
) -> str:
    """A case through triage and confirmation, rated, its matrix settled, with public texts."""
    analyst = people["analyst"]
    tid = factories.case(
        analyst,
        title=title,
        products=("portal",),
        reporter_name="Aiko Researcher",
        reporter_organisation="Example Labs",
    )
    cases.transition(analyst, tid, "triage", StepInput())
    cases.update_case(
        analyst,
        tid,
        cases.CaseChanges(assignee=analyst.username, owning_team="web-team"),
    )
    cases.transition(analyst, tid, "reproducing", StepInput())
    factories.rate(analyst, tid, "critical", V31)
    assessment.update_rating(
        analyst, tid, assessment.RatingChanges(cves=(cve,), ssvc=ssvc or _ROUTINE)
    )
    cases.transition(analyst, tid, "confirmed", StepInput())
    factories.settle_matrix(analyst, tid)
    advisories.update_public_text(
        analyst,
        tid,
        advisories.TextChanges(
            title_en="Remote code execution in Example Portal",
            title_ja="Example Portal におけるリモートコード実行の脆弱性",
            summary_en="A remote code execution vulnerability exists in Example Portal.",
            summary_ja="Example Portal にリモートでコードが実行される脆弱性が存在します。",
            description_en="The upload handler does not check the length of a field.",
            description_ja="アップロード処理がフィールドの長さを検査しません。",
            mitigations_en="Block uploads at the reverse proxy.",
            mitigations_ja="リバースプロキシでアップロードを遮断してください。",
            faq=[
                {
                    "question_en": "Who is at risk?",
                    "answer_en": "Sites that accept uploads from untrusted users.",
                    "question_ja": "影響を受けるのは?",
                    "answer_ja": "信頼できない利用者からのアップロードを受け付けるサイトです。",
                }
            ],
            cwe_id="CWE-787",
            cwe_name="Out-of-bounds Write",
            fixed_versions={"portal 2.1": "2.1.1"},
            restart_required=True,
            credit=True,
        ),
    )
    return tid


# Defer in the supplier table (a monthly release): no exploitation, not automatable,
# diffuse, partial impact.
_ROUTINE = {
    "automatable": "no",
    "value_density": "diffuse",
    "technical_impact": "partial",
    "safety_impact": "negligible",
}


class Receiver:
    """A real HTTP endpoint that checks each webhook's signature, or answers 503 while down."""

    def __init__(self, secret: bytes = b"") -> None:
        self.secret = secret
        self.down = False
        self.received: list[dict[str, Any]] = []
        self.verified: list[bool] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                header = self.headers.get(SIGNATURE_HEADER, "")
                now = int(datetime.now(UTC).timestamp())
                receiver.verified.append(verify(receiver.secret, header, body, now))
                receiver.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()
