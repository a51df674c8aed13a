"""The transactional installer: one code path, identical for every product.

An install root holds a product's files and, in ``.mamori/``, the installer's own state::

    .mamori/
      lock                  flock'ed while an installer works on the root
      state.json            product, version, history; rewritten atomically: THE commit point
      txn/<txn>/            one transaction in flight
        stage/              the new files, verified, waiting to be put in place
        backup/             the files the swap replaced or removed
        journal.json        every operation, written (fsynced) before the first change
      history/<txn>/        an installed update: its journal and backup/, kept for uninstall
      services.json         services stopped and restarts owed by the current batch
      reboot-required       reasons a reboot is needed, one a line (never reboots by itself)

A transaction (:meth:`Installer.apply` for each source, or :meth:`Installer.uninstall`) checks
that the update fits the root before touching anything, stages and verifies the new files, runs
the pre-install checks, stops services, writes its journal, swaps the files (the old ones move to
``backup/``), runs the post-install checks and commits by writing ``state.json`` naming the
transaction. A transaction whose journal exists but which ``state.json`` does not name was
interrupted and is undone (:func:`mamori.core.journal.undo`); one it names is finished. Either
way the root holds exactly the old files or exactly the new ones. ``checkpoint`` is called at
every step boundary, so tests can kill the process at each one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform as host
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mamori.core import actions, files
from mamori.core import journal as journals
from mamori.core import manifest as manifests
from mamori.core.actions import CommandServices, NoServices, ServiceManager
from mamori.core.bundle import extract, read_manifest, write_verified
from mamori.core.journal import JOURNAL, STAGE, Action, Journal, TxnKind
from mamori.core.manifest import Check, Kind, Manifest, ServiceAction
from mamori.core.paths import STATE_DIR, lstat_beneath, open_beneath
from mamori.errors import (
    Conflict,
    Error,
    InsufficientSpace,
    InvalidInput,
    NotApplicable,
    NotFound,
    RolledBack,
    ServiceFailed,
    VerificationFailed,
)

__all__ = [
    "CommandServices",
    "Installed",
    "Installer",
    "NoServices",
    "Outcome",
    "ServiceFailed",
    "ServiceManager",
    "Source",
    "State",
    "default_platform",
]

STATE_FORMAT = "mamori-state/1"
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


# -- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    txn: str
    bundle_id: str
    kind: str
    from_version: str | None
    to_version: str
    installed_at: str


@dataclass(frozen=True)
class State:
    product: str | None
    version: str | None
    platform: str
    history: tuple[Installed, ...]  # oldest first


@dataclass(frozen=True)
class Source:
    """What to install: a bundle file, or a manifest and a payload directory already verified."""

    manifest: Manifest
    bundle: Path | None = None
    payload_dir: Path | None = None

    def __post_init__(self) -> None:
        if (self.bundle is None) == (self.payload_dir is None):
            raise InvalidInput("give a bundle or a payload directory, not both or neither")
        manifests.check(self.manifest)  # a Manifest built by hand is checked like a parsed one

    @classmethod
    def from_bundle(cls, path: Path, expect: Manifest | None = None) -> Source:
        """The bundle at ``path``; its manifest is read and validated, the payload not yet."""
        manifest = read_manifest(path)
        if expect is not None and manifest.to_json() != expect.to_json():
            raise VerificationFailed(f"{path.name}: its manifest is not the expected one")
        return cls(manifest, bundle=path)

    @classmethod
    def from_payload(cls, manifest: Manifest, payload_dir: Path) -> Source:
        return cls(manifest, payload_dir=payload_dir)


@dataclass(frozen=True)
class Outcome:
    installed: tuple[str, ...]
    uninstalled: tuple[str, ...]
    version: str | None
    restarted: tuple[str, ...]  # restarted, or stopped around the swap and started again
    reboot_required: bool
    reboot_reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Stored:
    """``state.json``: the public state plus what the installer alone needs."""

    product: str | None = None
    version: str | None = None
    last_txn: str = ""
    history: tuple[Installed, ...] = ()
    supersedes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "product": self.product,
            "version": self.version,
            "last_txn": self.last_txn,
            "history": [
                {**vars(e), "supersedes": list(self.supersedes.get(e.bundle_id, ()))}
                for e in self.history
            ],
        }

    @classmethod
    def from_data(cls, data: Any) -> _Stored:
        if data["format"] != STATE_FORMAT:
            raise ValueError(f"format {data['format']!r}")
        history = tuple(
            Installed(
                e["txn"],
                e["bundle_id"],
                e["kind"],
                e["from_version"],
                e["to_version"],
                e["installed_at"],
            )
            for e in data["history"]
        )
        supersedes = {e["bundle_id"]: tuple(e["supersedes"]) for e in data["history"]}
        return cls(data["product"], data["version"], data["last_txn"], history, supersedes)

    @property
    def where(self) -> str:
        return f"{self.product} {self.version}" if self.product else "nothing installed"


class _CheckFailed(Exception):
    """A post-install check failed (internal: becomes :class:`RolledBack`)."""


def default_platform() -> str:
    """This machine as a manifest platform: ``linux-x86_64``, ``darwin-arm64``..."""
    system = re.sub(r"[^a-z0-9]", "", sys.platform.lower()) or "unknown"
    machine = re.sub(r"[^a-z0-9_]", "_", host.machine().lower()) or "unknown"
    return f"{system}-{machine}"


# -- the installer ---------------------------------------------------------------------------------


class Installer:
    def __init__(
        self,
        root: Path,
        *,
        services: ServiceManager | None = None,
        platform: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self._root = Path(os.path.abspath(root))
        self._services: ServiceManager = services if services is not None else NoServices()
        self._platform = platform if platform is not None else default_platform()
        if not re.fullmatch(manifests.PLATFORM_PATTERN, self._platform):
            raise InvalidInput(f"{self._platform!r} is not a platform", field="platform")
        self._checkpoint: Callable[[str], None] = checkpoint or _no_checkpoint
        self._dir = self._root / STATE_DIR
        self._state_file = self._dir / "state.json"
        self._txns = self._dir / "txn"
        self._history = self._dir / "history"
        self._services_file = self._dir / "services.json"
        self._reboot_file = self._dir / "reboot-required"

    # -- public ------------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The install root (absolute)."""
        return self._root

    def state(self) -> State:
        """The installed product, version and history (an interrupted transaction is resolved
        first; service actions a crashed batch still owes are left for :meth:`recover`)."""
        if not self._has_state_dir():
            return State(None, None, self._platform, ())
        with self._locked():
            self._recover(run_services=False)
            return self._public(self._load())

    def adopt(self, product: str, version: str) -> State:
        """Take over a tree installed outside Mamori: record its product and version."""
        if not re.fullmatch(manifests.ID_PATTERN, product):
            raise InvalidInput(f"{product!r} is not a product id", field="product")
        manifests.check_version(version)
        with self._locked():
            self._recover()
            stored = self._load()
            if stored.product is not None:
                raise Conflict(f"this root already has {stored.where}; there is nothing to adopt")
            self._save(_Stored(product, version, f"adopt-{_new_txn()}"))
            return self._public(self._load())

    def apply(self, sources: Sequence[Source]) -> Outcome:
        """Install each source in order, each in its own transaction; restarts are coalesced."""
        with self._locked():
            self._recover()
            self._check_batch(sources)
            installed: list[str] = []
            try:
                for source in sources:
                    self._apply_one(source)
                    installed.append(source.manifest.id)
            except BaseException as error:
                self._services_after(error)
                raise
            restarted = self._services_after(None)
            reasons = [
                s.manifest.reboot_reason
                for s in sources
                if s.manifest.id in installed and s.manifest.reboot_required
            ]
            return self._outcome(installed, [], restarted, reasons)

    def uninstall(self, bundle_id: str) -> Outcome:
        """Undo the latest installed update; the root returns to the version before it."""
        with self._locked():
            self._recover()
            stored = self._load()
            ids = [e.bundle_id for e in stored.history]
            if bundle_id not in ids:
                raise NotFound(f"bundle {bundle_id} is not installed on this root")
            after = ids[ids.index(bundle_id) + 1 :]
            if after:
                raise Conflict(
                    f"bundle {bundle_id} is not the latest update; "
                    f"uninstall {', '.join(reversed(after))} first"
                )
            try:
                reason = self._uninstall_one(stored)
            except BaseException as error:
                self._services_after(error)
                raise
            restarted = self._services_after(None)
            return self._outcome([], [bundle_id], restarted, [reason] if reason else [])

    def rollback(self) -> str:
        """Roll back an interrupted transaction; the root returns to the old version."""
        with self._locked():
            pending = self._pending()
            if not pending:
                raise Conflict(
                    f"nothing to roll back: no transaction was interrupted in {self._root}"
                )
            results = [self._resolve(journal) for journal in pending]
            self._sweep()
            self._services_after(None)
            done = [message for committed, message in results if committed]
            if done:
                raise Conflict(
                    f"nothing to roll back: the transaction had committed ({'; '.join(done)}); "
                    "uninstall the update to go back"
                )
            return "; ".join(message for _committed, message in results)

    def recover(self) -> str | None:
        """Finish a committed transaction or roll back an uncommitted one; owed restarts run."""
        if not self._has_state_dir():
            return None
        with self._locked():
            return self._recover()

    # -- one update --------------------------------------------------------------------------------

    def _check_batch(self, sources: Sequence[Source]) -> None:
        """Refuse the whole batch before touching anything if one of them cannot fit."""
        stored = self._load()
        for source in sources:
            manifest = source.manifest
            problem = self._applicability(manifest, stored)
            if problem:
                raise NotApplicable(problem)
            stored = _Stored(
                manifest.product,
                manifest.to_version,
                "",
                (*stored.history, Installed("", manifest.id, "", None, "", "")),
                {**stored.supersedes, manifest.id: manifest.supersedes},
            )

    def _applicability(self, m: Manifest, stored: _Stored) -> str | None:
        name = f"bundle {m.id}"
        installed = {e.bundle_id for e in stored.history}
        superseded = {s for ids in stored.supersedes.values() for s in ids}
        if m.id in installed:
            return f"{name} is already installed on this root"
        if m.id in superseded:
            return f"{name} is superseded by an update installed on this root"
        if stored.product is None and m.kind is not Kind.FULL:
            return f"{name} is a {m.kind.value} for {m.product}; only a full install can go first"
        if stored.product is not None and m.product != stored.product:
            return f"{name} is for product {m.product}; this root has {stored.where}"
        if not m.applies_to(stored.version):
            wanted = ", ".join(m.from_versions) or "nothing (it is a fresh install)"
            return f"{name} updates {wanted}; this root has {stored.where}"
        if m.platforms and self._platform not in m.platforms:
            return f"{name} is for {', '.join(m.platforms)}; this machine is {self._platform}"
        missing = [p for p in m.prerequisites if p not in installed and p not in superseded]
        if missing:
            return f"{name} needs {', '.join(missing)} installed first"
        return None

    def _apply_one(self, source: Source) -> None:
        m = source.manifest
        stored = self._load()
        problem = self._applicability(m, stored)
        if problem:
            raise NotApplicable(problem)
        self._check_required_files(m)
        writes = [f.path for f in m.files]
        journals.plan(self._root, writes, m.removes)  # refuses unsafe paths before any work
        self._check_space(m)
        self._checkpoint("space-checked")
        txn = _new_txn()
        txn_dir = self._txns / txn
        with self._unjournaled(txn_dir, f"bundle {m.id}"):
            txn_dir.mkdir(mode=0o700)
            self._stage(source, txn_dir / STAGE)
            self._checkpoint("staged")
            failure = actions.first_failure(self._root, m.pre_checks)
            if failure:
                raise NotApplicable(f"bundle {m.id} failed the pre-install check {failure}")
            self._checkpoint("pre-checked")
            stop = tuple(s.name for s in m.services if s.action is ServiceAction.STOP)
            self._stop(stop)
            self._checkpoint("stopped")
            journal = Journal(
                txn,
                TxnKind.APPLY,
                m.id,
                journals.plan(self._root, writes, m.removes),
                stop=stop,
                restart=tuple(s.name for s in m.services if s.action is ServiceAction.RESTART),
                reboot_reason=_one_line(m.reboot_reason) if m.reboot_required else "",
            )
            self._write_journal(txn_dir, journal)
        self._checkpoint("journaled")
        entry = Installed(txn, m.id, m.kind.value, stored.version, m.to_version, _now())
        after = _Stored(
            m.product,
            m.to_version,
            txn,
            (*stored.history, entry),
            {**stored.supersedes, m.id: m.supersedes},
        )
        self._transact(journal, after, m.post_checks, f"bundle {m.id}")

    def _uninstall_one(self, stored: _Stored) -> str:
        entry = stored.history[-1]
        record_dir = self._history / entry.txn
        data = journals.read_json(record_dir / JOURNAL)
        if data is None:
            raise VerificationFailed(
                f"the backups of {entry.bundle_id} are missing from {record_dir}"
            )
        record = Journal.from_data(data)
        restores = [op.path for op in record.plan.ops if op.existed]
        removes = [
            op.path for op in record.plan.ops if op.action is Action.WRITE and not op.existed
        ]
        prune = {path for path, _mode in record.plan.mkdirs}
        modes = dict(record.plan.prunes)
        journals.plan(self._root, restores, removes, prune_within=prune, dir_modes=modes)
        txn = _new_txn()
        txn_dir = self._txns / txn
        label = f"the uninstall of {entry.bundle_id}"
        reason = (
            f"{record.reboot_reason} (uninstalled {entry.bundle_id})"
            if record.reboot_reason
            else ""
        )
        with self._unjournaled(txn_dir, label):
            txn_dir.mkdir(mode=0o700)
            for path in restores:
                _stage_backup(record_dir / journals.BACKUP, txn_dir / STAGE, path, entry.bundle_id)
            self._checkpoint("staged")
            self._stop(record.stop)
            self._checkpoint("stopped")
            plan = journals.plan(self._root, restores, removes, prune_within=prune, dir_modes=modes)
            journal = Journal(
                txn,
                TxnKind.UNINSTALL,
                entry.bundle_id,
                plan,
                undoes=entry.txn,
                stop=record.stop,
                restart=record.restart,
                reboot_reason=reason,
            )
            self._write_journal(txn_dir, journal)
        self._checkpoint("journaled")
        supersedes = {k: v for k, v in stored.supersedes.items() if k != entry.bundle_id}
        product = stored.product if entry.from_version is not None else None
        after = _Stored(product, entry.from_version, txn, stored.history[:-1], supersedes)
        self._transact(journal, after, (), label)
        return reason

    def _transact(
        self, journal: Journal, after: _Stored, post_checks: Sequence[Check], label: str
    ) -> None:
        """Swap, check and commit a journaled transaction; undo it on any failure."""
        before = self._load()
        try:
            journals.swap(self._root, self._txns / journal.txn, journal, self._checkpoint)
            failure = actions.first_failure(self._root, post_checks)
            if failure:
                raise _CheckFailed(failure)
            self._checkpoint("post-checked")
            self._save(after)
        except BaseException as error:
            committed, _message = self._resolve(journal)
            if committed or not isinstance(error, Exception):
                raise
            raise _rolled_back(label, before, error) from error
        self._checkpoint("committed")
        self._finish(journal)
        self._checkpoint("cleaned")

    # -- steps -------------------------------------------------------------------------------------

    def _check_required_files(self, m: Manifest) -> None:
        for required in m.requires_files:
            st = lstat_beneath(self._root, required.path)
            if st is None or not stat.S_ISREG(st.st_mode):
                raise NotApplicable(f"bundle {m.id} needs {required.path}, which this root lacks")
            if (
                required.sha256
                and actions.sha256_beneath(self._root, required.path) != required.sha256
            ):
                raise NotApplicable(
                    f"bundle {m.id} needs {required.path} as shipped; this root's copy differs"
                )

    def _check_space(self, m: Manifest) -> None:
        st = os.statvfs(self._dir)
        block = st.f_frsize or 4096
        count = len(m.files) + 64  # directories, the journal, state: a generous allowance
        need = sum(-(-f.size // block) * block for f in m.files) + count * block
        free = st.f_bavail * block
        if need > free or (st.f_files and st.f_favail < count):
            raise InsufficientSpace(
                f"bundle {m.id} needs about {_mib(need)} in {self._root}, where {_mib(free)} "
                "is free; nothing was changed"
            )

    def _stage(self, source: Source, stage: Path) -> None:
        if source.bundle is not None:
            extract(source.bundle, stage, expect=source.manifest)
            return
        assert source.payload_dir is not None
        stage.mkdir(mode=0o700)
        for entry in source.manifest.files:
            with os.fdopen(open_beneath(source.payload_dir, entry.path), "rb") as handle:
                write_verified(handle, stage, entry, str(source.payload_dir))

    @contextmanager
    def _unjournaled(self, txn_dir: Path, label: str) -> Iterator[None]:
        """Until its journal is written a transaction has touched nothing: a failure only
        removes its directory. A full disk becomes :class:`InsufficientSpace`."""
        try:
            yield
        except BaseException as error:
            _remove_tree(txn_dir)
            if isinstance(error, OSError) and error.errno in _FULL_DISK:
                raise InsufficientSpace(
                    f"the disk filled up while staging {label}; nothing was changed"
                ) from None
            raise

    def _write_journal(self, txn_dir: Path, journal: Journal) -> None:
        backup = txn_dir / journals.BACKUP
        backup.mkdir(mode=0o700)
        for directory in journals.backup_dirs(journal):
            (backup / directory).mkdir(mode=0o700)
        journals.write_json(txn_dir / JOURNAL, journal.to_data())
        files.fsync_dir(self._txns)

    def _stop(self, names: Sequence[str]) -> None:
        """Stop services not yet stopped in this batch; recorded first, to be started later."""
        pending = self._pending_services()
        new = [name for name in names if name not in pending["stop"]]
        if new:
            self._note_services(stop=new)
            for name in new:
                self._services.stop(name)

    def _resolve(self, journal: Journal) -> tuple[bool, str]:
        """Finish ``journal``'s transaction if it committed, else undo it. Idempotent."""
        what = "uninstalling" if journal.kind is TxnKind.UNINSTALL else "installing"
        txn_dir = self._txns / journal.txn
        if self._load().last_txn == journal.txn:
            self._finish(journal)
            return True, f"completed {what} {journal.bundle_id}"
        journals.undo(self._root, txn_dir, journal, self._checkpoint)
        (txn_dir / JOURNAL).unlink(missing_ok=True)
        files.fsync_dir(txn_dir)
        _remove_tree(txn_dir)
        self._checkpoint("rolled-back")
        return False, f"rolled back {what} {journal.bundle_id}; {self._load().where}"

    def _finish(self, journal: Journal) -> None:
        """After the commit: owed restarts and reboot noted, backups kept, staging removed."""
        self._note_services(restart=journal.restart)
        if journal.reboot_reason:
            self._note_reboot(journal.reboot_reason)
        txn_dir = self._txns / journal.txn
        if journal.kind is TxnKind.APPLY:
            _remove_tree(txn_dir / STAGE)
            if txn_dir.exists():
                os.rename(txn_dir, self._history / journal.txn)
                journals.sync_tree([self._txns, self._history])
        else:
            _remove_tree(self._history / journal.undoes)
            (txn_dir / JOURNAL).unlink(missing_ok=True)
            _remove_tree(txn_dir)
            journals.sync_tree([self._txns, self._history])

    def _recover(self, *, run_services: bool = True) -> str | None:
        messages = [message for _committed, message in map(self._resolve, self._pending())]
        self._sweep()
        restarted, failures = self._run_services() if run_services else ((), [])
        if restarted:
            messages.append("started or restarted " + ", ".join(restarted))
        messages.extend(failures)
        return "; ".join(messages) or None

    def _sweep(self) -> None:
        """Remove what no transaction owns: staging never journaled, records no longer listed."""
        for txn_dir in self._txns.iterdir():
            _remove_tree(txn_dir)
        kept = {e.txn for e in self._load().history}
        for record in self._history.iterdir():
            if record.name not in kept:
                _remove_tree(record)
        for leftover in self._dir.glob(".*.tmp"):
            leftover.unlink()

    def _pending(self) -> list[Journal]:
        found = [journals.read_json(d / JOURNAL) for d in sorted(self._txns.iterdir())]
        return [Journal.from_data(data) for data in found if data is not None]

    # -- services and reboots ----------------------------------------------------------------------

    def _pending_services(self) -> dict[str, list[str]]:
        data = journals.read_json(self._services_file)
        return data if isinstance(data, dict) else {"stop": [], "restart": []}

    def _note_services(self, *, stop: Sequence[str] = (), restart: Sequence[str] = ()) -> None:
        if not stop and not restart:
            return
        pending = self._pending_services()
        for key, names in (("stop", stop), ("restart", restart)):
            pending[key] = list(dict.fromkeys([*pending[key], *names]))
        journals.write_json(self._services_file, pending)

    def _services_after(self, error: BaseException | None) -> tuple[str, ...]:
        """Run the batch's owed service actions; a failure is raised, or noted on ``error``."""
        restarted, failures = self._run_services()
        if failures and error is not None:
            error.add_note("and then: " + "; ".join(failures))
        elif failures:
            raise ServiceFailed("the update is in place, but " + "; ".join(failures))
        return restarted

    def _run_services(self) -> tuple[tuple[str, ...], list[str]]:
        """Start what the batch stopped, restart (once) what it owes; then forget them."""
        if not self._services_file.exists():
            return (), []
        pending = self._pending_services()
        done: list[str] = []
        failures: list[str] = []
        actions = [(self._services.start, name) for name in pending["stop"]] + [
            (self._services.restart, name)
            for name in pending["restart"]
            if name not in pending["stop"]
        ]
        for action, name in actions:
            try:
                action(name)
                done.append(name)
            except Error as error:
                failures.append(error.message)
        self._checkpoint("services")
        self._services_file.unlink()
        files.fsync_dir(self._dir)
        return tuple(done), failures

    def _note_reboot(self, reason: str) -> None:
        try:
            lines = self._reboot_file.read_text("utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        if reason not in lines:
            files.write_atomic(
                self._reboot_file, "".join(f"{x}\n" for x in [*lines, reason]).encode()
            )

    def _outcome(
        self,
        installed: Sequence[str],
        uninstalled: Sequence[str],
        restarted: Sequence[str],
        reasons: Sequence[str],
    ) -> Outcome:
        unique = tuple(dict.fromkeys(_one_line(r) for r in reasons))
        return Outcome(
            tuple(installed),
            tuple(uninstalled),
            self._load().version,
            tuple(restarted),
            bool(unique),
            unique,
        )

    # -- state and lock ----------------------------------------------------------------------------

    def _has_state_dir(self) -> bool:
        try:
            st = os.lstat(self._dir)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{self._dir} is a symlink or not a directory; refusing it")
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._root.is_dir():
            raise InvalidInput(f"{self._root} is not a directory", field="root")
        if not self._has_state_dir():
            with contextlib.suppress(FileExistsError):
                self._dir.mkdir(mode=0o700)
            self._has_state_dir()  # refuses a symlink planted meanwhile
        for directory in (self._txns, self._history):
            directory.mkdir(mode=0o700, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._dir / "lock", flags, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(f"another installer is working on {self._root}") from None
            yield
        finally:
            os.close(fd)

    def _load(self) -> _Stored:
        data = journals.read_json(self._state_file)
        if data is None:
            return _Stored()
        try:
            return _Stored.from_data(data)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInput(f"{self._state_file} is damaged: {error}", field="state") from None

    def _save(self, stored: _Stored) -> None:
        journals.write_json(self._state_file, stored.to_data())

    def _public(self, stored: _Stored) -> State:
        return State(stored.product, stored.version, self._platform, stored.history)


# -- helpers ---------------------------------------------------------------------------------------


def _no_checkpoint(name: str) -> None:
    return None


def _rolled_back(label: str, before: _Stored, error: Exception) -> Error:
    undone = f"it was rolled back and the root has {before.where}"
    if isinstance(error, OSError) and error.errno in _FULL_DISK:
        return InsufficientSpace(f"{label} ran out of disk space; {undone}")
    if isinstance(error, _CheckFailed):
        return RolledBack(f"{label} failed the post-install check {error}; {undone}")
    return RolledBack(f"{label} failed ({error}); {undone}")


def _stage_backup(backup: Path, stage: Path, path: str, bundle_id: str) -> None:
    """Stage a kept backup for an uninstall: a hard link (no space needed), or a copy."""
    st = lstat_beneath(backup, path)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise VerificationFailed(f"the backup of {path!r} from {bundle_id} is missing")
    target = stage / path
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.link(backup / path, target, follow_symlinks=False)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        shutil.copy2(backup / path, target, follow_symlinks=False)
        with target.open("rb+") as handle:
            os.fsync(handle.fileno())


def _remove_tree(path: Path) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path)


def _new_txn() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
