"""Bundle manifests are validated strictly when loaded: schema first, then meaning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mamori.core import manifest
from mamori.core.manifest import CheckKind, Kind, ServiceAction
from mamori.errors import InvalidInput

SHA = "ab" * 32


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": "mamori-bundle/1",
        "id": "portal-2.1.1",
        "kind": "fix",
        "product": "portal",
        "from_versions": ["2.1.0"],
        "to_version": "2.1.1",
        "files": [{"path": "bin/portal", "sha256": SHA, "size": 10, "mode": "0755"}],
    }
    base.update(changes)
    return base


def refused(value: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        manifest.parse(value)
    return caught.value.message


def test_a_full_manifest_round_trips_through_canonical_json() -> None:
    full = data(
        removes=["lib/old.so"],
        summary="Fixes MSA-2026-001",
        advisories=["MSA-2026-001"],
        services=[{"name": "portal-web", "action": "restart"}, {"name": "db", "action": "stop"}],
        reboot={"required": True, "reason": "the kernel module is replaced"},
        checks={
            "pre": [{"type": "file", "path": "bin/portal"}],
            "post": [{"type": "command", "argv": ["bin/portal", "--version"], "timeout": 5}],
        },
        supersedes=["portal-2.1.0-1"],
        prerequisites=["portal-ssu-1"],
        applicability={
            "platforms": ["linux-x86_64"],
            "requires_files": [{"path": "etc/edition", "sha256": SHA}],
        },
    )
    parsed = manifest.parse(full)
    assert parsed.kind is Kind.FIX
    assert parsed.files[0].mode == 0o755
    assert parsed.services[1].action is ServiceAction.STOP
    assert parsed.post_checks[0].kind is CheckKind.COMMAND
    assert parsed.post_checks[0].argv == ("bin/portal", "--version")
    assert manifest.loads(parsed.to_json()) == parsed
    assert parsed.to_json() == manifest.parse(json.loads(parsed.to_json())).to_json()
    assert parsed.applies_to("2.1.0") and not parsed.applies_to("2.0.9")
    assert not parsed.applies_to(None)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../etc/passwd", "'..' component"),
        ("bin/../../x", "'..' component"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows", "absolute"),
        ("bin//x", "empty"),
        ("bin/", "empty"),
        ("./bin", "'.' component"),
        ("bin\\x", "backslash"),
        ("bin/\x00x", "control character"),
        (".mamori/state.json", "state directory"),
        ("e\u0301", "NFC"),
        ("a" * 300, "over 255 bytes"),
    ],
)
def test_paths_that_could_escape_the_root_are_refused(path: str, problem: str) -> None:
    message = refused(data(files=[{"path": path, "sha256": SHA, "size": 1, "mode": "0644"}]))
    assert problem in message
    assert "manifest.files[0].path" in message


def test_removals_are_checked_like_files() -> None:
    assert "'..' component" in refused(data(removes=["../../boot/vmlinuz"]))
    assert "absolute" in refused(data(removes=["/etc/shadow"]))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"unknown": 1}, "'unknown' was unexpected"),
        ({"format": "mamori-bundle/2"}, "manifest.format"),
        ({"id": "Portal 2"}, "manifest.id"),
        ({"kind": "hotfix"}, "manifest.kind"),
        ({"from_versions": []}, "needs the versions it updates"),
        ({"from_versions": ["2.1.1"]}, "to itself"),
        ({"to_version": "2.1.1; rm -rf /"}, "manifest.to_version"),
        ({"files": [{"path": "a", "sha256": "xyz", "size": 1, "mode": "0644"}]}, "sha256"),
        ({"files": [{"path": "a", "sha256": SHA, "size": -1, "mode": "0644"}]}, "size"),
        ({"files": [{"path": "a", "sha256": SHA, "size": 1, "mode": "4755"}]}, "setuid"),
        ({"files": [{"path": "a", "sha256": SHA, "size": 1, "mode": "0644", "x": 1}]}, "'x'"),
        (
            {
                "files": [
                    {"path": "a", "sha256": SHA, "size": 1, "mode": "0644"},
                    {"path": "a", "sha256": SHA, "size": 1, "mode": "0644"},
                ]
            },
            "listed twice",
        ),
        (
            {
                "files": [
                    {"path": "lib", "sha256": SHA, "size": 1, "mode": "0644"},
                    {"path": "lib/x", "sha256": SHA, "size": 1, "mode": "0644"},
                ]
            },
            "both a file and a directory",
        ),
        ({"removes": ["bin/portal"]}, "both written and removed"),
        ({"removes": ["bin"]}, "files are written under it"),
        ({"removes": ["bin/portal/old"]}, "from under a path written as a file"),
        ({"services": [{"name": "web; reboot", "action": "restart"}]}, "manifest.services"),
        ({"services": [{"name": "web", "action": "reload"}]}, "manifest.services"),
        ({"reboot": {"required": True}}, "a reboot needs a reason"),
        ({"checks": {"post": [{"type": "command"}]}}, "needs argv"),
        ({"checks": {"post": [{"type": "file"}]}}, "needs a path"),
        ({"checks": {"pre": [{"type": "file", "path": "../x"}]}}, "'..' component"),
        ({"checks": {"pre": [{"type": "command", "argv": ["x"], "timeout": 0}]}}, "timeout"),
        ({"supersedes": ["portal-2.1.1"]}, "supersede or require itself"),
        ({"applicability": {"platforms": ["Linux x86"]}}, "platforms"),
        ({"kind": "full", "from_versions": [], "removes": ["x"]}, "removes nothing"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, Any], problem: str) -> None:
    assert problem in refused(data(**changes))


def test_not_json_or_not_an_object_is_refused() -> None:
    for raw in (b"{", b"\xff\xfe", b"[]", b'{"a": NaN}'):
        with pytest.raises(InvalidInput):
            manifest.loads(raw)


def test_an_oversized_manifest_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInput, match="over"):
        manifest.loads(b" " * (manifest.MAX_MANIFEST_BYTES + 1))


def test_a_full_install_needs_no_base_version() -> None:
    full = manifest.parse(data(kind="full", from_versions=[]))
    assert full.applies_to(None)
    assert not full.applies_to("2.1.0")
