"""Test data through the real services, so every object is made the way users make it."""

from __future__ import annotations

import itertools

from mamori.accounts.models import User
from mamori.accounts.services import create_user
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.products import services as catalogue

_seq = itertools.count(1)


def user(role: Role = Role.ANALYST, username: str = "", **extra: str) -> User:
    made, _password = create_user(
        None, username=username or f"{role.value}{next(_seq)}", role=role, **extra
    )
    made.must_change_password = False
    made.save(update_fields=["must_change_password"])
    return made


def team(admin: User, slug: str = "", members: tuple[User, ...] = ()) -> str:
    slug = slug or f"team-{next(_seq)}"
    catalogue.create_team(admin, slug, slug.replace("-", " ").title())
    for member in members:
        catalogue.set_membership(admin, slug, member.username, member=True)
    return slug


def product(admin: User, slug: str = "", teams: tuple[str, ...] = ()) -> str:
    slug = slug or f"product-{next(_seq)}"
    catalogue.create_product(admin, catalogue.ProductDraft(slug, slug.title(), "", teams))
    return slug


def case(actor: User, title: str = "Overflow in parser", **draft: object) -> str:
    made = cases.create_case(actor, cases.CaseDraft(title=title, **draft))  # type: ignore[arg-type]
    return made.tracking_id


# Impact fields that the severity rules (mamori.core.severity) rate at each level.
IMPACT_FOR = {
    "critical": {"impact": "code_execution"},
    "important": {"impact": "information_disclosure"},
    "moderate": {"impact": "spoofing"},
    "low": {"impact": "information_disclosure", "minimal_impact": True},
}
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def rate(actor: User, tracking_id: str, severity: str = "important", vector: str = VECTOR) -> None:
    """Rate a case the way an analyst does: a CVSS vector and impact fields that the documented
    rules turn into ``severity``."""
    from mamori.assessment import services as assessment

    slot = "cvss_v4" if vector.startswith("CVSS:4.0/") else "cvss_v3"
    changes = assessment.RatingChanges(**{slot: vector}, impact=IMPACT_FOR[severity])
    assessment.update_rating(actor, tracking_id, changes)


def settle_matrix(actor: User, tracking_id: str, status: str = "affected") -> None:
    """Answer every version of the case's products in the affected matrix."""
    from mamori.assessment import services as assessment

    for line in assessment.matrix(actor, tracking_id):
        extra = {"resolution": "fix"} if status == "affected" else {}
        if status == "not_affected":
            extra = {"justification": "vulnerable_code_not_present"}
        assessment.set_matrix_row(
            actor,
            tracking_id,
            line.product_slug,
            line.version_name,
            assessment.RowChanges(status=status, **extra),
        )


def pass_tests(actor: User, tracking_id: str) -> None:
    """Test the fix the way the product team does: a private build (submitted for testing if the
    case is still in development), a test run of one item on the build that will ship, passed —
    which moves the case to ready_for_release."""
    from mamori.fixes import services as fixes

    state = cases.get_case(actor, tracking_id).state
    builds = fixes.builds(actor, tracking_id)
    if state == "in_development" or not builds:
        build = fixes.add_build(
            actor, tracking_id, artifact=("fix.tar.gz", b"the fixed build"), notes="the fix"
        ).number
    else:
        build = builds[-1].number
    if state == "in_development":
        fixes.submit_for_testing(actor, tracking_id, build)
    run = fixes.start_run(actor, tracking_id, build, ["the reported scenario no longer works"])
    fixes.record_result(actor, tracking_id, run.number, 1, "pass", "not reproducible any more")
    fixes.complete_run(actor, tracking_id, run.number)
