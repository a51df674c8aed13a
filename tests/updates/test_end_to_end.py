"""Issue 6's "done when": two versions of a sample product become bundles, a rollup, deltas and a
signed repository; Mamori's server serves it; the python-tuf client verifies and downloads from it;
the installer applies, rolls back and uninstalls on a test install root.

Everything is real: the CLI through click, the repository through python-tuf, Mamori's own HTTP
server (``live_server``) serving the tree, ngclient fetching over HTTP, and files on disk.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mamori.agent import tuf_client
from mamori.agent.updater import Updater
from mamori.cli.main import cli
from mamori.config import Updates
from mamori.core import bundle
from mamori.core.installer import Installer, NoServices, Source
from mamori.errors import NotApplicable, VerificationFailed
from mamori.updates import services

pytestmark = pytest.mark.integration

#: A sample product: a launcher, a large shared library that changes a little in each version,
#: configuration, and documentation.
LIBRARY = random.Random(6).randbytes(600_000)  # incompressible, like machine code at its worst


def version_tree(root: Path, version: str, library: bytes, extra: dict[str, bytes]) -> Path:
    files = {
        "bin/portal": f"#!/bin/sh\necho portal {version}\n".encode(),
        "lib/libportal.so": library,
        "etc/portal.conf": b"listen = 8080\n",
        f"share/doc/portal-{version}/NOTES": f"Portal {version}\n".encode() * 50,
        **extra,
    }
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    os.chmod(root / "bin/portal", 0o755)  # noqa: S103 - an executable, as shipped
    return root


def patched(data: bytes, at: int, text: bytes) -> bytes:
    return data[:at] + text + data[at + len(text) :]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".mamori" not in p.relative_to(root).parts
    }


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def product(tmp_path: Path) -> dict[str, Path]:
    """Three versions of the product and their bundles: full 1.0, fixes 1.1 and 1.2, a rollup."""
    lib11 = patched(LIBRARY, 1000, b"fix for MSA-2026-001")
    lib12 = patched(lib11, 400_000, b"fix for MSA-2026-002")
    trees = {
        "1.0": version_tree(tmp_path / "src/1.0", "1.0", LIBRARY, {"lib/legacy.so": b"old" * 99}),
        "1.1": version_tree(tmp_path / "src/1.1", "1.1", lib11, {}),
        "1.2": version_tree(tmp_path / "src/1.2", "1.2", lib12, {"lib/new.so": b"new" * 99}),
    }
    out = tmp_path / "bundles"
    common = ["--product", "portal", "--level", "3"]
    run("bundle", "build", str(trees["1.0"]), "--out", str(out / "1.0.mbundle"), "--id",
        "portal-1.0", "--to", "1.0", *common)  # fmt: skip
    run("bundle", "build", str(trees["1.1"]), "--old", str(trees["1.0"]), "--out",
        str(out / "1.1.mbundle"), "--id", "portal-1.1", "--from", "1.0", "--to", "1.1",
        "--restart", "portal-web", "--advisory", "MSA-2026-001", *common)  # fmt: skip
    run("bundle", "build", str(trees["1.2"]), "--old", str(trees["1.1"]), "--out",
        str(out / "1.2.mbundle"), "--id", "portal-1.2", "--from", "1.1", "--to", "1.2",
        "--restart", "portal-web", "--advisory", "MSA-2026-002", *common)  # fmt: skip
    output = run("bundle", "rollup", str(out / "1.1.mbundle"), str(out / "1.2.mbundle"),
                 "--id", "portal-rollup-1.2", "--out", str(out / "rollup.mbundle"),
                 "--level", "3")  # fmt: skip
    assert "rollup of portal from 1.0, 1.1 to 1.2" in output
    return {**{f"tree-{v}": t for v, t in trees.items()}, **{
        name: out / f"{name}.mbundle" for name in ("1.0", "1.1", "1.2", "rollup")
    }}  # fmt: skip


@pytest.fixture
def repository(updates_config: Updates, product: dict[str, Path]) -> Updates:
    """A development repository with everything published, in publication order."""
    assert "root v1 published" in run("repo", "init", "--dev")
    output = run("repo", "publish", *(str(product[n]) for n in ("1.0", "1.1", "1.2", "rollup")))
    assert "published portal-rollup-1.2" in output
    return updates_config


def client_for(root: Path, live_server: Any, updates: Updates) -> Updater:
    cache = root.parent / f"{root.name}-client"
    if not (cache / "metadata" / "root.json").exists():
        anchor = (updates.repository_dir / "metadata" / "1.root.json").read_bytes()
        tuf_client.install_trusted_root(cache / "metadata", anchor)
    client = tuf_client.TufClient(
        cache / "metadata",
        f"{live_server.url}/updates/metadata/",
        f"{live_server.url}/updates/targets/",
        cache / "downloads",
    )
    installer = Installer(root, services=NoServices())
    return Updater(client, installer, cache / "work", product="portal")


@pytest.mark.django_db(transaction=True)
def test_from_nothing_to_the_newest_version_through_the_signed_repository(
    repository: Updates, product: dict[str, Path], live_server: Any, tmp_path: Path
) -> None:
    catalogue = services.catalogue("portal")
    rollup = catalogue.entry("portal-rollup-1.2")
    assert rollup is not None and rollup.supersedes == ("portal-1.1", "portal-1.2")
    assert set(rollup.deltas) == {"1.0", "1.1"}  # deltas from the versions it installs on
    for delta_info in rollup.deltas.values():
        assert delta_info.size < 0.15 * rollup.bundle.size

    root = tmp_path / "machine" / "opt-portal"
    root.mkdir(parents=True)
    updater = client_for(root, live_server, repository)
    # a fresh machine: the full 1.0 and then the rollup, never the superseded fixes
    assert [e.id for e in updater.plan()] == ["portal-1.0", "portal-rollup-1.2"]
    result = updater.update()
    assert [s.entry.id for s in result.steps] == ["portal-1.0", "portal-rollup-1.2"]
    assert snapshot(root) == snapshot(product["tree-1.2"])
    assert Installer(root).state().version == "1.2"
    assert updater.plan() == []


@pytest.mark.django_db(transaction=True)
def test_a_machine_at_1_0_takes_the_rollup_as_a_small_delta_and_can_uninstall_it(
    repository: Updates, product: dict[str, Path], live_server: Any, tmp_path: Path
) -> None:
    root = tmp_path / "opt-portal"
    shutil.copytree(product["tree-1.0"], root)
    Installer(root).adopt("portal", "1.0")
    updater = client_for(root, live_server, repository)
    result = updater.update()
    (step,) = result.steps
    assert step.entry.id == "portal-rollup-1.2"
    assert step.via == "delta from 1.0" and not step.fallback
    assert step.downloaded < 0.15 * step.entry.bundle.size
    assert snapshot(root) == snapshot(product["tree-1.2"])

    run("bundle", "uninstall", "portal-rollup-1.2", "--root", str(root),
        "--service-command", "true {service}")  # fmt: skip
    assert snapshot(root) == snapshot(product["tree-1.0"])
    assert Installer(root).state().version == "1.0"


@pytest.mark.django_db(transaction=True)
def test_a_base_that_drifted_falls_back_to_the_full_bundle(
    repository: Updates, product: dict[str, Path], live_server: Any, tmp_path: Path
) -> None:
    root = tmp_path / "opt-portal"
    shutil.copytree(product["tree-1.1"], root)
    Installer(root).adopt("portal", "1.1")
    library = root / "lib/libportal.so"
    library.write_bytes(patched(library.read_bytes(), 5, b"local edit"))  # not what was shipped
    result = client_for(root, live_server, repository).update()
    (step,) = result.steps
    assert step.via == "full bundle"
    assert "does not match" in step.fallback
    assert snapshot(root) == snapshot(product["tree-1.2"])  # the full bundle rewrote the library


@pytest.mark.django_db(transaction=True)
def test_a_tampered_bundle_on_the_server_is_refused_and_nothing_changes(
    repository: Updates, product: dict[str, Path], live_server: Any, tmp_path: Path
) -> None:
    root = tmp_path / "opt-portal"
    shutil.copytree(product["tree-1.0"], root)
    Installer(root).adopt("portal", "1.0")
    before = snapshot(root)
    entry = services.catalogue("portal").entry("portal-rollup-1.2")
    assert entry is not None
    repo = services.repository()
    for download in [entry.bundle, *entry.deltas.values()]:
        stored = repo.target_file(repo.get_target(download.target))
        os.chmod(stored, 0o644)
        stored.write_bytes(patched(stored.read_bytes(), 100, b"evil"))
    with pytest.raises(VerificationFailed, match="hash or length"):
        client_for(root, live_server, repository).update()
    assert snapshot(root) == before
    assert Installer(root).state().version == "1.0"


@pytest.mark.django_db(transaction=True)
def test_the_same_id_cannot_be_published_twice(
    repository: Updates, product: dict[str, Path]
) -> None:
    result = CliRunner().invoke(cli, ["repo", "publish", str(product["1.1"])])
    assert result.exit_code == 73
    assert "already published" in result.output


def test_a_bundle_for_another_version_is_refused_by_the_cli(
    product: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "opt-portal"
    shutil.copytree(product["tree-1.0"], root)
    Installer(root).adopt("portal", "1.0")
    before = snapshot(root)
    result = CliRunner().invoke(cli, ["bundle", "apply", str(product["1.2"]), "--root", str(root)])
    assert result.exit_code == 73, result.output
    assert "1.1" in result.output and "1.0" in result.output
    assert snapshot(root) == before
    source = Source.from_bundle(product["1.2"])
    with pytest.raises(NotApplicable):
        Installer(root).apply([source])
    assert bundle.read_manifest(product["1.2"]).from_versions == ("1.1",)


def test_apply_and_uninstall_through_the_cli_with_coalesced_restarts(
    product: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "opt-portal"
    root.mkdir()
    log = tmp_path / "services.log"
    command = f"sh -c 'echo \"$0 $1\" >> {log}' {{action}} {{service}}"
    output = run("bundle", "apply", str(product["1.0"]), str(product["1.1"]), str(product["1.2"]),
                 "--root", str(root), "--service-command", command)  # fmt: skip
    assert "version now 1.2" in output
    assert log.read_text().splitlines() == ["restart portal-web"]  # three bundles, one restart
    assert snapshot(root) == snapshot(product["tree-1.2"])
    status = run("bundle", "status", "--root", str(root))
    assert "portal 1.2" in status and "portal-1.1" in status
    run("bundle", "uninstall", "portal-1.2", "--root", str(root), "--service-command", command)
    assert snapshot(root) == snapshot(product["tree-1.1"])
    result = CliRunner().invoke(cli, ["bundle", "rollback", "--root", str(root)])
    assert result.exit_code == 73 and "nothing to roll back" in result.output


@pytest.mark.django_db(transaction=True)
def test_the_update_and_plan_commands(
    repository: Updates, product: dict[str, Path], live_server: Any, tmp_path: Path
) -> None:
    plan = run("repo", "plan", "portal", "--version", "1.0")
    assert plan.splitlines() == ["portal-rollup-1.2: rollup to 1.2 (delta from 1.0)"]
    assert "up to date" in run("repo", "plan", "portal", "--version", "1.2")
    anchor = tmp_path / "root.json"
    run("repo", "trusted-root", str(anchor), "--version", "1")
    root = tmp_path / "opt-portal"
    root.mkdir()
    repo_url = f"{live_server.url}/updates/"
    common = ["--root", str(root), "--repo", repo_url, "--service-command", "true {service}"]
    check = run("update", *common, "--trusted-root", str(anchor), "--product", "portal", "--check")
    assert check.splitlines() == [
        "would install portal-1.0 (full to 1.0)",
        "would install portal-rollup-1.2 (rollup to 1.2)",
    ]
    output = run("update", *common, "--product", "portal")
    assert "portal-1.0: full bundle" in output and "version now 1.2" in output
    assert snapshot(root) == snapshot(product["tree-1.2"])
    assert run("update", *common).strip() == "up to date"
    # without a trust anchor a new machine refuses to start
    empty = tmp_path / "other"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["update", "--root", str(empty), "--repo", repo_url])
    assert result.exit_code == 78 and "no trusted root.json" in result.output
