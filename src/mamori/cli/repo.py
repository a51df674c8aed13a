"""``mamori repo``: the signed update repository, its keys and the root-key ceremony.

``keygen`` and ``sign-root`` are the offline half of the ceremony: they need no server, no
database and no network. Every other command works on the repository configured by
``MAMORI_UPDATES_DIR`` (docs/updates.md describes the ceremony step by step).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mamori.cli.main import cli, handles_errors, setup_django

if TYPE_CHECKING:
    from mamori.core.tufrepo import TufRepository

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_NEW_FILE = click.Path(dir_okay=False, path_type=Path)


def _passphrase(ask: bool, confirm: bool = False) -> str | None:
    if not ask:
        return None
    value: str = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


@cli.group()
def repo() -> None:
    """The signed update repository (The Update Framework): keys, publishing, expiry."""


@repo.command("keygen")
@click.argument("private_pem", type=_NEW_FILE)
@click.option("--passphrase", "ask", is_flag=True, help="Encrypt the key (asked twice).")
@handles_errors
def keygen(private_pem: Path, ask: bool) -> None:
    """Offline: generate a root key pair; give PRIVATE_PEM's .pub.pem to the operator."""
    from mamori.core import tufkeys

    key = tufkeys.generate_key(private_pem, passphrase=_passphrase(ask, confirm=True))
    click.echo(f"root key {key.keyid}")
    click.echo(f"public key: {private_pem.with_name(private_pem.stem + '.pub.pem')}")


@repo.command("sign-root")
@click.argument("draft", type=_FILE)
@click.option("--key", "key_pem", required=True, type=_FILE, help="A root private key (PEM).")
@click.option("--previous", type=_FILE, help="The previous root version, to sign with its key.")
@click.option("--passphrase", "ask", is_flag=True, help="The key is encrypted: ask for it.")
@handles_errors
def sign_root(draft: Path, key_pem: Path, previous: Path | None, ask: bool) -> None:
    """Offline: add one root key's signature to a root DRAFT, in place."""
    from mamori.core import tufkeys

    keyid = tufkeys.sign_root_draft(draft, key_pem, passphrase=_passphrase(ask), previous=previous)
    click.echo(f"signed {draft} with root key {keyid}")


def _repository() -> TufRepository:
    setup_django()
    from mamori.updates import services

    return services.repository()


@repo.command("init")
@click.option("--root-key", "root_keys", multiple=True, type=_FILE, help="A root public key.")
@click.option("--threshold", default=1, show_default=True, help="Root signatures required.")
@click.option("--bin-bits", default=8, show_default=True, help="2^N hashed bins.")
@click.option("--dev", is_flag=True, help="Development only: keep a root key on this server.")
@handles_errors
def init(root_keys: tuple[Path, ...], threshold: int, bin_bits: int, dev: bool) -> None:
    """Create the repository and its online keys; draft root v1 for the ceremony."""
    setup_django()
    from mamori.updates import services

    repository = services.init_repository(
        root_keys, threshold=threshold, bin_bits=bin_bits, dev=dev
    )
    _report_root(repository)


def _report_root(repository: TufRepository) -> None:
    draft = repository.pending_root_draft()
    if draft is not None:
        click.echo(f"root draft waiting for the offline ceremony: {draft}")
        click.echo("sign it offline with `mamori repo sign-root`, then `mamori repo import-root`")
    else:
        click.echo(f"root v{repository.root_version()} published in {repository.metadata_dir}")


@repo.command("import-root")
@click.argument("signed", type=_FILE)
@handles_errors
def import_root(signed: Path) -> None:
    """Verify a root version signed offline and publish it."""
    update = _repository().import_root(signed)
    resigned = ", ".join(update.resigned) or "nothing else"
    click.echo(f"root v{update.version} published; re-signed {resigned}")


@repo.command("rotate")
@click.argument("role", type=click.Choice(["root", "targets", "bins", "snapshot", "timestamp"]))
@click.option("--new-root-key", "new_keys", multiple=True, type=_FILE, help="For root.")
@click.option("--threshold", default=1, show_default=True, help="For root.")
@handles_errors
def rotate(role: str, new_keys: tuple[Path, ...], threshold: int) -> None:
    """Replace ROLE's key; a new root version is drafted (or published in development)."""
    from mamori.core import tufkeys

    repository = _repository()
    if role == "root":
        keys = [tufkeys.load_public_key(p) for p in new_keys] or None
        repository.rotate_root_keys(keys, threshold)
    elif new_keys:
        raise click.UsageError("--new-root-key is for the root role only")
    else:
        repository.rotate_key(role)
    click.echo(f"rotated the {role} key")
    _report_root(repository)


@repo.command("renew-root")
@handles_errors
def renew_root() -> None:
    """Draft the next root version with a fresh expiry (sign it offline)."""
    repository = _repository()
    repository.renew_root()
    _report_root(repository)


@repo.command("refresh")
@handles_errors
def refresh() -> None:
    """Re-sign timestamp, snapshot and online roles that expire soon (the worker does it hourly)."""
    resigned = _repository().refresh()
    click.echo("re-signed " + (", ".join(resigned) if resigned else "nothing: all fresh"))


@repo.command("trusted-root")
@click.argument("out", type=_NEW_FILE)
@click.option("--version", "version", type=int, help="Default: the latest.")
@handles_errors
def trusted_root(out: Path, version: int | None) -> None:
    """Write a published root to OUT: the trust anchor clients are installed with."""
    out.write_bytes(_repository().root_bytes(version))
    click.echo(f"wrote {out}")


@repo.command("publish")
@click.argument("bundles", nargs=-1, required=True, type=_FILE)
@handles_errors
def publish(bundles: tuple[Path, ...]) -> None:
    """Publish BUNDLES (in order) with their deltas and the product's catalogue."""
    setup_django()
    from mamori.updates import services

    for path in bundles:
        done = services.publish(path)
        click.echo(f"published {done.manifest.id} ({done.bundle_size} bytes)")
        for version, size in sorted(done.deltas.items()):
            share = size / done.bundle_size if done.bundle_size else 0
            click.echo(f"  delta from {version}: {size} bytes ({share:.1%} of the bundle)")
        for version, why in sorted(done.skipped.items()):
            click.echo(f"  no delta from {version}: {why}")


@repo.command("plan")
@click.argument("product")
@click.option("--version", "version", help="The installed version; none: a fresh install.")
@click.option("--installed", multiple=True, help="Bundle ids already installed.")
@click.option("--platform", default="", help="e.g. linux-x86_64")
@handles_errors
def plan(product: str, version: str | None, installed: tuple[str, ...], platform: str) -> None:
    """What PRODUCT at --version should install, in order."""
    setup_django()
    from mamori.updates import services

    steps = services.plan(product, version, installed=installed, platform=platform)
    if not steps:
        click.echo(f"{product} {version or '(not installed)'} is up to date")
    for step in steps:
        via = f" (delta from {version})" if version in step.deltas else ""
        click.echo(f"{step.id}: {step.kind.value} to {step.to_version}{via}")
        version = step.to_version
