"""Bundle files: one manifest and its payload in one zstd-compressed tar.

Layout of a ``.mbundle`` file (a POSIX pax tar, compressed with zstd)::

    manifest.json            canonical JSON (mamori.core.manifest), always the first member
    payload/<path>           one regular file per manifest entry, in manifest order

Nothing else may appear: links, devices, directories, unknown or repeated members, sizes that
differ from the manifest, or content whose SHA-256 differs are refused with
:class:`~mamori.errors.VerificationFailed` while reading, before a byte is installed. Bundles are
built deterministically (zero times and owners), so the same input gives the same bytes.

A bundle is made from two trees of a product (:func:`build_from_trees`: the files that changed or
were added, and the paths removed), from one tree and a manifest (:func:`build_from_tree`), or by
composing a chain of bundles into a cumulative rollup (:func:`compose_rollup`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, cast

import pyzstd

from mamori.core import manifest as manifests
from mamori.core.manifest import FileEntry, Kind, Manifest, Service, ServiceAction
from mamori.core.paths import STATE_DIR, check_relative
from mamori.errors import InsufficientSpace, InvalidInput, NotFound, VerificationFailed

SUFFIX = ".mbundle"
MANIFEST_MEMBER = "manifest.json"
PAYLOAD_PREFIX = "payload/"
DEFAULT_LEVEL = 19
WINDOW_LOG = 27  # 128 MiB: long-distance matches across a large product, bounded for readers
CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleInfo:
    manifest: Manifest
    sha256: str
    size: int


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def scan_tree(root: Path) -> dict[str, FileEntry]:
    """Every regular file under ``root`` (without its ``.mamori`` state), keyed by relative path.

    Symlinks, devices, FIFOs and sockets are refused: a bundle carries regular files only.
    """
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory", field="tree")
    entries: dict[str, FileEntry] = {}
    for path in _walk(root, root):
        relative = path.relative_to(root).as_posix()
        check_relative(relative, field="tree")
        sha256, size = hash_file(path)
        entries[relative] = FileEntry(relative, sha256, size, stat.S_IMODE(path.lstat().st_mode))
    return dict(sorted(entries.items()))


def _walk(root: Path, directory: Path) -> Iterator[Path]:
    with os.scandir(directory) as scan:
        for item in sorted(scan, key=lambda e: e.name):
            path = Path(item.path)
            if directory == root and item.name == STATE_DIR:
                continue
            if item.is_symlink():
                raise InvalidInput(f"{path} is a symlink; bundles carry regular files only")
            if item.is_dir(follow_symlinks=False):
                yield from _walk(root, path)
            elif item.is_file(follow_symlinks=False):
                yield path
            else:
                raise InvalidInput(f"{path} is a device, FIFO or socket; refusing it")


def diff_trees(
    old: Mapping[str, FileEntry], new: Mapping[str, FileEntry]
) -> tuple[tuple[FileEntry, ...], tuple[str, ...]]:
    """Files added or changed (content or mode) from ``old`` to ``new``, and paths removed."""
    changed = tuple(entry for path, entry in new.items() if old.get(path) != entry)
    removed = tuple(path for path in old if path not in new)
    return changed, removed


def build_from_trees(
    template: Manifest,
    new_tree: Path,
    out: Path,
    *,
    old_tree: Path | None,
    level: int = DEFAULT_LEVEL,
) -> BundleInfo:
    """A bundle holding what changed from ``old_tree`` to ``new_tree`` (all of it for a full one).

    ``template`` gives everything but the files and removals (id, versions, services, checks...).
    """
    new = scan_tree(new_tree)
    old = scan_tree(old_tree) if old_tree is not None else {}
    files, removes = diff_trees(old, new)
    manifest = manifests.parse(replace(template, files=files, removes=removes).to_data())
    return write_bundle(manifest, {f.path: new_tree / f.path for f in files}, out, level=level)


def build_from_tree(
    data: Mapping[str, Any], tree: Path, out: Path, *, level: int = DEFAULT_LEVEL
) -> BundleInfo:
    """A bundle from a tree and manifest data whose files may name paths only.

    A file entry may omit ``sha256``, ``size`` and ``mode``: they are read from the tree. When it
    gives them they must match the tree. Without ``files`` at all, every file in the tree is
    carried. The completed manifest is then validated strictly.
    """
    tree_files = scan_tree(tree)
    data = dict(data)
    wanted = data.get("files")
    if wanted is None:
        data["files"] = [_file_data(entry) for entry in tree_files.values()]
    elif isinstance(wanted, list):
        data["files"] = [_complete(item, tree_files, i) for i, item in enumerate(wanted)]
    manifest = manifests.parse(data)
    return write_bundle(manifest, {f.path: tree / f.path for f in manifest.files}, out, level=level)


def _file_data(entry: FileEntry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "sha256": entry.sha256,
        "size": entry.size,
        "mode": f"{entry.mode:04o}",
    }


def _complete(item: object, tree: Mapping[str, FileEntry], index: int) -> object:
    where = f"manifest.files[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        return item  # the schema explains what is wrong
    actual = tree.get(item["path"])
    if actual is None:
        raise InvalidInput(f"{item['path']!r} is not a file in the tree", field=where)
    for key, value in _file_data(actual).items():
        if key in item and item[key] != value and key != "mode":
            raise InvalidInput(f"{key} is {item[key]!r} but the tree has {value!r}", field=where)
    return {**_file_data(actual), **{k: v for k, v in item.items() if k == "mode"}}


def write_bundle(
    manifest: Manifest, sources: Mapping[str, Path], out: Path, *, level: int = DEFAULT_LEVEL
) -> BundleInfo:
    """Write ``manifest`` and each file's content (from ``sources``) to ``out``, atomically.

    Every source is hashed while it is written; a file that does not match its manifest entry
    (changed since it was scanned) aborts the build.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".bundle-", dir=out.parent)
    temporary = Path(name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            _compressor(raw, level) as packed,
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            body = manifest.to_json()
            _add(tar, MANIFEST_MEMBER, 0o644, len(body), io.BytesIO(body))
            for entry in manifest.files:
                with sources[entry.path].open("rb") as source:
                    checked = _CheckedReader(source, entry)
                    _add(tar, PAYLOAD_PREFIX + entry.path, entry.mode, entry.size, checked)
                    checked.finish()
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sha256, size = hash_file(out)
    return BundleInfo(manifest, sha256, size)


@contextmanager
def _compressor(raw: IO[bytes], level: int) -> Iterator[IO[bytes]]:
    option: dict[int, int] = {
        pyzstd.CParameter.compressionLevel: level,
        pyzstd.CParameter.windowLog: WINDOW_LOG,
        pyzstd.CParameter.enableLongDistanceMatching: 1,
        pyzstd.CParameter.checksumFlag: 1,
    }
    with pyzstd.ZstdFile(cast(BinaryIO, raw), "wb", level_or_option=option) as packed:
        yield packed  # type: ignore[misc]


def _add(tar: tarfile.TarFile, name: str, mode: int, size: int, content: _Readable) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, cast(IO[bytes], content))


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CheckedReader:
    """Reads a source file for the tar, hashing it; ``finish`` refuses changed content."""

    def __init__(self, source: IO[bytes], entry: FileEntry) -> None:
        self._source, self._entry = source, entry
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._digest.update(chunk)
        return chunk

    def finish(self) -> None:
        if self._source.read(1) or self._digest.hexdigest() != self._entry.sha256:
            raise InvalidInput(f"{self._entry.path!r} changed while the bundle was being built")


# -- reading -------------------------------------------------------------------------------------


def read_manifest(bundle: Path) -> Manifest:
    """The manifest of a bundle file, validated; the payload is not read."""
    with _open_tar(bundle) as tar:
        return _first_manifest(tar, bundle)


def extract(bundle: Path, dest: Path, *, expect: Manifest | None = None) -> Manifest:
    """Verify ``bundle`` completely and write its payload under ``dest`` (which must not exist).

    With ``expect`` (the manifest from signed metadata) the embedded manifest must be identical.
    On any failure ``dest`` is removed and the error says what was wrong.
    """
    dest.mkdir(mode=0o700)
    try:
        with _open_tar(bundle) as tar:
            manifest = _first_manifest(tar, bundle)
            if expect is not None and manifest.to_json() != expect.to_json():
                raise VerificationFailed(f"{bundle.name}: its manifest is not the signed one")
            _extract_payload(tar, manifest, dest, bundle.name)
        return manifest
    except OSError as error:
        shutil.rmtree(dest, ignore_errors=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientSpace(
                f"the disk filled up while unpacking {bundle.name}; nothing was installed"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


@contextmanager
def _open_tar(bundle: Path) -> Iterator[tarfile.TarFile]:
    if not bundle.is_file():
        raise NotFound(f"no bundle file {bundle}")
    try:
        with (
            pyzstd.ZstdFile(
                bundle, "rb", level_or_option={pyzstd.DParameter.windowLogMax: WINDOW_LOG}
            ) as packed,
            tarfile.open(fileobj=packed, mode="r|") as tar,
        ):
            yield tar
    except (tarfile.TarError, pyzstd.ZstdError, EOFError) as error:
        raise VerificationFailed(f"{bundle.name} is not a readable bundle: {error}") from None


def _first_manifest(tar: tarfile.TarFile, bundle: Path) -> Manifest:
    member = tar.next()
    if member is None or member.name != MANIFEST_MEMBER or not member.isreg():
        raise VerificationFailed(f"{bundle.name}: the first member is not {MANIFEST_MEMBER}")
    if member.size > manifests.MAX_MANIFEST_BYTES:
        raise VerificationFailed(f"{bundle.name}: the manifest is over its size limit")
    handle = tar.extractfile(member)
    assert handle is not None
    try:
        return manifests.loads(handle.read())
    except InvalidInput as error:
        raise VerificationFailed(f"{bundle.name}: bad manifest: {error.message}") from None


def _extract_payload(tar: tarfile.TarFile, manifest: Manifest, dest: Path, name: str) -> None:
    for entry in manifest.files:
        member = tar.next()
        if member is None:
            raise VerificationFailed(f"{name}: the payload ends before {entry.path!r}")
        if member.name != PAYLOAD_PREFIX + entry.path or not member.isreg():
            raise VerificationFailed(
                f"{name}: unexpected member {member.name!r} (type {member.type!r}); "
                f"expected the regular file {PAYLOAD_PREFIX + entry.path!r}"
            )
        if member.size != entry.size:
            raise VerificationFailed(
                f"{name}: {entry.path!r} is {member.size} bytes, the manifest says {entry.size}"
            )
        handle = tar.extractfile(member)
        assert handle is not None
        write_verified(handle, dest, entry, name)
    extra = tar.next()
    if extra is not None:
        raise VerificationFailed(f"{name}: unexpected member {extra.name!r} after the payload")


def write_verified(source: IO[bytes], dest: Path, entry: FileEntry, origin: str) -> None:
    """Copy ``entry.size`` bytes from ``source`` to ``dest/entry.path`` and check the hash."""
    target = dest / entry.path
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    digest = hashlib.sha256()
    remaining = entry.size
    with os.fdopen(fd, "wb") as out:
        while remaining > 0:
            chunk = source.read(min(CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
        if remaining or digest.hexdigest() != entry.sha256:
            raise VerificationFailed(f"{origin}: {entry.path!r} does not match its SHA-256")
        out.flush()
        os.fsync(out.fileno())
    os.chmod(target, entry.mode)


# -- rollups ---------------------------------------------------------------------------------------


def compose_rollup(
    bundles: Sequence[Path],
    out: Path,
    *,
    bundle_id: str,
    summary: str = "",
    level: int = DEFAULT_LEVEL,
) -> BundleInfo:
    """A cumulative rollup of a chain of bundles (each starting where the previous one ended).

    The rollup installs on every version the chain starts from, holds the newest content of every
    file written anywhere in the chain, removes what the chain removes, and supersedes every
    bundle in it (and what they superseded). Restarts and reboots are merged; the post-install
    checks are the last bundle's, which describe the final version.
    """
    if len(bundles) < 2:
        raise InvalidInput("a rollup needs at least two bundles", field="bundles")
    chain = [read_manifest(path) for path in bundles]
    _check_chain(chain)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as work:
        sources: dict[str, Path] = {}
        removed: set[str] = set()
        for index, (path, manifest) in enumerate(zip(bundles, chain, strict=True)):
            extract(path, Path(work) / str(index), expect=manifest)
            for entry in manifest.files:
                sources[entry.path] = Path(work) / str(index) / entry.path
                removed.discard(entry.path)
            for gone in manifest.removes:
                sources.pop(gone, None)
                removed.add(gone)
        files = {f.path: f for m in chain for f in m.files}
        rollup = _merged(chain, bundle_id, summary, [files[p] for p in sources], removed)
        return write_bundle(rollup, sources, out, level=level)


def _check_chain(chain: Sequence[Manifest]) -> None:
    products = {m.product for m in chain}
    if len(products) != 1:
        raise InvalidInput(f"a rollup covers one product, not {sorted(products)}", field="bundles")
    for earlier, later in itertools.pairwise(chain):
        if later.kind is Kind.FULL or earlier.to_version not in later.from_versions:
            raise InvalidInput(
                f"{later.id} does not update {earlier.to_version} (from {earlier.id}); "
                "list the bundles in the order they install",
                field="bundles",
            )


def _merged(
    chain: Sequence[Manifest],
    bundle_id: str,
    summary: str,
    files: Sequence[FileEntry],
    removed: set[str],
) -> Manifest:
    ids = [m.id for m in chain]
    froms = [v for m in chain for v in m.from_versions] + [m.to_version for m in chain[:-1]]
    last = chain[-1]
    services: dict[str, ServiceAction] = {}
    for manifest in chain:
        for service in manifest.services:
            if services.get(service.name) is not ServiceAction.STOP:
                services[service.name] = service.action
    reasons = [m.reboot_reason for m in chain if m.reboot_required]
    data = replace(
        last,
        id=bundle_id,
        kind=Kind.ROLLUP,
        from_versions=tuple(dict.fromkeys(v for v in froms if v != last.to_version)),
        files=tuple(sorted(files, key=lambda f: f.path)),
        removes=tuple(sorted(removed)),
        summary=summary or "Cumulative update: " + ", ".join(ids),
        advisories=tuple(dict.fromkeys(a for m in chain for a in m.advisories)),
        services=tuple(Service(name, action) for name, action in sorted(services.items())),
        reboot_required=bool(reasons),
        reboot_reason="; ".join(dict.fromkeys(reasons)),
        pre_checks=(),
        supersedes=tuple(dict.fromkeys([*ids, *(s for m in chain for s in m.supersedes)])),
        prerequisites=tuple(
            dict.fromkeys(p for m in chain for p in m.prerequisites if p not in ids)
        ),
    )
    return manifests.parse(data.to_data())
