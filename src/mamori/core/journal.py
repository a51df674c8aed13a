"""The installer's journal, and the file moves it describes: swap forward, undo backward.

A transaction changes an install root only through the operations its journal lists, written
(and fsynced) before the first change. Each operation names one path and whether something was
there before:

- ``write``: move the existing file (if any) into the transaction's ``backup/``, then put the
  staged file in its place (a hard link, so a file that appears meanwhile is never overwritten);
- ``remove``: move the existing file into ``backup/``.

Around them the journal lists the directories to create (outermost first) and the directories a
removal leaves empty, which are pruned (deepest first). :func:`undo` reverses all of it from
whatever point a crash left, and can itself be interrupted and run again: a file in ``backup/``
goes back to its place; a path that held nothing before is emptied; directories are re-created
or removed. Every move happens through directory descriptors opened without following symlinks
(:func:`~mamori.core.paths.open_beneath`), so a symlink planted after planning is refused, not
followed out of the root.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from mamori.core import files
from mamori.core.paths import lstat_beneath, open_beneath, parents
from mamori.errors import Conflict, InvalidInput

FORMAT = "mamori-journal/1"
JOURNAL = "journal.json"
STAGE = "stage"
BACKUP = "backup"
DIR_MODE = 0o755

Checkpoint = Callable[[str], None]


class Action(StrEnum):
    WRITE = "write"
    REMOVE = "remove"


class TxnKind(StrEnum):
    APPLY = "apply"
    UNINSTALL = "uninstall"


@dataclass(frozen=True)
class Op:
    path: str
    action: Action
    existed: bool  # a regular file was at ``path`` before; it is kept in ``backup/path``


@dataclass(frozen=True)
class Plan:
    ops: tuple[Op, ...]
    mkdirs: tuple[tuple[str, int], ...]  # (path, mode), outermost first
    prunes: tuple[tuple[str, int], ...]  # (path, mode), deepest first


@dataclass(frozen=True)
class Journal:
    """One transaction, as written before it touches the root; kept afterwards as its record."""

    txn: str
    kind: TxnKind
    bundle_id: str
    plan: Plan
    undoes: str = ""  # an uninstall: the transaction it undoes
    stop: tuple[str, ...] = ()  # services stopped around the swap
    restart: tuple[str, ...] = ()  # services restarted once it is committed
    reboot_reason: str = ""

    def to_data(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "txn": self.txn,
            "kind": self.kind.value,
            "bundle_id": self.bundle_id,
            "undoes": self.undoes,
            "ops": [[op.path, op.action.value, op.existed] for op in self.plan.ops],
            "mkdirs": [list(item) for item in self.plan.mkdirs],
            "prunes": [list(item) for item in self.plan.prunes],
            "stop": list(self.stop),
            "restart": list(self.restart),
            "reboot_reason": self.reboot_reason,
        }

    @classmethod
    def from_data(cls, data: Any) -> Journal:
        try:
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r}")
            plan = Plan(
                ops=tuple(Op(str(p), Action(a), bool(e)) for p, a, e in data["ops"]),
                mkdirs=tuple((str(p), int(m)) for p, m in data["mkdirs"]),
                prunes=tuple((str(p), int(m)) for p, m in data["prunes"]),
            )
            return cls(
                txn=str(data["txn"]),
                kind=TxnKind(data["kind"]),
                bundle_id=str(data["bundle_id"]),
                plan=plan,
                undoes=str(data["undoes"]),
                stop=tuple(str(s) for s in data["stop"]),
                restart=tuple(str(s) for s in data["restart"]),
                reboot_reason=str(data["reboot_reason"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInput(f"a damaged journal: {error}", field="journal") from None


# -- files written atomically ----------------------------------------------------------------------


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` atomically and durably."""
    files.write_atomic(path, json.dumps(data, sort_keys=True, indent=1).encode())


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or ``None`` if there is no such file."""
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise InvalidInput(f"{path} is damaged: {error}", field=path.name) from None


# -- planning --------------------------------------------------------------------------------------


def plan(
    root: Path,
    writes: Sequence[str],
    removes: Sequence[str],
    *,
    prune_within: Collection[str] | None = None,
    dir_modes: Mapping[str, int] | None = None,
) -> Plan:
    """The operations that put ``writes`` in place and take ``removes`` away, checked for safety.

    Refuses (:class:`InvalidInput`) a symlink or a non-directory on the way to any path, and a
    symlink, directory, device, FIFO or socket at a path. Removing a path that is absent is
    nothing to do. Directories a removal leaves empty are pruned (only those in
    ``prune_within`` when given); ``dir_modes`` gives modes for directories to create.
    """
    ops: list[Op] = []
    mkdirs: dict[str, int] = {}
    for path in writes:
        ops.append(Op(path, Action.WRITE, _regular_or_none(root, path)))
        for parent in parents(path):
            if parent not in mkdirs and lstat_beneath(root, parent) is None:
                mkdirs[parent] = (dir_modes or {}).get(parent, DIR_MODE)
    for path in removes:
        if _regular_or_none(root, path):
            ops.append(Op(path, Action.REMOVE, True))
    gone = {op.path for op in ops if op.action is Action.REMOVE}
    kept = {d for path in writes for d in parents(path)}
    prunes = _prunable(root, gone, kept, prune_within)
    return Plan(tuple(ops), tuple(mkdirs.items()), prunes)


def _regular_or_none(root: Path, path: str) -> bool:
    st = lstat_beneath(root, path)
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise InvalidInput(f"{path!r} is a symlink in the install root; refusing to replace it")
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{path!r} is a directory where the update puts a file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path!r} is a device, FIFO or socket, not a regular file")
    return True


def _prunable(
    root: Path, gone: set[str], kept: set[str], within: Collection[str] | None
) -> tuple[tuple[str, int], ...]:
    candidates = {d for path in gone for d in parents(path)} - kept
    if within is not None:
        candidates &= set(within)
    prunes: list[tuple[str, int]] = []
    for directory in sorted(candidates, key=lambda d: (-d.count("/"), d)):
        st = lstat_beneath(root, directory)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        if all(f"{directory}/{name}" in gone for name in os.listdir(root / directory)):
            prunes.append((directory, stat.S_IMODE(st.st_mode)))
            gone.add(directory)
    return tuple(prunes)


def backup_dirs(journal: Journal) -> list[str]:
    """The directories ``backup/`` needs before the swap, outermost first."""
    needed = {d for op in journal.plan.ops if op.existed for d in parents(op.path)}
    return sorted(needed, key=lambda d: (d.count("/"), d))


# -- swap and undo ---------------------------------------------------------------------------------


def swap(root: Path, txn_dir: Path, journal: Journal, checkpoint: Checkpoint) -> None:
    """Carry out the journal's operations, forward."""
    stage, backup = txn_dir / STAGE, txn_dir / BACKUP
    for path, mode in journal.plan.mkdirs:
        _mkdir(root, path, mode)
    checkpoint("swap:dirs")
    for index, op in enumerate(journal.plan.ops):
        if op.existed:
            _move(root, backup, op.path)
            checkpoint(f"swap:{index}:backed-up")
        if op.action is Action.WRITE:
            _place(stage, root, op.path)
            checkpoint(f"swap:{index}:placed")
    for path, _mode in journal.plan.prunes:
        _in_dir(root, path, lambda fd, name: os.rmdir(name, dir_fd=fd))
    _sync(root, txn_dir, journal)
    checkpoint("swapped")


def undo(root: Path, txn_dir: Path, journal: Journal, checkpoint: Checkpoint) -> None:
    """Put back exactly what was there before, from any point of :func:`swap` (or of undo)."""
    backup = txn_dir / BACKUP
    for path, mode in reversed(journal.plan.prunes):
        _mkdir(root, path, mode)
    checkpoint("rollback:dirs")
    for index in reversed(range(len(journal.plan.ops))):
        op = journal.plan.ops[index]
        if _exists(backup, op.path):
            _move(backup, root, op.path)
        elif not op.existed and _placed_here(txn_dir / STAGE, root, op.path):
            _in_dir(root, op.path, _unlink_if_present, missing_ok=True)
        checkpoint(f"rollback:{index}")
    for path, _mode in reversed(journal.plan.mkdirs):
        _in_dir(root, path, _rmdir_if_empty, missing_ok=True)
    _sync(root, txn_dir, journal)
    checkpoint("rollback:restored")


def _placed_here(stage: Path, root: Path, path: str) -> bool:
    """Whether the file at ``root/path`` is the one this transaction put there: its staged copy
    is gone (placed) or is the same inode (linked, not yet unlinked). A file that appeared there
    from elsewhere during the transaction is left alone."""
    try:
        target = lstat_beneath(root, path)
        staged = lstat_beneath(stage, path)
    except InvalidInput:
        return False
    if target is None:
        return False
    return staged is None or (staged.st_dev, staged.st_ino) == (target.st_dev, target.st_ino)


def _exists(base: Path, path: str) -> bool:
    try:
        return lstat_beneath(base, path) is not None
    except InvalidInput:
        return False


def _mkdir(root: Path, path: str, mode: int) -> None:
    def make(fd: int, name: str) -> None:
        try:
            os.mkdir(name, mode, dir_fd=fd)
        except FileExistsError:
            return
        created = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            os.fchmod(created, mode)  # mkdir's mode is filtered by the umask
        finally:
            os.close(created)

    _in_dir(root, path, make)


def _move(source: Path, target: Path, path: str) -> None:
    """Rename ``source/path`` to ``target/path`` (replacing it), without following symlinks."""
    parent = str(PurePosixPath(path).parent)
    name = PurePosixPath(path).name
    src_fd = _open_dir(source, parent)
    try:
        dst_fd = _open_dir(target, parent)
        try:
            os.rename(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _place(stage: Path, root: Path, path: str) -> None:
    """Put the staged file in place with a hard link, which never replaces a file: if anything
    appeared at the path since it was planned (there is nothing there after the backup), the
    swap fails and is undone. Filesystems without hard links get a rename instead."""
    parent = str(PurePosixPath(path).parent)
    name = PurePosixPath(path).name
    src_fd = _open_dir(stage, parent)
    try:
        dst_fd = _open_dir(root, parent)
        try:
            try:
                os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            except FileExistsError:
                raise Conflict(f"{path!r} appeared in the install root during the update") from None
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                os.rename(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            else:
                os.unlink(name, dir_fd=src_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _open_dir(base: Path, directory: str) -> int:
    if directory in ("", "."):
        return os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    return open_beneath(base, directory, os.O_RDONLY | os.O_DIRECTORY)


def _in_dir(
    base: Path, path: str, action: Callable[[int, str], None], *, missing_ok: bool = False
) -> None:
    """Run ``action(dir_fd, name)`` for ``base/path`` with its parent opened beneath ``base``."""
    try:
        fd = _open_dir(base, str(PurePosixPath(path).parent))
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        action(fd, PurePosixPath(path).name)
    finally:
        os.close(fd)


def _unlink_if_present(fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=fd)


def _rmdir_if_empty(fd: int, name: str) -> None:
    try:
        os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno != errno.ENOTEMPTY:
            raise


def _sync(root: Path, txn_dir: Path, journal: Journal) -> None:
    """fsync every directory whose entries changed, so the moves are durable before a commit."""
    touched: set[Path] = set()
    for op in journal.plan.ops:
        parent = str(PurePosixPath(op.path).parent)
        for base in (root, txn_dir / BACKUP, txn_dir / STAGE):
            touched.add(base if parent == "." else base / parent)
    for path, _mode in (*journal.plan.mkdirs, *journal.plan.prunes):
        parent = str(PurePosixPath(path).parent)
        touched.add(root if parent == "." else root / parent)
    for directory in sorted(touched):
        _fsync_if_dir(directory)


def _fsync_if_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return  # gone (pruned, or never created): nothing to sync
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(paths: Iterable[Path]) -> None:
    """fsync each directory in ``paths`` that exists."""
    for path in paths:
        _fsync_if_dir(path)
