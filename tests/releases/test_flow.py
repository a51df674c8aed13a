"""From a confirmed case through a failed and a passed test run into a monthly release: the
advance notification three business days before, then the published tree (issue #5's "done")."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mamori.accounts.models import User
from mamori.advisories import services as advisories
from mamori.advisories.models import Advisory, SiteBuild
from mamori.advisories.publisher import current_tree, read_tree
from mamori.cases import services as cases
from mamori.core import cve as cve_format
from mamori.core import osv as osv_format
from mamori.core.workflow import State, StepInput
from mamori.errors import GateRefused
from mamori.fixes import services as fixes
from mamori.intake.models import OutboundMail
from mamori.releases import notify, services
from mamori.releases.models import Delivery, Release
from tests import gpg_keys
from tests.releases.conftest import Receiver, confirmed_case

pytestmark = pytest.mark.django_db(transaction=True)


def _develop(people: dict[str, User], tid: str) -> None:
    cases.transition(people["analyst"], tid, "in_development", StepInput())


def _fail_then_pass(people: dict[str, User], tid: str) -> None:
    engineer = people["engineer"]
    first = fixes.add_build(engineer, tid, artifact=("portal-2.1.1-rc1.tar.gz", b"rc1")).number
    fixes.submit_for_testing(engineer, tid, first)
    run = fixes.start_run(engineer, tid, first, ["upload of 1 GiB field refused", "login works"])
    fixes.record_result(engineer, tid, run.number, 1, "fail", "still crashes at 2 GiB")
    fixes.record_result(engineer, tid, run.number, 2, "pass")
    fixes.complete_run(engineer, tid, run.number)
    case = cases.get_case(engineer, tid)
    assert case.state == State.IN_DEVELOPMENT.value
    assert case.rework_count == 1
    second = fixes.add_build(engineer, tid, artifact=("portal-2.1.1-rc2.tar.gz", b"rc2")).number
    fixes.submit_for_testing(engineer, tid, second)
    run = fixes.start_run(engineer, tid, second, ["upload of 1 GiB field refused", "login works"])
    fixes.record_result(engineer, tid, run.number, 1, "pass", "refused with 413")
    fixes.record_result(engineer, tid, run.number, 2, "pass")
    fixes.complete_run(engineer, tid, run.number)
    assert cases.get_case(engineer, tid).state == State.READY_FOR_RELEASE.value


def _tree(public: Path) -> dict[str, bytes]:
    current = current_tree(public)
    assert current is not None
    return read_tree(current)


def _gpg_verify(key: gpg_keys.Identity, tmp: Path, content: bytes, signature: bytes) -> None:
    (tmp / "doc.json").write_bytes(content)
    (tmp / "doc.json.asc").write_bytes(signature)
    subprocess.run(
        ["gpg", "--homedir", str(key.home), "--batch", "--verify", "doc.json.asc", "doc.json"],
        cwd=tmp,
        check=True,
        capture_output=True,
    )


def test_a_case_goes_from_confirmed_into_a_published_monthly_release(
    people: dict[str, User],
    publishing: Path,
    clock: Any,
    receiver: Receiver,
    team_key: gpg_keys.Identity,
    tmp_path: Path,
) -> None:
    from mamori.core.csaf_validate import provider_metadata_problems, validate

    manager = people["manager"]
    tid = confirmed_case(people)
    _develop(people, tid)
    december = services.release_of(cases.get_case(manager, tid))
    assert december is not None and december.name == "2026-12"  # the next open train
    assert december.release_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert december.notify_at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert Release.objects.filter(kind="monthly").count() == 12

    _fail_then_pass(people, tid)
    email = notify.add_subscriber(manager, name="Customer IT", email="it@customer.example")
    hook = notify.add_subscriber(manager, name="SIEM", url=receiver.url)
    receiver.secret = hook.secret.encode()

    # Nothing goes out before the notification day.
    clock.move_to(datetime(2026, 12, 3, 9, 59, tzinfo=UTC))
    assert notify.send_advance_notices() == []
    clock.move_to(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    sent = notify.send_advance_notices()
    assert [n.release.name for n in sent] == ["2026-12"]
    summary = sent[0].summary
    assert summary == {
        "release": "2026-12",
        "release_date": "2026-12-08T10:00:00+00:00",
        "bulletins": 1,
        "highest_severity": "Critical",
        "products": ["Portal"],
        "restart_required": True,
    }
    assert notify.send_advance_notices() == []  # once only
    mails = OutboundMail.objects.filter(kind="advance_notice")
    assert [m.to for m in mails] == [email.email]
    assert receiver.received == [{"event": "advance_notification", **summary}]
    assert receiver.verified == [True]
    assert Delivery.objects.get(subscriber=hook).state == "sent"
    feed = _tree(publishing)["security/advance-notifications.atom"].decode()
    assert "2026-12" in feed and "Portal" in feed
    for secret in ("Secret overflow", tid, "CVE-2026-41234", "upload"):
        assert secret not in feed
        assert secret not in mails[0].body
        assert secret not in json.dumps(receiver.received)
    assert not any(path.startswith("security/bulletins/") for path in _tree(publishing))

    clock.move_to(datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    services.publish(manager, "2026-12")
    case = cases.get_case(manager, tid)
    assert case.state == State.RELEASED.value
    assert case.release_reference == "2026-12"
    advisory = Advisory.objects.get(case=case)
    assert advisory.advisory_id == "MSA-2026-0001"

    tree = _tree(publishing)
    name = ".well-known/csaf/white/2026/msa-2026-0001.json"
    document = json.loads(tree[name])
    assert validate(document) == []
    assert document["document"]["tracking"]["id"] == "MSA-2026-0001"
    assert document["vulnerabilities"][0]["cve"] == "CVE-2026-41234"
    assert (
        provider_metadata_problems(json.loads(tree[".well-known/csaf/provider-metadata.json"]))
        == []
    )
    assert tree[".well-known/csaf/white/index.txt"] == b"2026/msa-2026-0001.json\n"
    _gpg_verify(team_key, tmp_path, tree[name], tree[name + ".asc"])
    record = json.loads(tree["security/cve/CVE-2026-41234.json"])
    assert cve_format.validate_record(record) == []
    osv_records = [p for p in tree if p.startswith("security/osv/")]
    assert len(osv_records) == 1
    assert osv_format.validate(json.loads(tree[osv_records[0]])) == []
    bulletin = tree["security/bulletins/MSA-2026-0001.html"].decode()
    assert "Remote code execution in Example Portal" in bulletin
    assert "Aiko Researcher" in bulletin  # credited: the reporter agreed
    assert "2.1.1" in bulletin
    japanese = tree["security/bulletins/MSA-2026-0001.ja.html"].decode()
    assert "リモートコード実行" in japanese
    assert "security/kb/MSA-2026-0001.html" in tree
    assert "security/releases/2026-12.html" in tree
    assert "MSA-2026-0001" in tree["security/index.html"].decode()
    assert "MSA-2026-0001" in tree["security/advisories.atom"].decode()
    security_txt = tree[".well-known/security.txt"].decode()
    assert "CSAF: https://psirt.example.com/.well-known/csaf/provider-metadata.json" in security_txt
    # The internal title and the tracking id never reach the public tree.
    for path, content in tree.items():
        assert b"Secret overflow" not in content, path
        assert tid.encode() not in content, path

    # Publishing again changes nothing.
    before = dict(tree)
    again = advisories.publish_site(manager, "again")
    assert again.changed is False
    assert _tree(publishing) == before
    assert SiteBuild.objects.filter(changed=True).count() >= 1


def test_a_release_with_a_case_that_is_not_ready_is_refused(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    ready = confirmed_case(people)
    _develop(people, ready)
    _fail_then_pass(people, ready)
    late = confirmed_case(people, title="Second flaw", cve="CVE-2026-41235")
    _develop(people, late)
    with pytest.raises(GateRefused) as refused:
        services.publish(people["manager"], "2026-12")
    assert refused.value.missing == (f"every case ready for release: {late} is in development",)
    assert cases.get_case(people["manager"], ready).state == State.READY_FOR_RELEASE.value
    assert not Advisory.objects.exists()
    assert current_tree(publishing) is None


def test_a_case_that_misses_the_cut_off_moves_to_the_next_train_with_the_reason(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    _develop(people, tid)
    clock.move_to(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # the December cut-off
    moved = services.roll_over()
    assert moved == [(tid, "2026-12", "2027-01")]
    case = cases.get_case(people["manager"], tid)
    assert services.release_of(case).name == "2027-01"  # type: ignore[union-attr]
    reason = services.moves_of(case)[-1].reason
    assert reason.startswith("missed the code-freeze cut-off of 2026-12")
    assert "in development" in reason
    assert services.roll_over() == []  # idempotent


def test_publishing_needs_the_data_every_format_requires(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    advisories.update_public_text(
        people["analyst"],
        tid,
        advisories.TextChanges(title_en="", description_en="", fixed_versions={}),
    )
    _develop(people, tid)
    _fail_then_pass(people, tid)
    with pytest.raises(GateRefused) as refused:
        services.publish(people["manager"], "2026-12")
    missing = refused.value.missing
    assert f"{tid}: the fixed version of Portal 2.1" in missing
    assert f"{tid}: a title" in missing
    assert f"{tid}: vulnerability 1: a title" in missing
    assert f"{tid}: vulnerability 1: a description" in missing
    assert cases.get_case(people["manager"], tid).state == State.READY_FOR_RELEASE.value
