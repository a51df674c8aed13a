"""Publishing the static tree on a real filesystem: atomic, idempotent, locked, and mirrored."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from mamori.advisories.publisher import (
    MANIFEST,
    current_tree,
    public_file,
    publish_tree,
    read_tree,
    sync_to_storage,
    tree_digest,
)
from mamori.advisories.signing import GpgSigner
from mamori.core.advisory import Publisher, Tlp
from mamori.core.provider import CsafDocument, check_tree, provider_files, reusing_signatures
from mamori.errors import ConfigurationError, InvalidInput, NotFound
from tests import gpg_keys

TREE_A = {
    ".well-known/csaf/provider-metadata.json": b'{"a": 1}\n',
    ".well-known/csaf/white/2026/msa-2026-0001.json": b'{"document": {}}\n',
    ".well-known/security.txt": b"Contact: mailto:security@example.com\n",
}
TREE_B = {**TREE_A, ".well-known/csaf/white/2026/msa-2026-0002.json": b'{"second": true}\n'}


def tree_number(number: int) -> dict[str, bytes]:
    return {**TREE_A, "version.txt": f"{number}\n".encode()}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of everything under ``root``, symlinks themselves included."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[path.relative_to(root).as_posix()] = (info.st_ino, info.st_mtime_ns)
    info = root.lstat()
    found["."] = (info.st_ino, info.st_mtime_ns)
    return found


def served(root: Path) -> tuple[object, ...]:
    """What readers see: the ``current`` link itself, its target, and that tree's files."""
    link = (root / "current").lstat()
    tree = current_tree(root)
    assert tree is not None
    return (link.st_ino, link.st_mtime_ns, os.readlink(root / "current"), snapshot(tree))


def staging_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("staging-*"))


# --- publishing ------------------------------------------------------------------------------


def test_first_publication_lays_out_trees_and_current(tmp_path: Path) -> None:
    root = tmp_path / "public"
    result = publish_tree(TREE_A, root)
    assert result.changed
    assert result.digest == tree_digest(TREE_A)
    assert result.path == root / "trees" / result.digest
    assert os.readlink(root / "current") == f"trees/{result.digest}"  # relative: root may move
    assert current_tree(root) == result.path
    assert read_tree(root / "current") == TREE_A
    assert staging_dirs(root) == []
    for path in result.path.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), path
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o755


def test_the_digest_covers_paths_and_contents() -> None:
    assert tree_digest(TREE_A) == tree_digest(dict(reversed(list(TREE_A.items()))))
    moved = {f"x/{path}": content for path, content in TREE_A.items()}
    assert len({tree_digest(TREE_A), tree_digest(TREE_B), tree_digest(moved)}) == 3


def test_publishing_the_same_tree_again_touches_nothing(tmp_path: Path) -> None:
    first = publish_tree(TREE_A, tmp_path)
    before = snapshot(tmp_path)
    again = publish_tree(dict(TREE_A), tmp_path)
    assert not again.changed
    assert again.digest == first.digest
    assert again.path == first.path
    assert snapshot(tmp_path) == before  # same inodes and mtimes, current included


def test_a_new_tree_replaces_the_current_one(tmp_path: Path) -> None:
    first = publish_tree(TREE_A, tmp_path)
    second = publish_tree(TREE_B, tmp_path)
    assert second.changed
    assert current_tree(tmp_path) == second.path
    assert read_tree(tmp_path / "current") == TREE_B
    assert read_tree(first.path) == TREE_A  # kept for rollback
    back = publish_tree(TREE_A, tmp_path)  # rolling back reuses the kept tree
    assert back.changed
    assert back.path == first.path
    assert read_tree(tmp_path / "current") == TREE_A


def test_a_failing_validator_leaves_the_old_tree_served(tmp_path: Path) -> None:
    publish_tree(TREE_A, tmp_path)
    before = served(tmp_path)
    seen: list[dict[str, bytes]] = []

    def validate(tree: Mapping[str, bytes]) -> list[str]:
        seen.append(dict(tree))
        return ["index.txt lists a missing file", "the feed is empty"]

    with pytest.raises(InvalidInput, match="missing file; the feed is empty"):
        publish_tree(TREE_B, tmp_path, validate=validate)
    assert seen == [TREE_B]  # it read the tree back from disk
    assert served(tmp_path) == before
    assert staging_dirs(tmp_path) == []
    assert not (tmp_path / "trees" / tree_digest(TREE_B)).exists()


def test_a_passing_validator_sees_the_tree_as_written(tmp_path: Path) -> None:
    seen: list[dict[str, bytes]] = []

    def validate(tree: Mapping[str, bytes]) -> list[str]:
        seen.append(dict(tree))
        return []

    publish_tree(TREE_B, tmp_path, validate=validate)
    assert seen == [TREE_B]


@pytest.mark.parametrize("failing_call", [1, 3, 6, 10])  # 10: after the move into trees/
def test_a_full_disk_mid_write_leaves_the_old_tree_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    publish_tree(TREE_A, tmp_path)
    before = served(tmp_path)
    real_fsync = os.fsync
    calls = []

    def fsync(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == failing_call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left") as caught:
        publish_tree(TREE_B, tmp_path)
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert served(tmp_path) == before
    assert staging_dirs(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "trees").iterdir()) == [tree_digest(TREE_A)]


def test_a_failing_swap_leaves_the_old_tree_and_no_new_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_tree(TREE_A, tmp_path)

    def replace(source: object, target: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="I/O error"):
        publish_tree(TREE_B, tmp_path)
    monkeypatch.undo()
    assert read_tree(tmp_path / "current") == TREE_A
    assert sorted(p.name for p in (tmp_path / "trees").iterdir()) == [tree_digest(TREE_A)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".current-")] == []


def test_leftovers_of_a_killed_publisher_are_cleared(tmp_path: Path) -> None:
    publish_tree(TREE_A, tmp_path)
    (tmp_path / "staging-dead").mkdir()
    (tmp_path / "staging-dead" / "half.json").write_bytes(b"{")
    publish_tree(TREE_B, tmp_path)
    assert staging_dirs(tmp_path) == []


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../outside.txt",
        "a/../../outside.txt",
        "a//b.txt",
        "a/./b.txt",
        "a\\b.txt",
        "a/",
        "",
        "line\nbreak.txt",
    ],
)
def test_unsafe_paths_are_refused_before_anything_is_written(tmp_path: Path, path: str) -> None:
    with pytest.raises(InvalidInput, match="tree"):
        publish_tree({**TREE_A, path: b"x"}, tmp_path / "public")
    assert not (tmp_path / "public").exists()
    assert not (tmp_path / "outside.txt").exists()


def test_a_path_cannot_be_both_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="both a file and a directory"):
        publish_tree({"a/b": b"1", "a/b/c": b"2"}, tmp_path)
    with pytest.raises(InvalidInput, match="empty"):
        publish_tree({}, tmp_path)


def test_pruning_keeps_the_newest_trees(tmp_path: Path) -> None:
    published = [publish_tree(tree_number(n), tmp_path, keep=3) for n in range(5)]
    kept = {path.name for path in (tmp_path / "trees").iterdir()}
    assert kept == {result.digest for result in published[-3:]}
    assert current_tree(tmp_path) == published[-1].path
    publish_tree(tree_number(5), tmp_path, keep=1)
    assert [path.name for path in (tmp_path / "trees").iterdir()] == [tree_digest(tree_number(5))]
    with pytest.raises(InvalidInput, match="keep"):
        publish_tree(tree_number(6), tmp_path, keep=0)


def test_two_publishers_never_interleave(tmp_path: Path) -> None:
    publish_tree(TREE_A, tmp_path)
    done = threading.Event()
    errors: list[BaseException] = []

    def other_publisher() -> None:
        try:
            publish_tree(TREE_B, tmp_path)
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    descriptor = os.open(tmp_path / ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # a publisher at work
        worker = threading.Thread(target=other_publisher, daemon=True)
        worker.start()
        assert not done.wait(0.3)  # the other one waits for the lock
        assert read_tree(tmp_path / "current") == TREE_A
        assert staging_dirs(tmp_path) == []
    finally:
        os.close(descriptor)
    assert done.wait(10)
    assert errors == []
    assert read_tree(tmp_path / "current") == TREE_B


def test_current_must_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "current").mkdir()
    with pytest.raises(ConfigurationError, match="not a symlink"):
        publish_tree(TREE_A, tmp_path)


# --- serving ---------------------------------------------------------------------------------


def test_public_file_finds_files_of_the_current_tree(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        public_file(tmp_path, "index.txt")  # nothing published yet
    result = publish_tree(TREE_A, tmp_path)
    found = public_file(tmp_path, ".well-known/csaf/white/2026/msa-2026-0001.json")
    assert found == result.path.resolve() / ".well-known/csaf/white/2026/msa-2026-0001.json"
    assert found.read_bytes() == TREE_A[".well-known/csaf/white/2026/msa-2026-0001.json"]


@pytest.mark.parametrize(
    "relpath",
    [
        "../.lock",
        "../../etc/passwd",
        ".well-known/../../trees",
        "/etc/passwd",
        ".well-known\\security.txt",
        ".well-known",  # a directory
        ".well-known/csaf/",
        ".well-known/csaf/missing.json",
        "",
        "a\0b",
    ],
)
def test_public_file_refuses_traversal_directories_and_missing_files(
    tmp_path: Path, relpath: str
) -> None:
    (tmp_path / "secret.txt").write_text("not public")
    publish_tree(TREE_A, tmp_path)
    with pytest.raises(NotFound):
        public_file(tmp_path, relpath)


def test_public_file_refuses_symlinks_that_escape_the_tree(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not public")
    result = publish_tree(TREE_A, tmp_path)
    csaf = result.path / ".well-known" / "csaf"
    (csaf / "escape.json").symlink_to(tmp_path / "secret.txt")
    (csaf / "escape-dir").symlink_to(tmp_path)
    (csaf / "inside.json").symlink_to(csaf / "provider-metadata.json")
    for relpath in (".well-known/csaf/escape.json", ".well-known/csaf/escape-dir/secret.txt"):
        with pytest.raises(NotFound):
            public_file(tmp_path, relpath)
    inside = public_file(tmp_path, ".well-known/csaf/inside.json")
    assert inside.read_bytes() == TREE_A[".well-known/csaf/provider-metadata.json"]


# --- the whole chain with the real key -------------------------------------------------------


@pytest.mark.integration
def test_republishing_signed_documents_is_a_no_op(
    signing_key: gpg_keys.Identity, tmp_path: Path
) -> None:
    """gpg signatures carry their time; reusing the published ones keeps the tree identical."""
    signer = GpgSigner(signing_key.home, signing_key.fingerprint)
    moment = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    content = {
        "document": {
            "distribution": {"tlp": {"label": "WHITE"}},
            "tracking": {
                "id": "MSA-2026-0001",
                "initial_release_date": moment.isoformat(),
                "current_release_date": moment.isoformat(),
            },
        }
    }
    document = CsafDocument(
        "MSA-2026-0001", json.dumps(content).encode(), Tlp.WHITE, moment, moment, "Fix"
    )

    def build() -> dict[str, bytes]:
        current = current_tree(tmp_path)
        previous = read_tree(current) if current else {}
        return provider_files(
            [document],
            base_url="https://psirt.example.com",
            publisher=Publisher("Example PSIRT", "https://psirt.example.com"),
            sign=reusing_signatures(previous, signer.sign, key_fingerprint=signer.fingerprint),
            public_key=signer.public_key(),
            key_fingerprint=signer.fingerprint,
        )

    first = publish_tree(build(), tmp_path, validate=check_tree)
    second = publish_tree(build(), tmp_path, validate=check_tree)
    assert first.changed
    assert not second.changed
    assert read_tree(second.path) == read_tree(first.path)


# --- object storage --------------------------------------------------------------------------


def test_sync_uploads_skips_unchanged_and_deletes_stale(tmp_path: Path) -> None:
    location = tmp_path / "bucket"
    storage = FileSystemStorage(location=location)
    (location / "site").mkdir(parents=True)
    (location / "site" / "not-ours.txt").write_bytes(b"someone else's")

    first = sync_to_storage(TREE_B, storage, prefix="site/")
    assert (first.uploaded, first.deleted, first.unchanged) == (4, 0, 0)
    files = read_tree(location / "site")
    assert {path: files[path] for path in TREE_B} == TREE_B
    manifest = json.loads(files[MANIFEST])
    assert manifest == {
        path: hashlib.sha256(content).hexdigest() for path, content in TREE_B.items()
    }

    manifest_before = (location / "site" / MANIFEST).stat().st_mtime_ns
    again = sync_to_storage(TREE_B, storage, prefix="site")  # the slash is added
    assert (again.uploaded, again.deleted, again.unchanged) == (0, 0, 4)
    assert (location / "site" / MANIFEST).stat().st_mtime_ns == manifest_before

    changed = {
        **TREE_A,
        ".well-known/csaf/provider-metadata.json": b'{"a": 2}\n',
    }
    third = sync_to_storage(changed, storage, prefix="site/")
    assert (third.uploaded, third.deleted, third.unchanged) == (1, 1, 2)
    files = read_tree(location / "site")
    assert {path: files[path] for path in changed} == changed
    assert ".well-known/csaf/white/2026/msa-2026-0002.json" not in files
    assert files["not-ours.txt"] == b"someone else's"  # never uploaded by us: never deleted
    assert set(json.loads(files[MANIFEST])) == set(changed)


def test_sync_uploads_documents_before_the_files_that_list_them(tmp_path: Path) -> None:
    order: list[str] = []

    class Recording(FileSystemStorage):
        def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
            order.append(str(name))
            return super().save(name, content, max_length)

    sync_to_storage(TREE_B, Recording(location=tmp_path), prefix="")
    assert order == [
        ".well-known/csaf/white/2026/msa-2026-0001.json",
        ".well-known/csaf/white/2026/msa-2026-0002.json",
        ".well-known/csaf/provider-metadata.json",
        ".well-known/security.txt",
        MANIFEST,
    ]


def test_sync_refuses_unsafe_paths_and_ignores_unsafe_manifest_entries(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=tmp_path / "bucket")
    with pytest.raises(InvalidInput):
        sync_to_storage({"../escape.txt": b"x"}, storage)
    with pytest.raises(InvalidInput, match="prefix"):
        sync_to_storage(TREE_A, storage, prefix="../up/")
    (tmp_path / "victim.txt").write_text("keep me")
    storage.save(MANIFEST, ContentFile(b'{"../victim.txt": "00"}'))
    result = sync_to_storage(TREE_A, storage)
    assert result.deleted == 0
    assert (tmp_path / "victim.txt").read_text() == "keep me"
