"""Out-of-band releases, early mitigation advisories, the embargo, and publishing's refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from mamori.accounts.models import User
from mamori.advisories import services as advisories
from mamori.advisories.models import Advisory, Revision
from mamori.advisories.publisher import current_tree, read_tree
from mamori.assessment import services as assessment
from mamori.cases import services as cases
from mamori.core.ssvc import Urgency
from mamori.core.workflow import State
from mamori.errors import ConfigurationError, Conflict, InvalidInput, PermissionDenied
from mamori.releases import notify, services
from mamori.releases.models import Delivery
from tests.releases.conftest import Receiver, confirmed_case
from tests.releases.test_flow import _develop, _fail_then_pass, _tree

pytestmark = pytest.mark.django_db(transaction=True)

_IMMEDIATE = {
    "automatable": "yes",
    "value_density": "concentrated",
    "technical_impact": "total",
    "safety_impact": "negligible",
}


def _immediate_case(people: dict[str, User]) -> str:
    tid = confirmed_case(people, ssvc=_IMMEDIATE)
    assessment.record_fact(
        people["analyst"], tid, "exploited", date(2026, 11, 19), "vendor telemetry"
    )
    return tid


def test_an_immediate_case_needs_an_out_of_band_release(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    from mamori.core.csaf_validate import validate

    manager = people["manager"]
    tid = _immediate_case(people)
    case = cases.get_case(manager, tid)
    assert services.effective_urgency(case) is Urgency.IMMEDIATE
    _develop(people, tid)
    assert services.release_of(cases.get_case(manager, tid)) is None  # not put in a train
    suggestions = services.out_of_band_suggestions(manager)
    assert [(s.case.tracking_id, s.message) for s in suggestions] == [
        (tid, "Immediate: an out-of-band release is required")
    ]
    with pytest.raises(Conflict, match="out-of-band"):
        services.assign(manager, tid, "2026-12", "try the train")
    _fail_then_pass(people, tid)
    release = services.create_out_of_band(
        manager,
        release_at=datetime(2026, 11, 20, 18, 0, tzinfo=UTC),
        reason="exploited in the wild",
        tracking_ids=[tid],
    )
    assert release.name == "OOB-2026-11-20-1"
    assert services.out_of_band_suggestions(manager) == []
    services.publish(manager, release.name)
    assert cases.get_case(manager, tid).state == State.RELEASED.value
    tree = _tree(publishing)
    document = json.loads(tree[".well-known/csaf/white/2026/msa-2026-0001.json"])
    assert validate(document) == []
    assert "security/releases/OOB-2026-11-20-1.html" in tree
    assert "Exploited" in tree["security/bulletins/MSA-2026-0001.html"].decode()


def test_an_out_of_cycle_case_is_offered_an_out_of_band_release_but_rides_the_train(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    assessment.record_fact(
        people["analyst"], tid, "disclosed", date(2026, 11, 19), "https://lists.example/post"
    )
    case = cases.get_case(people["manager"], tid)
    assert services.effective_urgency(case) is Urgency.OUT_OF_CYCLE  # raised by disclosure
    _develop(people, tid)
    assert services.release_of(case).name == "2026-12"  # type: ignore[union-attr]
    assert [s.message for s in services.out_of_band_suggestions(people["manager"])] == [
        "Out-of-Cycle: an out-of-band release is suggested"
    ]


def test_a_public_case_gets_an_early_mitigation_advisory_that_the_bulletin_supersedes(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    from mamori.core.csaf_validate import validate

    analyst = people["analyst"]
    tid = confirmed_case(people)
    case = cases.get_case(analyst, tid)
    assert advisories.needs_early_advisory(case) is False
    assessment.record_fact(analyst, tid, "disclosed", date(2026, 11, 19), "https://x.example/1")
    case = cases.get_case(analyst, tid)
    assert advisories.needs_early_advisory(case) is True  # Mamori asks for one

    revision = advisories.publish_early_advisory(analyst, tid)
    early_id = revision.advisory.advisory_id
    assert revision.advisory.kind == "early_mitigation"
    assert advisories.needs_early_advisory(cases.get_case(analyst, tid)) is False
    tree = _tree(publishing)
    name = f".well-known/csaf/white/2026/{early_id.lower()}.json"
    document = json.loads(tree[name])
    assert validate(document) == []
    statuses = document["vulnerabilities"][0]["product_status"]
    assert "fixed" not in statuses
    categories = {r["category"] for r in document["vulnerabilities"][0]["remediations"]}
    assert categories == {"mitigation", "none_available"}
    page = tree[f"security/bulletins/{early_id}.html"].decode()
    assert "Block uploads at the reverse proxy." in page
    assert "No security update is available yet" in page
    assert "security/cve/CVE-2026-41234.json" not in tree  # no CVE record before the fix

    _develop(people, tid)
    _fail_then_pass(people, tid)
    _at_release(people, "2026-12", clock)
    bulletin = Advisory.objects.get(case__tracking_id=tid, kind="bulletin")
    early = Advisory.objects.get(advisory_id=early_id)
    assert early.superseded_by == bulletin
    tree = _tree(publishing)
    superseding = json.loads(
        tree[f".well-known/csaf/white/2026/{bulletin.advisory_id.lower()}.json"]
    )
    assert validate(superseding) == []
    replaced = json.loads(tree[name])
    assert validate(replaced) == []
    assert replaced["document"]["tracking"]["version"] == "2"
    history = replaced["document"]["tracking"]["revision_history"]
    assert history[-1]["summary"].startswith(f"Superseded by {bulletin.advisory_id}")
    assert (
        f"Superseded by {bulletin.advisory_id}"
        in tree[f"security/bulletins/{early_id}.html"].decode()
    )
    # The first revision stays available as it was published.
    assert f"security/bulletins/{early_id}/v1.html" in tree
    assert "Superseded" not in tree[f"security/bulletins/{early_id}/v1.html"].decode()


def _at_release(people: dict[str, User], name: str, clock: Any) -> None:
    release = services.get_release(people["manager"], name)
    clock.move_to(release.release_at)
    services.publish(people["manager"], name)


def test_nothing_about_an_unreleased_case_is_public(
    people: dict[str, User], publishing: Path, clock: Any, receiver: Receiver
) -> None:
    shipped = confirmed_case(people, title="Shipped flaw", cve="CVE-2026-50001")
    embargoed = confirmed_case(people, title="Embargoed flaw", cve="CVE-2026-50002")
    advisories.update_public_text(
        people["analyst"],
        embargoed,
        advisories.TextChanges(
            title_en="EMBARGOED-TITLE", summary_en="EMBARGOED-SUMMARY", cwe_id="CWE-79"
        ),
    )
    for tid in (shipped, embargoed):
        _develop(people, tid)
    _fail_then_pass(people, shipped)
    hook = notify.add_subscriber(people["manager"], name="SIEM", url=receiver.url)
    receiver.secret = hook.secret.encode()
    # The embargoed case misses the cut-off, so December ships only the other one.
    clock.move_to(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    services.roll_over()
    clock.move_to(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    notify.send_advance_notices()
    _at_release(people, "2026-12", clock)
    tree = _tree(publishing)
    leaks = ("EMBARGOED", "CVE-2026-50002", embargoed, "Embargoed flaw")
    for path, content in tree.items():
        for secret in leaks:
            assert secret.encode() not in content, (path, secret)
    for secret in leaks:
        assert secret not in json.dumps(receiver.received)
    assert "CVE-2026-50001" in tree["security/advisories.atom"].decode() or any(
        p == "security/cve/CVE-2026-50001.json" for p in tree
    )


def test_a_webhook_that_is_down_is_retried_with_backoff_and_never_blocks_the_release(
    people: dict[str, User], publishing: Path, clock: Any, receiver: Receiver
) -> None:
    tid = confirmed_case(people)
    _develop(people, tid)
    _fail_then_pass(people, tid)
    hook = notify.add_subscriber(people["manager"], name="SIEM", url=receiver.url)
    receiver.secret = hook.secret.encode()
    receiver.down = True
    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    clock.move_to(start)
    notify.send_advance_notices()
    delivery = Delivery.objects.get(subscriber=hook)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 503)
    assert "503" in delivery.last_error
    assert delivery.next_attempt_at == start + timedelta(minutes=1)
    assert notify.deliver_due() == 0  # not before its time
    clock.move_to(start + timedelta(minutes=1))
    notify.deliver_due()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (2, start + timedelta(minutes=3))
    visible = notify.deliveries(
        people["manager"], services.get_release(people["manager"], "2026-12")
    )
    assert [d.last_error for d in visible] == [delivery.last_error]

    _at_release(people, "2026-12", clock)  # the release does not wait for the webhook
    assert cases.get_case(people["manager"], tid).state == State.RELEASED.value

    receiver.down = False
    clock.move_to(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    notify.deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "sent" and delivery.attempts == 3
    assert receiver.verified == [True]


def test_publishing_without_the_signing_key_is_refused_and_changes_nothing(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    _develop(people, tid)
    _fail_then_pass(people, tid)
    keyless = settings.MAMORI_PUBLISHING.__class__(
        **{**vars(settings.MAMORI_PUBLISHING), "signing_key": ""}
    )
    clock.move_to(datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    with (
        override_settings(MAMORI_PUBLISHING=keyless),
        pytest.raises(ConfigurationError, match="MAMORI_SIGNING_KEY"),
    ):
        services.publish(people["manager"], "2026-12")
    assert cases.get_case(people["manager"], tid).state == State.READY_FOR_RELEASE.value
    assert not Advisory.objects.exists()
    assert current_tree(publishing) is None


def test_a_document_that_fails_a_mandatory_test_is_never_written(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    advisories.update_public_text(
        people["analyst"], tid, advisories.TextChanges(cwe_name="Not the name of CWE-787")
    )
    _develop(people, tid)
    _fail_then_pass(people, tid)
    clock.move_to(datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    with pytest.raises(InvalidInput) as refused:
        services.publish(people["manager"], "2026-12")
    assert "6.1.11" in refused.value.message
    assert not Revision.objects.exists()
    assert cases.get_case(people["manager"], tid).state == State.READY_FOR_RELEASE.value
    assert current_tree(publishing) is None


def test_reissuing_keeps_earlier_revisions_available(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    _develop(people, tid)
    _fail_then_pass(people, tid)
    _at_release(people, "2026-12", clock)
    analyst = people["analyst"]
    advisories.update_public_text(
        analyst, tid, advisories.TextChanges(mitigations_en="Also disable the upload API.")
    )
    with pytest.raises(InvalidInput):
        advisories.reissue(analyst, "MSA-2026-0001", "   ")
    clock.move_to(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    revision = advisories.reissue(analyst, "MSA-2026-0001", "Added a workaround")
    assert revision.number == 2
    tree = _tree(publishing)
    document = json.loads(tree[".well-known/csaf/white/2026/msa-2026-0001.json"])
    assert [r["number"] for r in document["document"]["tracking"]["revision_history"]] == [
        "1",
        "2",
    ]
    assert "Also disable the upload API." in tree["security/bulletins/MSA-2026-0001.html"].decode()
    first = tree["security/bulletins/MSA-2026-0001/v1.html"].decode()
    assert "Also disable the upload API." not in first
    assert "Block uploads at the reverse proxy." in first
    changes = tree[".well-known/csaf/white/changes.csv"].decode()
    assert "2026-12-10T09:00:00" in changes
    assert read_tree(current_tree(publishing)) == tree  # type: ignore[arg-type]


def test_out_of_band_releases_of_one_day_are_numbered(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    names = [
        services.create_out_of_band(people["manager"], release_at=at, reason=why).name
        for why in ("first leak", "second leak")
    ]
    assert names == ["OOB-2026-11-21-1", "OOB-2026-11-21-2"]
    with pytest.raises(InvalidInput):
        services.create_out_of_band(people["manager"], release_at=at, reason="  ")
    with pytest.raises(PermissionDenied):
        services.create_out_of_band(people["analyst"], release_at=at, reason="not mine")
