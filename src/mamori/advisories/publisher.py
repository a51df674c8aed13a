"""Publishing the public static tree: atomic and idempotent on disk, mirrored to object storage.

On disk, a complete tree lives in ``root/trees/<digest>``; ``root/current`` is a relative
symlink to the tree being served. ``publish_tree`` writes a new tree beside the served one,
checks it as read back from disk, and only then swaps ``current`` with one ``rename(2)``, so a
reader sees the old tree or the new one, never a mixture::

    root/
      .lock                  flock(2): one publisher at a time
      current -> trees/3f5c...
      trees/3f5c.../.well-known/csaf/provider-metadata.json
      trees/a91e.../...      older trees, kept for rollback (``keep``)
      staging-XXXXXXXX/      only while a tree is being written

The digest is SHA-256 over the sorted ``path NUL sha256(content) LF`` lines, so publishing the
same tree again finds it already current and changes nothing. Whatever fails - a write, the
validator, the swap - ``current`` stays as it was and the staging directory is removed; an
``OSError`` such as a full disk is raised as it is. The rename of ``current`` is the commit
point: after it only the directory fsync and pruning remain, and a failure there is raised
without undoing a publication readers may already have seen.

``sync_to_storage`` mirrors a tree to a Django ``Storage`` (django-storages' S3 in production),
uploading only what changed according to the manifest it keeps beside the files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from mamori.core import files
from mamori.errors import ConfigurationError, InvalidInput, NotFound

__all__ = [
    "MANIFEST",
    "Published",
    "SyncResult",
    "current_tree",
    "public_file",
    "publish_tree",
    "read_tree",
    "sync_to_storage",
    "tree_digest",
]

MANIFEST = ".mamori-manifest.json"
_FILE_MODE = 0o644
_DIRECTORY_MODE = 0o755
_DIGEST_LENGTH = 64


@dataclass(frozen=True)
class Published:
    changed: bool  # False: the tree was already current and nothing was touched
    digest: str
    path: Path  # root/trees/<digest>


@dataclass(frozen=True)
class SyncResult:
    uploaded: int
    deleted: int
    unchanged: int


def tree_digest(tree: Mapping[str, bytes]) -> str:
    """SHA-256 over the sorted ``(path, sha256(content))`` pairs."""
    digest = hashlib.sha256()
    for path in sorted(tree):
        digest.update(f"{path}\0{hashlib.sha256(tree[path]).hexdigest()}\n".encode())
    return digest.hexdigest()


def publish_tree(
    tree: Mapping[str, bytes],
    root: Path,
    *,
    validate: Callable[[Mapping[str, bytes]], Sequence[str]] | None = None,
    keep: int = 3,
) -> Published:
    """Make ``tree`` the served tree under ``root``, atomically; keep ``keep`` trees in all."""
    if keep < 1:
        raise InvalidInput("at least the current tree must be kept", field="keep")
    _check_tree_paths(tree)
    digest = tree_digest(tree)
    root.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
    with _locked(root):
        _remove_staging(root)
        current = current_tree(root)
        if current is not None and current.name == digest:
            return Published(False, digest, current)
        target = _install(tree, root, digest, validate)
        files.fsync_dir(root)
        _prune(root / "trees", keep, target)
    return Published(True, digest, target)


def current_tree(root: Path) -> Path | None:
    """The directory ``root/current`` points at, or ``None`` before the first publication."""
    link = root / "current"
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.EINVAL:
            raise ConfigurationError(
                f"{link} is not a symlink: move it away so the publisher can manage it"
            ) from error
        raise
    tree = root / target
    return tree if tree.is_dir() else None


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory``, by posix path relative to it."""
    tree = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            tree[path.relative_to(directory).as_posix()] = path.read_bytes()
    return tree


def public_file(root: Path, relpath: str) -> Path:
    """The file of the served tree that a request for ``relpath`` may read.

    Raises ``NotFound`` for anything else: an unsafe or absolute path, a directory, a missing
    file, or a symlink that leads out of the tree. The path returned is inside
    ``root/trees/<digest>``, so it stays valid while the request reads it even if a new tree
    is published meanwhile.
    """
    if _path_problem(relpath):
        raise NotFound("no such file")
    tree = current_tree(root)
    if tree is None:
        raise NotFound("nothing has been published yet")
    base = tree.resolve()
    try:
        candidate = base.joinpath(*relpath.split("/")).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        raise NotFound("no such file") from None
    if not candidate.is_relative_to(base) or not candidate.is_file():
        raise NotFound("no such file")
    return candidate


# --- the steps of publishing -----------------------------------------------------------------


def _path_problem(path: str) -> str:
    if not path:
        return "an empty path"
    if path.startswith("/") or "\\" in path:
        return "an absolute path or a backslash"
    if any(ord(character) < 0x20 or character == "\x7f" for character in path):
        return "a control character"
    if any(segment in {"", ".", ".."} for segment in path.split("/")):
        return "an empty, '.' or '..' segment"
    return ""


def _check_tree_paths(tree: Mapping[str, bytes]) -> None:
    if not tree:
        raise InvalidInput("the tree is empty: refusing to publish nothing", field="tree")
    problems = {path: problem for path in tree if (problem := _path_problem(path))}
    directories = {path.rsplit("/", 1)[0] for path in tree if "/" in path}
    parents = {d.rsplit("/", n)[0] for d in directories for n in range(d.count("/") + 1)}
    problems.update({path: "both a file and a directory" for path in tree if path in parents})
    if problems:
        raise InvalidInput({f"tree[{path!r}]": problem for path, problem in problems.items()})


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``root/.lock``, held until the block ends."""
    descriptor = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _remove_staging(root: Path) -> None:
    """Staging directories of a publisher that died (we hold the lock: nobody else writes)."""
    for leftover in root.glob("staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _install(
    tree: Mapping[str, bytes],
    root: Path,
    digest: str,
    validate: Callable[[Mapping[str, bytes]], Sequence[str]] | None,
) -> Path:
    """Write, check, move into ``trees/`` and swap ``current``; undo all of it on any failure."""
    trees = root / "trees"
    trees.mkdir(mode=_DIRECTORY_MODE, exist_ok=True)
    target = trees / digest
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=root))
    created = False
    try:
        os.chmod(staging, _DIRECTORY_MODE)
        _write(tree, staging)
        problems = list(validate(read_tree(staging))) if validate is not None else []
        if problems:
            raise InvalidInput("the tree failed its checks: " + "; ".join(problems), field="tree")
        if target.is_dir():  # published before and still kept: the same bytes, by its digest
            shutil.rmtree(staging)
        else:
            os.rename(staging, target)
            created = True
            files.fsync_dir(trees)
        stamp = time.time_ns()  # pruning keeps the most recently published trees
        os.utime(target, ns=(stamp, stamp))
        _point_current(root, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _write(tree: Mapping[str, bytes], directory: Path) -> None:
    made = [directory]
    for path in sorted(tree):
        file = directory.joinpath(*path.split("/"))
        for parent in reversed(file.parents):
            if parent.is_relative_to(directory) and not parent.exists():
                parent.mkdir(mode=_DIRECTORY_MODE)
                os.chmod(parent, _DIRECTORY_MODE)  # whatever the umask
                made.append(parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(file, flags, _FILE_MODE), "wb") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(tree[path])
            handle.flush()
            os.fsync(handle.fileno())
    for made_directory in reversed(made):
        files.fsync_dir(made_directory)


def _point_current(root: Path, target: Path) -> None:
    """Swap ``root/current`` to ``target`` with one rename: the commit point of publishing."""
    temporary = root / f".current-{secrets.token_hex(8)}"
    os.symlink(target.relative_to(root).as_posix(), temporary)
    try:
        os.replace(temporary, root / "current")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _prune(trees: Path, keep: int, current: Path) -> None:
    """Remove all but the ``keep`` most recently published trees (the current one stays)."""
    others = [
        tree
        for tree in trees.iterdir()
        if tree != current and len(tree.name) == _DIGEST_LENGTH and tree.is_dir()
    ]
    others.sort(key=lambda tree: (tree.stat().st_mtime_ns, tree.name), reverse=True)
    for old in others[keep - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


# --- object storage --------------------------------------------------------------------------


def sync_to_storage(tree: Mapping[str, bytes], storage: Storage, prefix: str = "") -> SyncResult:
    """Mirror ``tree`` under ``prefix`` of ``storage``: upload what is new or changed, delete
    what the tree no longer has, and write ``<prefix>.mamori-manifest.json`` last.

    The manifest (path -> sha256) is how the mirror knows what it holds; files it does not list
    were not put there by Mamori and are never deleted. Documents go up before the indexes and
    feeds that list them (deepest paths first), deletions after the uploads.
    """
    _check_tree_paths(tree)
    if prefix and (_path_problem(prefix.rstrip("/")) or prefix.startswith("/")):
        raise InvalidInput(f"not a safe storage prefix: {prefix!r}", field="prefix")
    prefix = f"{prefix.rstrip('/')}/" if prefix else ""
    if MANIFEST in tree:
        raise InvalidInput(f"{MANIFEST} is the mirror's own file", field="tree")
    manifest = f"{prefix}{MANIFEST}"
    old = _read_manifest(storage, manifest)
    new = {path: hashlib.sha256(content).hexdigest() for path, content in tree.items()}
    changed = sorted((p for p in new if old.get(p) != new[p]), key=lambda p: (-p.count("/"), p))
    stale = sorted(set(old) - set(new))
    for path in changed:
        _put(storage, prefix + path, tree[path])
    for path in stale:
        storage.delete(prefix + path)
    if old != new:
        text = json.dumps(dict(sorted(new.items())), indent=2) + "\n"
        _put(storage, manifest, text.encode("utf-8"))
    return SyncResult(uploaded=len(changed), deleted=len(stale), unchanged=len(new) - len(changed))


def _read_manifest(storage: Storage, name: str) -> dict[str, str]:
    """The manifest's safe entries; an unreadable manifest counts as empty (all is uploaded)."""
    if not storage.exists(name):
        return {}
    with storage.open(name, "rb") as handle:
        raw = handle.read()
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(path): str(digest)
        for path, digest in data.items()
        if isinstance(path, str) and not _path_problem(path) and path != MANIFEST
    }


def _put(storage: Storage, name: str, content: bytes) -> None:
    """Store ``content`` under exactly ``name`` (Storage.save would pick another free name)."""
    if storage.exists(name):
        storage.delete(name)
    saved = storage.save(name, ContentFile(content))
    if saved != name:
        raise ConfigurationError(f"the public storage saved {name} as {saved}")
