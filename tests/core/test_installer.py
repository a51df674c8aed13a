"""The transactional installer, on real files in real roots, with real processes killed mid-way."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mamori.core.bundle import compose_rollup, extract
from mamori.core.installer import (
    CommandServices,
    Installer,
    NoServices,
    ServiceFailed,
    Source,
    default_platform,
)
from mamori.core.manifest import PLATFORM_PATTERN, Check, CheckKind, FileEntry, Kind, RequiredFile
from mamori.core.manifest import ServiceAction as Action
from mamori.errors import (
    Conflict,
    InsufficientSpace,
    InvalidInput,
    NotApplicable,
    NotFound,
    RolledBack,
    VerificationFailed,
)
from tests.core.installer_helpers import (
    PLATFORM,
    V2,
    Release,
    craft_bundle,
    crash,
    flip_byte,
    log_lines,
    logging_services,
    make_release,
    run_crashes,
    snapshot,
    template,
    write_tree,
)

SERVICES = {"db": Action.STOP, "web": Action.RESTART}
SMOKE = Check(
    CheckKind.COMMAND, argv=("sh", "-c", "test -f lib/new/plugin.py"), description="smoke"
)
FAILING = Check(CheckKind.COMMAND, argv=("sh", "-c", "echo broken; exit 3"), description="health")
APPLY_CHECKPOINTS = [
    "space-checked",
    "staged",
    "pre-checked",
    "stopped",
    "journaled",
    "swap:dirs",
    "swap:0:backed-up",  # bin/tool
    "swap:0:placed",
    "swap:1:backed-up",  # etc/app.conf (mode only)
    "swap:1:placed",
    "swap:2:backed-up",  # lib/core.py
    "swap:2:placed",
    "swap:3:placed",  # lib/new/plugin.py (new, in a new directory)
    "swap:4:backed-up",  # old/legacy.txt (removed; old/ is pruned)
    "swapped",
    "post-checked",
    "committed",
    "cleaned",
    "services",
]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    return make_release(tmp_path_factory.mktemp("release"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


def installer(root: Path, **options: Any) -> Installer:
    return Installer(root, platform=PLATFORM, **options)


def logged(log: Path) -> CommandServices:
    return CommandServices(logging_services(log))


def install(root: Path, *bundles: Path, **options: Any) -> None:
    installer(root, **options).apply([Source.from_bundle(b) for b in bundles])


def leftovers(root: Path) -> list[str]:
    state = root / ".mamori"
    return sorted(p.name for p in (state / "txn").iterdir()) + sorted(
        p.name for p in state.iterdir() if p.name.endswith(".tmp") or p.name == "services.json"
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- installing and uninstalling -------------------------------------------------------------------


def test_full_install_then_two_fixes(release: Release, root: Path) -> None:
    assert installer(root).state().product is None
    outcome = installer(root).apply([Source.from_bundle(release.full())])
    assert outcome.installed == ("portal-1.0",) and outcome.version == "1.0"
    assert snapshot(root) == snapshot(release.v1)
    install(root, release.fix2())
    assert snapshot(root) == snapshot(release.v2)
    install(root, release.fix3())
    assert snapshot(root) == snapshot(release.v3)
    state = installer(root).state()
    assert (state.product, state.version, state.platform) == ("portal", "1.2", PLATFORM)
    assert [(e.bundle_id, e.kind, e.from_version, e.to_version) for e in state.history] == [
        ("portal-1.0", "full", None, "1.0"),
        ("portal-1.1", "fix", "1.0", "1.1"),
        ("portal-1.2", "fix", "1.1", "1.2"),
    ]
    assert len({e.txn for e in state.history}) == 3
    assert leftovers(root) == []


def test_a_batch_installs_in_order(release: Release, root: Path) -> None:
    sources = [Source.from_bundle(b) for b in (release.full(), release.fix2(), release.fix3())]
    outcome = installer(root).apply(sources)
    assert outcome.installed == ("portal-1.0", "portal-1.1", "portal-1.2")
    assert snapshot(root) == snapshot(release.v3)


def test_uninstall_returns_exactly_to_each_previous_version(release: Release, root: Path) -> None:
    install(root, release.full())
    (root / "old").chmod(0o750)  # pruned by 1.1, re-created with this mode by its uninstall
    at_v1 = snapshot(root)
    install(root, release.fix2(), release.fix3())
    with pytest.raises(Conflict, match=r"uninstall portal-1\.2 first"):
        installer(root).uninstall("portal-1.1")
    with pytest.raises(NotFound, match="not installed"):
        installer(root).uninstall("portal-0.9")
    outcome = installer(root).uninstall("portal-1.2")
    assert (outcome.uninstalled, outcome.version) == (("portal-1.2",), "1.1")
    assert snapshot(root) == snapshot(release.v2)
    installer(root).uninstall("portal-1.1")  # re-creates old/ (mode 0750) and old/legacy.txt
    assert snapshot(root) == at_v1 and at_v1["old"] == ("dir", 0o750)
    assert installer(root).state().version == "1.0"
    installer(root).uninstall("portal-1.0")
    assert snapshot(root) == {}
    assert installer(root).state().product is None
    assert list((root / ".mamori" / "history").iterdir()) == []
    install(root, release.full(), release.fix2())  # and it installs again
    assert snapshot(root) == snapshot(release.v2)


def test_adopt_a_tree_installed_outside_mamori(release: Release, root: Path) -> None:
    shutil.copytree(release.v1, root, dirs_exist_ok=True)
    state = installer(root).adopt("portal", "1.0")
    assert (state.product, state.version, state.history) == ("portal", "1.0", ())
    with pytest.raises(InvalidInput, match="not a product id"):
        installer(root).adopt("portal\n", "1.0")
    with pytest.raises(Conflict, match=r"already has portal 1\.0"):
        installer(root).adopt("portal", "1.0")
    install(root, release.fix2())
    assert snapshot(root) == snapshot(release.v2)
    installer(root).uninstall("portal-1.1")
    assert snapshot(root) == snapshot(release.v1)
    assert installer(root).state().version == "1.0"


def test_install_from_a_verified_payload_directory(
    release: Release, root: Path, tmp_path: Path
) -> None:
    install(root, release.full())
    payload = tmp_path / "payload"
    manifest = extract(release.fix2(), payload)
    installer(root).apply([Source.from_payload(manifest, payload)])
    assert snapshot(root) == snapshot(release.v2)


def test_a_rollup_supersedes_the_fixes_it_holds(
    release: Release, root: Path, tmp_path: Path
) -> None:
    rollup = compose_rollup(
        [release.fix2(), release.fix3()], tmp_path / "r.mbundle", bundle_id="portal-r1", level=3
    )
    install(root, release.full(), tmp_path / "r.mbundle")
    assert rollup.manifest.kind is Kind.ROLLUP
    assert snapshot(root) == snapshot(release.v3)
    with pytest.raises(NotApplicable, match="superseded"):
        install(root, release.fix2())


def test_rollback_of_an_interrupted_transaction(release: Release, root: Path) -> None:
    install(root, release.full())
    fix = release.fix2()
    crash_at = APPLY_CHECKPOINTS.index("swap:2:placed") + 1
    assert crash(root, crash_at, "apply", bundles=[str(fix)]) == 137
    assert snapshot(root) not in (snapshot(release.v1), snapshot(release.v2))  # a mix, on disk
    message = installer(root).rollback()
    assert "rolled back installing portal-1.1" in message and "portal 1.0" in message
    assert snapshot(root) == snapshot(release.v1)
    assert installer(root).state().version == "1.0" and leftovers(root) == []
    with pytest.raises(Conflict, match="nothing to roll back"):
        installer(root).rollback()


def test_rollback_after_the_commit_completes_instead(release: Release, root: Path) -> None:
    install(root, release.full())
    crash_at = APPLY_CHECKPOINTS.index("committed") + 1
    assert crash(root, crash_at, "apply", bundles=[str(release.fix2())]) == 137
    with pytest.raises(Conflict, match="had committed"):
        installer(root).rollback()
    assert snapshot(root) == snapshot(release.v2)
    assert installer(root).state().version == "1.1"


# -- checks ----------------------------------------------------------------------------------------


def test_failed_post_check_rolls_back_and_restarts_services(
    release: Release, root: Path, tmp_path: Path
) -> None:
    install(root, release.full())
    before = snapshot(root)
    log = tmp_path / "services.log"
    fix = release.fix2(services=SERVICES, post_checks=(SMOKE, FAILING))
    with pytest.raises(RolledBack, match=r"check 'health': exit status 3: broken; .*portal 1\.0"):
        install(root, fix, services=logged(log))
    assert snapshot(root) == before
    assert installer(root).state().version == "1.0" and leftovers(root) == []
    assert log_lines(log) == ["stop db", "start db"]


def test_post_check_of_a_file_hash(release: Release, root: Path) -> None:
    install(root, release.full())
    good = Check(CheckKind.FILE, path="lib/core.py", sha256=sha256(b"VERSION = '1.1'\n"))
    bad = Check(CheckKind.FILE, path="lib/core.py", sha256=sha256(b"VERSION = '1.0'\n"))
    with pytest.raises(RolledBack, match="does not have the expected content"):
        install(root, release.fix2("portal-1.1-bad", post_checks=(bad,)))
    assert snapshot(root) == snapshot(release.v1)
    install(root, release.fix2(post_checks=(good, Check(CheckKind.ABSENT, path="old/legacy.txt"))))
    assert snapshot(root) == snapshot(release.v2)


def test_failed_pre_check_touches_nothing(release: Release, root: Path, tmp_path: Path) -> None:
    install(root, release.full())
    log = tmp_path / "services.log"
    pre = Check(CheckKind.ABSENT, path="etc/app.conf", description="no local config")
    with pytest.raises(NotApplicable, match=r"check 'no local config': etc/app\.conf exists"):
        install(root, release.fix2(services=SERVICES, pre_checks=(pre,)), services=logged(log))
    assert snapshot(root) == snapshot(release.v1)
    assert log_lines(log) == [] and leftovers(root) == []


def test_required_files(release: Release, root: Path) -> None:
    install(root, release.full())
    core = sha256(b"VERSION = '1.0'\n")
    missing = release.fix2("portal-1.1-a", requires_files=(RequiredFile("lib/absent.py"),))
    with pytest.raises(NotApplicable, match=r"needs lib/absent\.py"):
        install(root, missing)
    other = release.fix2("portal-1.1-b", requires_files=(RequiredFile("lib/core.py", "0" * 64),))
    with pytest.raises(NotApplicable, match="copy differs"):
        install(root, other)
    assert snapshot(root) == snapshot(release.v1)
    install(root, release.fix2(requires_files=(RequiredFile("lib/core.py", core),)))
    assert snapshot(root) == snapshot(release.v2)


# -- services and reboots --------------------------------------------------------------------------


def test_services_stop_around_the_swap_and_restart_once(
    release: Release, root: Path, tmp_path: Path
) -> None:
    log = tmp_path / "services.log"
    seen: dict[str, list[str]] = {}

    def checkpoint(name: str) -> None:
        seen.setdefault(name, log_lines(log))

    bundles = [
        release.full(services={"web": Action.RESTART}),
        release.fix2(services=SERVICES),
        release.fix3(services={"web": Action.RESTART}),
    ]
    outcome = installer(root, services=logged(log), checkpoint=checkpoint).apply(
        [Source.from_bundle(b) for b in bundles]
    )
    assert seen["journaled"] == []  # the first transaction stops nothing
    assert seen["swap:0:placed"] == [] and seen["cleaned"] == []
    assert log_lines(log) == ["stop db", "start db", "restart web"]
    assert outcome.restarted == ("db", "web")


def test_stop_happens_before_the_first_file_moves(
    release: Release, root: Path, tmp_path: Path
) -> None:
    install(root, release.full())
    log = tmp_path / "services.log"
    seen: dict[str, list[str]] = {}
    checkpoint = lambda name: seen.setdefault(name, log_lines(log))  # noqa: E731
    install(root, release.fix2(services=SERVICES), services=logged(log), checkpoint=checkpoint)
    assert seen["pre-checked"] == []
    assert seen["journaled"] == seen["swap:0:backed-up"] == seen["swapped"] == ["stop db"]
    assert seen["services"] == ["stop db", "start db", "restart web"]


def test_restarts_owed_by_a_crashed_batch_wait_for_recover(
    release: Release, root: Path, tmp_path: Path
) -> None:
    install(root, release.full())
    log = tmp_path / "services.log"
    at = APPLY_CHECKPOINTS.index("cleaned") + 1
    fix = release.fix2(services=SERVICES)
    assert crash(root, at, "apply", bundles=[str(fix)], services=logging_services(log)) == 137
    assert log_lines(log) == ["stop db"]
    assert installer(root).state().version == "1.1"  # state() does not drop the owed actions
    assert (root / ".mamori" / "services.json").exists()
    message = installer(root, services=logged(log)).recover()
    assert message == "started or restarted db, web"
    assert log_lines(log) == ["stop db", "start db", "restart web"]
    assert installer(root, services=logged(log)).recover() is None


def test_a_failing_service_command_is_reported(tmp_path: Path) -> None:
    services = CommandServices(["sh", "-c", "echo no such unit >&2; exit 5", "x", "{service}"])
    with pytest.raises(ServiceFailed, match="exited with status 5: no such unit"):
        services.restart("web")
    with pytest.raises(InvalidInput, match="service"):
        CommandServices(["systemctl", "restart"])
    NoServices().restart("web")


def test_failure_of_the_second_source_keeps_the_first(
    release: Release, root: Path, tmp_path: Path
) -> None:
    install(root, release.full())
    log = tmp_path / "services.log"
    bundles = [release.fix2(services=SERVICES), release.fix3(post_checks=(FAILING,))]
    with pytest.raises(RolledBack, match=r"portal-1\.2 failed.*portal 1\.1"):
        install(root, *bundles, services=logged(log))
    assert snapshot(root) == snapshot(release.v2)
    assert installer(root).state().version == "1.1"
    assert log_lines(log) == ["stop db", "start db", "restart web"]


def test_reboot_reasons_are_recorded_once(release: Release, root: Path) -> None:
    reboot: dict[str, Any] = {"reboot_required": True, "reboot_reason": "new kernel module"}
    outcome = installer(root).apply(
        [Source.from_bundle(release.full()), Source.from_bundle(release.fix2(**reboot))]
    )
    assert outcome.reboot_required and outcome.reboot_reasons == ("new kernel module",)
    outcome = installer(root).apply([Source.from_bundle(release.fix3(**reboot))])
    assert outcome.reboot_reasons == ("new kernel module",)
    reasons = root / ".mamori" / "reboot-required"
    assert reasons.read_text() == "new kernel module\n"
    installer(root).uninstall("portal-1.2")
    assert reasons.read_text().splitlines() == [
        "new kernel module",
        "new kernel module (uninstalled portal-1.2)",
    ]
    assert not installer(root).apply([]).reboot_required


# -- crashes ---------------------------------------------------------------------------------------


def _assert_consistent(root: Path, version: str, tree: dict[str, Any], where: str) -> None:
    assert snapshot(root) == tree, where
    state = installer(root).state()
    assert state.version == version, where
    assert leftovers(root) == [], where
    assert sorted(p.name for p in (root / ".mamori" / "history").iterdir()) == sorted(
        e.txn for e in state.history
    ), where


def test_crash_at_every_checkpoint_of_an_apply(release: Release, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    install(base, release.full())
    fix = release.fix2(services=SERVICES, post_checks=(SMOKE,))
    old, new = snapshot(release.v1), snapshot(release.v2)
    names: list[str] = []
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    install(probe, fix, checkpoint=names.append, services=logged(tmp_path / "probe.log"))
    assert names == APPLY_CHECKPOINTS
    logs = tmp_path / "logs"
    logs.mkdir()
    roots = run_crashes(
        base,
        tmp_path / "crash",
        len(names),
        "apply",
        bundles=[str(fix)],
        services=lambda r: logging_services(logs / r.name),
    )
    for index, root in enumerate(roots):
        committed = index >= names.index("committed")
        message = installer(root, services=logged(logs / root.name)).recover()
        if names.index("journaled") <= index < names.index("committed"):
            assert message and "rolled back installing portal-1.1" in message, names[index]
        _assert_consistent(
            root, "1.1" if committed else "1.0", new if committed else old, names[index]
        )
        lines = log_lines(logs / root.name)
        assert lines.count("stop db") <= 1, (names[index], lines)
        if "stop db" in lines:  # never left stopped (started again, at least once)
            assert "start db" in lines[lines.index("stop db") :], (names[index], lines)
        assert ("restart web" in lines) == committed, (names[index], lines)
        if committed:
            installer(root).uninstall("portal-1.1")
            assert snapshot(root) == old, names[index]


def test_crash_at_every_checkpoint_of_an_uninstall(release: Release, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    install(base, release.full(), release.fix2(services=SERVICES))
    old, new = snapshot(release.v2), snapshot(release.v1)
    names: list[str] = []
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    installer(probe, checkpoint=names.append).uninstall("portal-1.1")
    assert snapshot(probe) == new
    assert "swap:dirs" in names and "committed" in names and names[-1] == "services"
    roots = run_crashes(base, tmp_path / "crash", len(names), "uninstall", bundle_id="portal-1.1")
    for index, root in enumerate(roots):
        done = index >= names.index("committed")
        installer(root).recover()
        _assert_consistent(root, "1.0" if done else "1.1", new if done else old, names[index])
        if not done:
            installer(root).uninstall("portal-1.1")
            assert snapshot(root) == new


def test_crash_at_every_checkpoint_of_a_failing_apply(release: Release, tmp_path: Path) -> None:
    """Killed anywhere, including during the automatic rollback after a failed post-check."""
    base = tmp_path / "base"
    base.mkdir()
    install(base, release.full())
    fix = release.fix2(post_checks=(FAILING,))
    names: list[str] = []
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    with pytest.raises(RolledBack):
        install(probe, fix, checkpoint=names.append)
    assert "rollback:0" in names and names[-1] == "rolled-back"
    roots = run_crashes(base, tmp_path / "crash", len(names), "apply", bundles=[str(fix)])
    for index, root in enumerate(roots):
        installer(root).recover()
        _assert_consistent(root, "1.0", snapshot(release.v1), names[index])


def test_crash_during_recovery_and_again(release: Release, tmp_path: Path) -> None:
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    install(crashed, release.full())
    fix = release.fix2()
    at = APPLY_CHECKPOINTS.index("swap:4:backed-up") + 1
    assert crash(crashed, at, "apply", bundles=[str(fix)]) == 137
    names: list[str] = []
    probe = tmp_path / "probe"
    shutil.copytree(crashed, probe, symlinks=True)
    installer(probe, checkpoint=names.append).recover()
    assert names[0] == "rollback:dirs" and "rollback:2" in names and names[-1] == "rolled-back"
    roots = run_crashes(crashed, tmp_path / "crash", len(names), "recover")
    for index, root in enumerate(roots):
        if index == 2:  # and killed a second time, during the second recovery
            assert crash(root, 1, "recover") == 137
        installer(root).recover()
        _assert_consistent(root, "1.0", snapshot(release.v1), names[index])


# -- refusals --------------------------------------------------------------------------------------


@pytest.fixture
def at_v1(release: Release, root: Path) -> Iterator[Path]:
    """A root at 1.0 whose files must be exactly the same after the test's refused update."""
    install(root, release.full())
    before = snapshot(root)
    yield root
    assert snapshot(root) == before
    assert installer(root).state().version == "1.0"
    assert leftovers(root) == []


def test_tampered_payload_byte(release: Release, at_v1: Path, tmp_path: Path) -> None:
    tampered = flip_byte(release.fix2(), b"VERSION = '1.1'", tmp_path / "t.mbundle")
    source = Source.from_bundle(tampered)  # the manifest is intact; the payload is not
    with pytest.raises(VerificationFailed, match=r"'lib/core\.py' does not match its SHA-256"):
        installer(at_v1).apply([source])


def test_tampered_payload_directory(release: Release, at_v1: Path, tmp_path: Path) -> None:
    manifest = extract(release.fix2(), tmp_path / "payload")
    (tmp_path / "payload" / "bin" / "tool").write_bytes(b"#!/bin/sh\necho evil 1.1\n")
    with pytest.raises(VerificationFailed, match="'bin/tool' does not match"):
        installer(at_v1).apply([Source.from_payload(manifest, tmp_path / "payload")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"product": "billing"},
            "bundle portal-1.1 is for product billing; this root has portal 1.0",
        ),
        ({"from_versions": ["0.9"]}, "bundle portal-1.1 updates 0.9; this root has portal 1.0"),
        ({"prerequisites": ["portal-0.9-hotfix"]}, "needs portal-0.9-hotfix installed first"),
        (
            {"platforms": ["freebsd-riscv64"]},
            "is for freebsd-riscv64; this machine is linux-x86_64",
        ),
        ({"kind": Kind.FULL, "from_versions": []}, "updates nothing .it is a fresh install."),
    ],
)
def test_not_applicable(
    release: Release, at_v1: Path, change: dict[str, Any], message: str
) -> None:
    manifest = template("portal-1.1", "1.1", ["1.0"])
    old = None if change.get("kind") is Kind.FULL else release.v1
    changed = release.bundle(replace(manifest, **change), release.v2, old)
    with pytest.raises(NotApplicable, match=message):
        install(at_v1, changed)


def test_already_installed_and_batch_refused_up_front(release: Release, at_v1: Path) -> None:
    with pytest.raises(NotApplicable, match="already installed"):
        install(at_v1, release.full())
    other = release.bundle(
        template("billing-2", "2", ["1.1"], product="billing"), release.v3, release.v2
    )
    with pytest.raises(NotApplicable, match=r"for product billing; this root has portal 1\.1"):
        install(at_v1, release.fix2(), other)  # refused before 1.1 is installed


def test_an_empty_root_takes_only_a_full_install(release: Release, root: Path) -> None:
    with pytest.raises(NotApplicable, match="only a full install can go first"):
        install(root, release.fix2())
    assert snapshot(root) == {}


@pytest.mark.parametrize(
    ("path", "message"), [("../evil", "escape the root"), ("/etc/evil", "absolute")]
)
def test_manifest_path_escaping_the_root(
    at_v1: Path, tmp_path: Path, path: str, message: str
) -> None:
    data = template("portal-1.1", "1.1", ["1.0"]).to_data()
    data["files"] = [{"path": path, "sha256": sha256(b"x"), "size": 1, "mode": "0644"}]
    member = tarfile.TarInfo("payload/" + path.lstrip("/"))
    member.size = 1
    bundle = craft_bundle(tmp_path / "evil.mbundle", data, [(member, b"x")])
    with pytest.raises(VerificationFailed, match=message):
        Source.from_bundle(bundle)
    good = template("portal-1.1", "1.1", ["1.0"])
    forged = replace(good, files=(FileEntry(path, sha256(b"x"), 1, 0o644),))
    with pytest.raises(InvalidInput, match=message):
        Source.from_payload(forged, tmp_path)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_tar_member_that_is_not_a_regular_file(at_v1: Path, tmp_path: Path, kind: bytes) -> None:
    data = template("portal-1.1", "1.1", ["1.0"]).to_data()
    data["files"] = [{"path": "bin/tool", "sha256": sha256(b"x"), "size": 1, "mode": "0755"}]
    member = tarfile.TarInfo("payload/bin/tool")
    member.type, member.linkname = kind, "/etc/passwd"
    member.devmajor, member.devminor = 1, 3
    source = Source.from_bundle(craft_bundle(tmp_path / "odd.mbundle", data, [(member, b"")]))
    with pytest.raises(VerificationFailed, match="unexpected member 'payload/bin/tool'"):
        installer(at_v1).apply([source])


def _elsewhere(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "elsewhere", {"core.py": b"VERSION = 'elsewhere'\n", "tool": b"x"})


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        ("lib", "lib is a symlink; refusing to follow it"),
        ("lib/core.py", "'lib/core.py' is a symlink in the install root"),
        ("old/legacy.txt", "'old/legacy.txt' is a symlink in the install root"),  # a removal
    ],
)
def test_symlink_planted_in_the_root(
    release: Release, root: Path, tmp_path: Path, plant: str, message: str
) -> None:
    install(root, release.full())
    elsewhere = _elsewhere(tmp_path)
    target = root / plant
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    target.symlink_to(elsewhere if plant == "lib" else elsewhere / "core.py")
    before, outside = snapshot(root), snapshot(elsewhere)
    with pytest.raises(InvalidInput, match=message):
        install(root, release.fix2())
    assert snapshot(root) == before and snapshot(elsewhere) == outside
    assert installer(root).state().version == "1.0" and leftovers(root) == []


def test_a_file_appearing_during_the_swap_is_not_overwritten(release: Release, root: Path) -> None:
    install(root, release.full())
    before = snapshot(root)

    def checkpoint(name: str) -> None:
        if name == "swap:dirs":  # another process writes where the update puts a new file
            (root / "lib" / "new" / "plugin.py").write_bytes(b"local\n")

    with pytest.raises(RolledBack, match=r"'lib/new/plugin\.py' appeared in the install root"):
        install(root, release.fix2(), checkpoint=checkpoint)
    local = {"lib/new": ("dir", 0o755), "lib/new/plugin.py": ("file", b"local\n", 0o644)}
    assert snapshot(root) == {**before, **local}
    assert installer(root).state().version == "1.0" and leftovers(root) == []


def test_fifo_at_a_target_path(release: Release, root: Path) -> None:
    install(root, release.full())
    (root / "lib" / "core.py").unlink()
    os.mkfifo(root / "lib" / "core.py")
    before = snapshot(root)
    with pytest.raises(InvalidInput, match="device, FIFO or socket"):
        install(root, release.fix2())
    assert snapshot(root) == before


def test_state_directory_that_is_a_symlink(release: Release, root: Path, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (root / ".mamori").symlink_to(tmp_path / "other")
    with pytest.raises(InvalidInput, match="symlink or not a directory"):
        install(root, release.full())
    with pytest.raises(InvalidInput, match="symlink or not a directory"):
        installer(root).state()
    assert list((tmp_path / "other").iterdir()) == []


def test_a_second_installer_is_refused_while_one_works(release: Release, root: Path) -> None:
    refused: list[str] = []

    def checkpoint(name: str) -> None:
        if name == "journaled":
            with pytest.raises(Conflict, match="another installer is working"):
                installer(root).apply([Source.from_bundle(release.full())])
            refused.append(name)

    install(root, release.full(), checkpoint=checkpoint)
    assert refused == ["journaled"]
    assert snapshot(root) == snapshot(release.v1)


def test_source_and_platform_validation(release: Release, tmp_path: Path) -> None:
    manifest = template("portal-1.1", "1.1", ["1.0"])
    with pytest.raises(InvalidInput, match="not both or neither"):
        Source(manifest)
    with pytest.raises(VerificationFailed, match="not the expected one"):
        Source.from_bundle(release.fix2(), expect=replace(manifest, summary="other"))
    assert re.match(PLATFORM_PATTERN, default_platform())
    with pytest.raises(InvalidInput, match="not a platform"):
        Installer(tmp_path, platform="Linux x86")


# -- a full disk -----------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem of its own (needs root, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_early_refusal_when_the_bundle_cannot_fit(
    release: Release, tmpfs: Path, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "big", {"data/big.bin": os.urandom(3 << 20)})
    bundle = release.bundle(template("portal-big", "1.0", kind=Kind.FULL), tree, None)
    with pytest.raises(InsufficientSpace, match=r"needs about 3\.\d MiB .* nothing was changed"):
        install(tmpfs, bundle)
    assert snapshot(tmpfs) == {} and leftovers(tmpfs) == []


def _fill(filesystem: Path) -> None:
    with (filesystem / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass


@pytest.mark.parametrize(
    ("when", "source", "message"),
    [
        ("space-checked", "bundle", "filled up while unpacking"),
        ("space-checked", "payload", "filled up while staging bundle portal-big-fix"),
        ("stopped", "bundle", "filled up while staging"),  # writing the journal
        ("journaled", "bundle", "portal-big-fix ran out of disk space; it was rolled back"),
    ],
)
def test_disk_filling_up_after_the_estimate(
    release: Release, tmpfs: Path, tmp_path: Path, when: str, source: str, message: str
) -> None:
    root = tmpfs / "root"
    root.mkdir()
    install(root, release.full())
    before = snapshot(root)
    big = write_tree(tmp_path / "big", {**V2, "lib/big.bin": os.urandom(1 << 20)})
    bundle = release.bundle(template("portal-big-fix", "1.1", ["1.0"]), big, release.v1)
    if source == "bundle":
        chosen = Source.from_bundle(bundle)
    else:
        chosen = Source.from_payload(extract(bundle, tmp_path / "payload"), tmp_path / "payload")
    filled: list[str] = []

    def checkpoint(name: str) -> None:
        if name == when:
            _fill(tmpfs)
            filled.append(name)

    with pytest.raises(InsufficientSpace, match=message):
        installer(root, checkpoint=checkpoint).apply([chosen])
    assert filled == [when]
    assert snapshot(root) == before and leftovers(root) == []
    assert installer(root).state().version == "1.0"
    (tmpfs / "filler").unlink()
    installer(root).apply([chosen])
    assert snapshot(root) == snapshot(big)
