"""Bundle files: built from trees or a tree and a manifest, verified completely when read."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import pyzstd

from mamori.core import bundle
from mamori.core.manifest import Kind, Manifest, Service, ServiceAction
from mamori.errors import InvalidInput, NotFound, VerificationFailed

TEMPLATE = Manifest(
    id="portal-2",
    kind=Kind.FIX,
    product="portal",
    from_versions=("1",),
    to_version="2",
    files=(),
)


def write_tree(root: Path, files: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.chmod(target, (modes or {}).get(path, 0o644))
    return root


V1 = {"bin/portal": b"portal 1\n", "lib/core.so": b"\x7fELF" + bytes(5000), "lib/old.so": b"o"}
V2 = {"bin/portal": b"portal 2\n", "lib/core.so": b"\x7fELF" + bytes(5000), "lib/new.so": b"n"}
V3 = {"bin/portal": b"portal 3\n", "lib/core.so": b"\x7fELF" + bytes(4999) + b"!", "etc/x": b""}


@pytest.fixture
def trees(tmp_path: Path) -> dict[str, Path]:
    return {
        "1": write_tree(tmp_path / "v1", V1),
        "2": write_tree(tmp_path / "v2", V2, {"bin/portal": 0o755}),
        "3": write_tree(tmp_path / "v3", V3, {"bin/portal": 0o755}),
    }


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_a_bundle_from_two_trees_holds_what_changed(trees: dict[str, Path], tmp_path: Path) -> None:
    info = bundle.build_from_trees(
        TEMPLATE, trees["2"], tmp_path / "p2.mbundle", old_tree=trees["1"], level=3
    )
    assert [f.path for f in info.manifest.files] == ["bin/portal", "lib/new.so"]
    assert info.manifest.files[0].mode == 0o755
    assert info.manifest.removes == ("lib/old.so",)
    assert (info.sha256, info.size) == bundle.hash_file(tmp_path / "p2.mbundle")
    assert bundle.read_manifest(tmp_path / "p2.mbundle") == info.manifest
    bundle.extract(tmp_path / "p2.mbundle", tmp_path / "out")
    assert snapshot(tmp_path / "out") == {
        "bin/portal": (b"portal 2\n", 0o755),
        "lib/new.so": (b"n", 0o644),
    }


def test_a_mode_change_alone_is_carried(tmp_path: Path) -> None:
    old = write_tree(tmp_path / "a", {"run": b"x"})
    new = write_tree(tmp_path / "b", {"run": b"x"}, {"run": 0o755})
    info = bundle.build_from_trees(TEMPLATE, new, tmp_path / "m.mbundle", old_tree=old, level=1)
    assert [(f.path, f.mode) for f in info.manifest.files] == [("run", 0o755)]


def test_bundles_are_deterministic(trees: dict[str, Path], tmp_path: Path) -> None:
    one = bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "a", old_tree=trees["1"])
    two = bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "b", old_tree=trees["1"])
    assert one.sha256 == two.sha256


def test_a_full_bundle_from_one_tree(trees: dict[str, Path], tmp_path: Path) -> None:
    full = dataclasses.replace(
        TEMPLATE, id="portal-1", kind=Kind.FULL, from_versions=(), to_version="1"
    )
    info = bundle.build_from_trees(full, trees["1"], tmp_path / "f", old_tree=None, level=3)
    assert sorted(f.path for f in info.manifest.files) == sorted(V1)


def test_a_bundle_from_a_tree_and_a_manifest(trees: dict[str, Path], tmp_path: Path) -> None:
    data = TEMPLATE.to_data()
    data["files"] = [{"path": "bin/portal"}, {"path": "lib/new.so", "mode": "0600"}]
    data["services"] = [{"name": "portal-web", "action": "restart"}]
    info = bundle.build_from_tree(data, trees["2"], tmp_path / "m.mbundle", level=3)
    assert info.manifest.file("bin/portal") is not None
    assert info.manifest.file("lib/new.so") == dataclasses.replace(
        info.manifest.files[1], mode=0o600
    )
    assert info.manifest.services == (Service("portal-web", ServiceAction.RESTART),)
    del data["files"]
    info = bundle.build_from_tree(data, trees["2"], tmp_path / "all.mbundle", level=3)
    assert sorted(f.path for f in info.manifest.files) == sorted(V2)


def test_a_manifest_that_does_not_match_the_tree_is_refused(
    trees: dict[str, Path], tmp_path: Path
) -> None:
    data = TEMPLATE.to_data()
    data["files"] = [{"path": "bin/portal", "sha256": "00" * 32}]
    with pytest.raises(InvalidInput, match="sha256"):
        bundle.build_from_tree(data, trees["2"], tmp_path / "x", level=1)
    data["files"] = [{"path": "bin/missing"}]
    with pytest.raises(InvalidInput, match="not a file in the tree"):
        bundle.build_from_tree(data, trees["2"], tmp_path / "x", level=1)
    assert not (tmp_path / "x").exists()


def test_trees_with_symlinks_or_fifos_are_refused(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "t", {"a": b"a"})
    (tree / "link").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match="symlink"):
        bundle.scan_tree(tree)
    (tree / "link").unlink()
    os.mkfifo(tree / "fifo")
    with pytest.raises(InvalidInput, match="FIFO"):
        bundle.scan_tree(tree)


def test_a_rollup_composes_a_chain(trees: dict[str, Path], tmp_path: Path) -> None:
    two = bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "2", old_tree=trees["1"])
    three_template = dataclasses.replace(
        TEMPLATE,
        id="portal-3",
        from_versions=("2",),
        to_version="3",
        services=(Service("portal-web", ServiceAction.RESTART),),
        reboot_required=True,
        reboot_reason="the driver changed",
    )
    bundle.build_from_trees(three_template, trees["3"], tmp_path / "3", old_tree=trees["2"])
    rollup = bundle.compose_rollup(
        [tmp_path / "2", tmp_path / "3"], tmp_path / "r", bundle_id="portal-rollup-3", level=3
    ).manifest
    assert rollup.kind is Kind.ROLLUP
    assert rollup.from_versions == ("1", "2")
    assert rollup.to_version == "3"
    assert rollup.supersedes == ("portal-2", "portal-3")
    assert rollup.reboot_required and rollup.reboot_reason == "the driver changed"
    # applying the rollup's files and removals to v1 or to v2 gives exactly v3
    bundle.extract(tmp_path / "r", tmp_path / "payload")
    payload = snapshot(tmp_path / "payload")
    for base in (V1, V2):
        result = {p: c for p, c in base.items() if p not in rollup.removes}
        result.update({p: c for p, (c, _) in payload.items()})
        assert result == V3
    assert two.manifest.id in rollup.supersedes


def test_a_rollup_needs_a_chain_in_install_order(trees: dict[str, Path], tmp_path: Path) -> None:
    bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "2", old_tree=trees["1"])
    three = dataclasses.replace(TEMPLATE, id="portal-3", from_versions=("2",), to_version="3")
    bundle.build_from_trees(three, trees["3"], tmp_path / "3", old_tree=trees["2"])
    with pytest.raises(InvalidInput, match="order they install"):
        bundle.compose_rollup([tmp_path / "3", tmp_path / "2"], tmp_path / "r", bundle_id="r-3")
    with pytest.raises(InvalidInput, match="at least two"):
        bundle.compose_rollup([tmp_path / "2"], tmp_path / "r", bundle_id="r-3")


# -- hostile bundle files ----------------------------------------------------------------------


def hostile(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    path.write_bytes(pyzstd.compress(buffer.getvalue()))
    return path


def member(
    name: str, content: bytes = b"", kind: bytes = tarfile.REGTYPE
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
    return info, content


def manifest_for(content: bytes, path: str = "bin/portal") -> bytes:
    data = TEMPLATE.to_data()
    data["files"] = [
        {
            "path": path,
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "mode": "0644",
        }
    ]
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([member("payload/bin/portal", b"x")], "first member is not manifest.json"),
        (
            [member("manifest.json", manifest_for(b"x")), member("payload/bin/other", b"x")],
            "unexpected member",
        ),
        (
            [member("manifest.json", manifest_for(b"x")), member("payload/bin/portal", b"y")],
            "does not match its SHA-256",
        ),
        (
            [member("manifest.json", manifest_for(b"x")), member("payload/bin/portal", b"xx")],
            "the manifest says 1",
        ),
        (
            [
                member("manifest.json", manifest_for(b"x")),
                member("payload/bin/portal", kind=tarfile.SYMTYPE),
            ],
            "unexpected member",
        ),
        (
            [
                member("manifest.json", manifest_for(b"x")),
                member("payload/bin/portal", kind=tarfile.CHRTYPE),
            ],
            "unexpected member",
        ),
        ([member("manifest.json", manifest_for(b"x"))], "ends before"),
        (
            [
                member("manifest.json", manifest_for(b"x")),
                member("payload/bin/portal", b"x"),
                member("payload/extra", b"x"),
            ],
            "after the payload",
        ),
        ([member("manifest.json", manifest_for(b"x", "../../etc/cron.d/x"))], "'..' component"),
        ([member("manifest.json", manifest_for(b"x", "/etc/cron.d/x"))], "absolute"),
        ([member("manifest.json", b"{not json")], "not valid JSON"),
    ],
)
def test_hostile_bundles_are_refused_and_nothing_is_left(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], problem: str
) -> None:
    path = hostile(tmp_path / "evil.mbundle", members)
    with pytest.raises(VerificationFailed, match=problem):
        bundle.extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tampered_or_truncated_bundle_is_refused(trees: dict[str, Path], tmp_path: Path) -> None:
    bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "ok", old_tree=trees["1"], level=3)
    raw = (tmp_path / "ok").read_bytes()
    (tmp_path / "truncated").write_bytes(raw[: len(raw) - 10])
    (tmp_path / "garbage").write_bytes(b"not a bundle at all")
    for name in ("truncated", "garbage"):
        with pytest.raises(VerificationFailed):
            bundle.extract(tmp_path / name, tmp_path / f"out-{name}")
        assert not (tmp_path / f"out-{name}").exists()


def test_the_signed_manifest_must_be_the_embedded_one(
    trees: dict[str, Path], tmp_path: Path
) -> None:
    info = bundle.build_from_trees(TEMPLATE, trees["2"], tmp_path / "b", old_tree=trees["1"])
    other = dataclasses.replace(info.manifest, summary="something else")
    with pytest.raises(VerificationFailed, match="not the signed one"):
        bundle.extract(tmp_path / "b", tmp_path / "out", expect=other)
    assert bundle.extract(tmp_path / "b", tmp_path / "ok", expect=info.manifest) == info.manifest


def test_a_missing_bundle_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no bundle file"):
        bundle.read_manifest(tmp_path / "missing.mbundle")
    with pytest.raises(NotFound):
        bundle.extract(tmp_path / "missing.mbundle", tmp_path / "out")
    assert not (tmp_path / "out").exists()
