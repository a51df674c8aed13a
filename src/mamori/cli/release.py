"""``mamori release`` and ``mamori publish``: release trains and the public tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mamori.cli.main import cli, handles_errors, setup_django

if TYPE_CHECKING:
    from mamori.accounts.models import User


def _operator(username: str) -> User:
    from mamori.accounts.models import User
    from mamori.errors import NotFound

    found = User.objects.filter(username=username, is_active=True).first()
    if found is None:
        raise NotFound(f"no active user {username!r}")
    return found


@cli.group()
def release() -> None:
    """Release trains: the monthly calendar, publishing, advance notifications."""


@release.command("list")
@handles_errors
def release_list() -> None:
    """List the releases (the next 12 monthly trains are generated first)."""
    setup_django()
    from mamori.releases import services
    from mamori.releases.models import Assignment, Release

    services.ensure_calendar()
    for r in Release.objects.all():
        count = Assignment.objects.filter(release=r).count()
        cutoff = f"cut-off {r.cutoff_at:%Y-%m-%d %H:%M}Z  " if r.cutoff_at else ""
        click.echo(
            f"{r.name:<18} {r.kind:<12} {r.release_at:%Y-%m-%d %H:%M}Z  {cutoff}"
            f"{r.state:<10} {count} case(s)"
        )


@release.command("publish")
@click.argument("name")
@click.option("--as", "username", required=True, help="The release manager publishing it.")
@handles_errors
def release_publish(name: str, username: str) -> None:
    """Publish release NAME: every case must be ready for release."""
    setup_django()
    from mamori.releases import services

    released = services.publish(_operator(username), name)
    click.echo(f"published {released.name}")


@release.command("tick")
@handles_errors
def release_tick() -> None:
    """Run the release jobs now: calendar, cut-off, advance notifications, webhooks."""
    setup_django()
    from mamori.releases import notify, services

    services.ensure_calendar()
    for case, old, new in services.roll_over():
        click.echo(f"{case}: missed the cut-off of {old}, moved to {new}")
    for notice in notify.send_advance_notices():
        click.echo(f"advance notification of {notice.release.name} sent")
    click.echo(f"{notify.deliver_due()} webhook delivery attempt(s)")


@cli.command("publish")
@handles_errors
def publish() -> None:
    """Rebuild the public tree (advisories, CSAF provider, feeds) and swap it in atomically."""
    setup_django()
    from mamori.advisories import services

    build = services.publish_site(None, "mamori publish")
    state = "changed" if build.changed else "unchanged"
    click.echo(f"public tree {build.digest[:12]}: {state} ({build.files} files)")
