"""``mamori bundle``: build update bundles and rollups, and install them on an install root.

These commands need no server and no database: the installer side is what the agent runs.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import click

from mamori.cli.main import cli, handles_errors
from mamori.errors import InvalidInput

_EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_ROOT = click.option(
    "--root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The install root of the product.",
)


@cli.group()
def bundle() -> None:
    """Update bundles: build, roll up, inspect, apply, roll back, uninstall."""


@bundle.command("build")
@click.argument("tree", type=_EXISTING_DIR)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--old", type=_EXISTING_DIR, help="The previous version's tree: carry what changed.")
@click.option(
    "--manifest", "manifest_file", type=_EXISTING_FILE, help="Manifest JSON to start from."
)
@click.option("--product")
@click.option("--id", "bundle_id")
@click.option("--kind", type=click.Choice(["fix", "full"]))
@click.option("--from", "from_versions", multiple=True, help="A version this bundle updates.")
@click.option("--to", "to_version")
@click.option("--summary")
@click.option("--advisory", "advisories", multiple=True)
@click.option("--restart", multiple=True, help="A service to restart after installing.")
@click.option("--stop", multiple=True, help="A service to stop while files are swapped.")
@click.option("--reboot-reason", help="Only when a reboot is truly needed: why.")
@click.option("--supersedes", multiple=True)
@click.option("--prerequisite", "prerequisites", multiple=True)
@click.option("--platform", "platforms", multiple=True, help="e.g. linux-x86_64; none: any.")
@click.option("--post-check", "post_checks", multiple=True, help="A command that must succeed.")
@click.option("--level", type=click.IntRange(1, 22), default=19, show_default=True)
@handles_errors
def build(
    tree: Path, out: Path, old: Path | None, manifest_file: Path | None, **options: Any
) -> None:
    """Build a bundle from TREE: with --old, what changed since it; otherwise every file
    (or the files the --manifest names)."""
    from mamori.core import bundle as bundles
    from mamori.core import manifest as manifests

    level = options.pop("level")
    data = _manifest_data(manifest_file, options, full=old is None)
    if old is not None or "files" not in data:
        data.setdefault("files", [])
        if data["files"]:
            raise InvalidInput("with --old the files come from the trees", field="files")
        template = manifests.parse(data)
        info = bundles.build_from_trees(template, tree, out, old_tree=old, level=level)
    else:
        info = bundles.build_from_tree(data, tree, out, level=level)
    _describe(info.manifest)
    click.echo(f"wrote {out} ({info.size} bytes, sha256 {info.sha256})")


def _manifest_data(
    manifest_file: Path | None, options: dict[str, Any], *, full: bool
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if manifest_file is not None:
        try:
            data = json.loads(manifest_file.read_bytes())
        except ValueError as error:
            raise InvalidInput(f"{manifest_file} is not JSON: {error}", field="manifest") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{manifest_file} is not a JSON object", field="manifest")
    data.setdefault("format", "mamori-bundle/1")
    scalar = {
        "product": "product",
        "bundle_id": "id",
        "to_version": "to_version",
        "summary": "summary",
    }
    for option, key in scalar.items():
        if options[option]:
            data[key] = options[option]
    if options["kind"] or "kind" not in data:
        data["kind"] = options["kind"] or (
            "full" if full and not options["from_versions"] else "fix"
        )
    for option, key in (
        ("from_versions", "from_versions"),
        ("advisories", "advisories"),
        ("supersedes", "supersedes"),
        ("prerequisites", "prerequisites"),
    ):
        if options[option] or key not in data:
            data[key] = list(options[option])
    services = [{"name": s, "action": "restart"} for s in options["restart"]]
    services += [{"name": s, "action": "stop"} for s in options["stop"]]
    if services:
        data["services"] = services
    if options["reboot_reason"]:
        data["reboot"] = {"required": True, "reason": options["reboot_reason"]}
    if options["platforms"]:
        data.setdefault("applicability", {})["platforms"] = list(options["platforms"])
    if options["post_checks"]:
        post = [{"type": "command", "argv": shlex.split(c)} for c in options["post_checks"]]
        data.setdefault("checks", {})["post"] = post
    return data


@bundle.command("rollup")
@click.argument("bundles", nargs=-1, required=True, type=_EXISTING_FILE)
@click.option("--id", "bundle_id", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--summary", default="")
@click.option("--level", type=click.IntRange(1, 22), default=19, show_default=True)
@handles_errors
def rollup(bundles: tuple[Path, ...], bundle_id: str, out: Path, summary: str, level: int) -> None:
    """Compose BUNDLES (in the order they install) into one cumulative rollup."""
    from mamori.core import bundle as bundle_files

    info = bundle_files.compose_rollup(
        list(bundles), out, bundle_id=bundle_id, summary=summary, level=level
    )
    _describe(info.manifest)
    click.echo(f"wrote {out} ({info.size} bytes, sha256 {info.sha256})")


@bundle.command("inspect")
@click.argument("path", type=_EXISTING_FILE)
@handles_errors
def inspect(path: Path) -> None:
    """Verify a bundle completely and print its manifest."""
    import tempfile

    from mamori.core import bundle as bundles

    with tempfile.TemporaryDirectory() as work:
        manifest = bundles.extract(path, Path(work) / "payload")
    click.echo(json.dumps(manifest.to_data(), indent=2, ensure_ascii=False))


def _describe(manifest: Any) -> None:
    froms = ", ".join(manifest.from_versions) or "nothing installed"
    click.echo(
        f"{manifest.id}: {manifest.kind.value} of {manifest.product} from {froms} to "
        f"{manifest.to_version}: {len(manifest.files)} file(s), {len(manifest.removes)} removal(s)"
    )


def _installer(root: Path, service_command: str | None = None) -> Any:
    from mamori.core.installer import CommandServices, Installer

    command = service_command or os.environ.get("MAMORI_SERVICE_COMMAND", "")
    argv = shlex.split(command or "systemctl {action} {service}")
    return Installer(root, services=CommandServices(argv))


_SERVICE = click.option(
    "--service-command",
    help="How to stop/start/restart a service (default: $MAMORI_SERVICE_COMMAND or "
    "'systemctl {action} {service}').",
)


@bundle.command("apply")
@click.argument("bundles", nargs=-1, required=True, type=_EXISTING_FILE)
@_ROOT
@_SERVICE
@handles_errors
def apply(bundles: tuple[Path, ...], root: Path, service_command: str | None) -> None:
    """Install BUNDLES on the install root, each in its own transaction; restarts coalesced."""
    from mamori.core.installer import Source

    installer = _installer(root, service_command)
    outcome = installer.apply([Source.from_bundle(path) for path in bundles])
    _report(outcome)


@bundle.command("uninstall")
@click.argument("bundle_id")
@_ROOT
@_SERVICE
@handles_errors
def uninstall(bundle_id: str, root: Path, service_command: str | None) -> None:
    """Uninstall the latest installed update, restoring the previous version exactly."""
    _report(_installer(root, service_command).uninstall(bundle_id))


@bundle.command("rollback")
@_ROOT
@handles_errors
def rollback(root: Path) -> None:
    """Roll an interrupted installation back to the version installed before it."""
    click.echo(_installer(root).rollback())


@bundle.command("adopt")
@_ROOT
@click.option("--product", required=True)
@click.option("--version", "version", required=True)
@handles_errors
def adopt(root: Path, product: str, version: str) -> None:
    """Take over a tree installed without Mamori, as PRODUCT at VERSION."""
    state = _installer(root).adopt(product, version)
    click.echo(f"{root}: {state.product} {state.version}")


@bundle.command("status")
@_ROOT
@handles_errors
def status(root: Path) -> None:
    """What is installed on the root, and its update history."""
    state = _installer(root).state()
    click.echo(f"{root}: {state.product or 'nothing installed'} {state.version or ''}".rstrip())
    for item in state.history:
        click.echo(
            f"  {item.installed_at}  {item.bundle_id}  {item.from_version} -> {item.to_version}"
        )


def _report(outcome: Any) -> None:
    for bundle_id in outcome.installed:
        click.echo(f"installed {bundle_id}")
    for bundle_id in outcome.uninstalled:
        click.echo(f"uninstalled {bundle_id}")
    click.echo(f"version now {outcome.version}")
    for service in outcome.restarted:
        click.echo(f"restarted {service}")
    if outcome.reboot_required:
        click.echo("reboot required: " + "; ".join(outcome.reboot_reasons))


@cli.command("update")
@_ROOT
@click.option("--repo", "repo_url", required=True, help="The repository's base URL (…/updates/).")
@click.option("--trusted-root", type=_EXISTING_FILE, help="First run: the root.json to trust.")
@click.option("--product", help="First install on an empty root: which product.")
@click.option("--no-delta", is_flag=True, help="Always fetch full bundles.")
@click.option("--check", "check_only", is_flag=True, help="Only show what would be installed.")
@_SERVICE
@handles_errors
def update(
    root: Path,
    repo_url: str,
    trusted_root: Path | None,
    product: str | None,
    no_delta: bool,
    check_only: bool,
    service_command: str | None,
) -> None:
    """Bring the install root up to date from a signed repository (verified with TUF)."""
    from mamori.agent.updater import Updater

    updater = Updater.for_root(
        _installer(root, service_command),
        repo_url,
        trusted_root=trusted_root.read_bytes() if trusted_root else None,
        product=product,
        use_deltas=not no_delta,
    )
    if check_only:
        planned = updater.plan()
        for entry in planned:
            click.echo(f"would install {entry.id} ({entry.kind.value} to {entry.to_version})")
        if not planned:
            click.echo("up to date")
        return
    result = updater.update()
    for step in result.steps:
        note = f" (delta not used: {step.fallback})" if step.fallback else ""
        click.echo(f"{step.entry.id}: {step.via}, {step.downloaded} bytes{note}")
    if result.outcome is None:
        click.echo("up to date")
    else:
        _report(result.outcome)
