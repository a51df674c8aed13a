"""The TUF repository that publishes updates: signed metadata and target files in a directory.

Everything cryptographic is python-tuf's (``tuf.api.metadata``) and securesystemslib's
(``CryptoSigner``, ed25519); this module decides what is signed, by which key, and in which order
files are written. The layout, served as static files (serve ``metadata/`` and ``targets/``)::

    <repository>/
      metadata/
        1.root.json 2.root.json …      every root version: clients that are behind walk them all
        N.targets.json                 top-level targets: no targets, one hashed-bin delegation
        N.bins-00.json … N.bins-ff.json  the bins (SuccinctRoles), where every target lives
        N.snapshot.json
        timestamp.json                 the only unversioned file, always written last
      targets/
        bundles/portal/<sha256>.portal-2.1.1.mbundle   content-addressed (consistent snapshots)
      drafts/
        N.root.json                    a root version waiting for the offline ceremony
    <keys>/                            mode 0700, never served
      targets.pem bins.pem snapshot.pem timestamp.pem   online keys, PKCS#8 PEM, mode 0600
      <role>.pending.pem               a rotated key whose root version is not imported yet
      root.pem                         development only: a root key kept on the server

The root keys live offline. Root versions are drafted here, signed elsewhere with
:func:`mamori.core.tufkeys.sign_root_draft`, and published by
:meth:`TufRepository.import_root`, which checks the signature thresholds exactly as a client
does. In development (``init(dev=True)``) a root key is generated into the keys directory and
every new root version is signed and published at once.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from securesystemslib.exceptions import FormatError
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Key
from tuf.api.metadata import (
    Delegations,
    Metadata,
    MetaFile,
    Root,
    RootVerificationResult,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from mamori.core import files
from mamori.core.paths import check_relative
from mamori.core.tufkeys import (
    keyid_of,
    load_signer,
    new_key,
    parse_metadata,
    read_input,
    write_file,
)
from mamori.errors import ConfigurationError, Conflict, InvalidInput, NotFound, VerificationFailed

ROOT, TARGETS, SNAPSHOT, TIMESTAMP = Root.type, Targets.type, Snapshot.type, Timestamp.type
BINS = "bins"  #: the delegated hashed bins: one online key signs them all
ONLINE_ROLES = (TARGETS, BINS, SNAPSHOT, TIMESTAMP)
HASH = "sha256"
MAX_BIT_LENGTH = 16  # 65,536 bins; each is one file per version

_SERIALIZER = JSONSerializer(compact=True)
_S = TypeVar("_S", Root, Timestamp, Snapshot, Targets)


@dataclass(frozen=True)
class Expiries:
    """How long each role's metadata is valid once signed, and when :meth:`refresh` renews it.

    Online roles are renewed once less than half their lifetime is left; the root, which needs
    the offline ceremony, once less than ``root_margin`` is left.
    """

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=365)
    bins: timedelta = timedelta(days=90)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)
    root_margin: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        for role in (ROOT, *ONLINE_ROLES):
            if self.lifetime(role) <= timedelta(0):
                raise InvalidInput("must be positive", field=f"expiries.{role}")
        if not timedelta(0) < self.root_margin < self.root:
            raise InvalidInput("must be positive and shorter than the root's", field="root_margin")

    def lifetime(self, role: str) -> timedelta:
        lifetimes = {
            ROOT: self.root,
            TARGETS: self.targets,
            BINS: self.bins,
            SNAPSHOT: self.snapshot,
            TIMESTAMP: self.timestamp,
        }
        return lifetimes[role]

    def margin(self, role: str) -> timedelta:
        return self.root_margin if role == ROOT else self.lifetime(role) / 2


@dataclass(frozen=True)
class RootUpdate:
    """A new root version: published at once, or drafted for the offline ceremony."""

    version: int
    draft: Path | None = None  # the file to sign offline; None once published
    resigned: tuple[str, ...] = ()  # online roles re-signed because the root changed their keys

    @property
    def published(self) -> bool:
        return self.draft is None


def target_url_path(info: TargetFile) -> str:
    """Where a target is under the targets base URL: ``<dir>/<sha256>.<name>``."""
    directory, sep, name = info.path.rpartition("/")
    return f"{directory}{sep}{info.hashes[HASH]}.{name}"


# --- the repository ---------------------------------------------------------------------------


@dataclass
class _State:
    """The published state, read from ``timestamp.json`` down; edited in place, then written."""

    root: Root
    timestamp: Metadata[Timestamp]
    snapshot: Metadata[Snapshot]
    targets: Metadata[Targets]


class TufRepository:
    """A TUF repository on disk (see the module docstring for its layout).

    Open an existing one with ``TufRepository(path, keys_dir)``; create one with :meth:`init`.
    Every change takes an exclusive lock on the repository and writes files in an order that a
    crash cannot break: target files, then delegated metadata, snapshot, and ``timestamp.json``
    last (``os.replace``), so the published timestamp never names a missing file.
    """

    def __init__(
        self,
        path: Path,
        keys_dir: Path,
        *,
        expiries: Expiries = Expiries(),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.keys_dir = Path(keys_dir)
        self.expiries = expiries
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock_depth = 0

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.path / "targets"

    @property
    def drafts_dir(self) -> Path:
        return self.path / "drafts"

    # --- creation ---

    @classmethod
    def init(
        cls,
        path: Path,
        keys_dir: Path,
        *,
        root_keys: Sequence[Key] = (),
        root_threshold: int = 1,
        dev: bool = False,
        bit_length: int = 8,
        expiries: Expiries = Expiries(),
        clock: Callable[[], datetime] | None = None,
    ) -> TufRepository:
        """Create a repository: online keys, empty bins, snapshot, timestamp and root v1.

        With ``root_keys`` (public keys; the private halves stay offline) root v1 is left as an
        unsigned draft in ``drafts/1.root.json`` for the ceremony. ``dev=True`` instead generates
        a root key into ``keys_dir`` and publishes root v1 at once. **Development only**: a root
        key on the server lets whoever takes the server sign any root, which is what keeping the
        root offline exists to prevent.
        """
        repo = cls(path, keys_dir, expiries=expiries, clock=clock)
        repo._create(list(root_keys), root_threshold, dev, bit_length)
        return repo

    def _create(self, root_keys: list[Key], threshold: int, dev: bool, bit_length: int) -> None:
        _check_init(root_keys, threshold, dev, bit_length)
        if self.metadata_dir.is_dir() and any(self.metadata_dir.iterdir()):
            raise Conflict(f"{self.metadata_dir} is not empty: a repository exists there")
        roles = [*ONLINE_ROLES, ROOT] if dev else list(ONLINE_ROLES)
        for role in roles:
            if self._key_path(role).exists():
                raise Conflict(f"{self._key_path(role)} exists; refusing to overwrite a key")
        for directory in (self.metadata_dir, self.targets_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = self._now()
        with self._locked():
            signers = {role: new_key(self._key_path(role)) for role in roles}
            if dev:
                root_keys = [signers[ROOT].public_key]
            root = _first_root(root_keys, threshold, signers, now + self.expiries.root)
            self._write_first_state(root, signers, bit_length, now)
            first = Metadata(root)
            if dev:
                first.sign(signers[ROOT])
                self._publish_root(first, now)
            else:
                write_file(self.drafts_dir / "1.root.json", first.to_bytes(_SERIALIZER))

    def _write_first_state(
        self, root: Root, signers: Mapping[str, CryptoSigner], bit_length: int, now: datetime
    ) -> None:
        bins_key = signers[BINS].public_key
        succinct = SuccinctRoles([bins_key.keyid], 1, bit_length, BINS)
        delegations = Delegations({bins_key.keyid: bins_key}, succinct_roles=succinct)
        targets = Metadata(Targets(delegations=delegations))
        state = _State(root, Metadata(Timestamp()), Metadata(Snapshot(meta={})), targets)
        changed = {name: Metadata(Targets()) for name in succinct.get_roles()}
        changed[TARGETS] = targets
        self._publish(state, changed, now, signers=signers, bump=False)

    # --- targets ---

    def add_targets(
        self,
        files: Mapping[str, Path],
        custom: Mapping[str, dict[str, Any]] | None = None,
        *,
        replace: bool = False,
    ) -> list[TargetFile]:
        """Copy local files in as targets (``{"bundles/portal/portal-2.1.1.mbundle": path}``).

        Each file is stored as ``targets/<dir>/<sha256>.<name>``; its ``custom`` metadata (a JSON
        object without floats, which canonical JSON cannot sign) goes into its bin. Only the bins
        touched are re-signed, then snapshot and timestamp. A path already published with other
        content is refused unless ``replace``.
        """
        custom = custom or {}
        unknown = sorted(set(custom) - set(files))
        if unknown:
            raise InvalidInput(f"custom metadata for targets not given: {unknown}", field="custom")
        extras = {path: _custom_fields(path, custom.get(path)) for path in files}
        for path in files:
            _check_target_path(path)
        infos = [
            self._store_target(path, Path(local), extras[path]) for path, local in files.items()
        ]
        self.add_target_infos(infos, replace=replace)
        return infos

    def add_target_infos(self, infos: Iterable[TargetFile], *, replace: bool = False) -> list[str]:
        """Bulk path: add already-hashed targets to their bins; return the bins re-signed.

        The payload files are not touched: whoever calls this puts each file at
        :meth:`target_file` (``add_targets`` does both).
        """
        with self._locked():
            state = self._state()
            succinct = _succinct(state.targets.signed)
            loaded: dict[str, Metadata[Targets]] = {}
            changed: dict[str, Metadata[Targets]] = {}
            for info in infos:
                _check_target_info(info)
                name = succinct.get_role_for_target(info.path)
                if name not in loaded:
                    loaded[name] = self._read_delegated(state.snapshot, name)
                targets = loaded[name].signed.targets
                old = targets.get(info.path)
                if old == info:
                    continue
                if old is not None and not replace:
                    raise Conflict(f"{info.path} is already published with other content")
                targets[info.path] = info
                changed[name] = loaded[name]
            if changed:
                self._publish(state, changed, self._now())
            return sorted(changed)

    def remove_targets(self, paths: Iterable[str]) -> list[str]:
        """Stop publishing targets (their files stay, for clients mid-update); return the bins."""
        with self._locked():
            state = self._state()
            succinct = _succinct(state.targets.signed)
            changed: dict[str, Metadata[Targets]] = {}
            for path in paths:
                name = succinct.get_role_for_target(path)
                if name not in changed:
                    changed[name] = self._read_delegated(state.snapshot, name)
                if changed[name].signed.targets.pop(path, None) is None:
                    raise NotFound(f"no target {path!r}")
            if changed:
                self._publish(state, changed, self._now())
            return sorted(changed)

    def get_target(self, path: str) -> TargetFile:
        """The published ``TargetFile`` for ``path`` (reads one bin)."""
        state = self._state()
        name = _succinct(state.targets.signed).get_role_for_target(path)
        info = self._read_delegated(state.snapshot, name).signed.targets.get(path)
        if info is None:
            raise NotFound(f"no target {path!r}")
        return info

    def list_targets(self) -> list[TargetFile]:
        """Every published target with its custom metadata (``info.custom``), sorted by path."""
        state = self._state()
        found: list[TargetFile] = []
        for name in _succinct(state.targets.signed).get_roles():
            found.extend(self._read_delegated(state.snapshot, name).signed.targets.values())
        return sorted(found, key=lambda info: info.path)

    def bin_for(self, path: str) -> str:
        """The name of the bin that holds (or would hold) the target ``path``."""
        return _succinct(self._state().targets.signed).get_role_for_target(path)

    def target_file(self, info: TargetFile) -> Path:
        """Where the payload of ``info`` is stored in this repository."""
        return self.targets_dir / target_url_path(info)

    def _store_target(self, path: str, local: Path, extra: dict[str, Any] | None) -> TargetFile:
        """Copy ``local`` into the targets directory while hashing it: what is hashed is stored."""
        directory, _, name = path.rpartition("/")
        destination = self.targets_dir / directory
        try:
            source = local.open("rb")
        except OSError as e:
            raise InvalidInput(f"cannot read {local}: {e.strerror}", field=path) from e
        destination.mkdir(parents=True, exist_ok=True)
        digest, length = hashlib.sha256(), 0
        with source, _atomic(destination, 0o644) as (out, commit):
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                length += len(chunk)
                out.write(chunk)
            commit(destination / f"{digest.hexdigest()}.{name}")
        files.fsync_dir(destination)
        return TargetFile(length, {HASH: digest.hexdigest()}, path, extra)

    # --- expiry ---

    def refresh(self, now: datetime | None = None) -> list[str]:
        """Re-sign what expires soon (see :class:`Expiries`); return the roles re-signed.

        Renews the timestamp, snapshot, targets and each bin once inside its margin, and any
        online role whose metadata no longer verifies (e.g. after a root rotated its key). A root
        inside its margin is renewed when a local (development) root key can sign it; otherwise
        a draft is left for the ceremony and ``ConfigurationError`` is raised, after the online
        roles have been refreshed, so that the scheduler reporting it gets an operator's eye.
        """
        now = _utc(now) if now is not None else self._now()
        with self._locked():
            state = self._state()
            self._promote_keys(state)
            changed: dict[str, Metadata[Targets]] = {}
            if self._stale(state.root, TARGETS, state.targets, now):
                changed[TARGETS] = state.targets
            for name in self._bins_due(state, now):
                changed[name] = self._read_delegated(state.snapshot, name)
            snapshot = self._stale(state.root, SNAPSHOT, state.snapshot, now)
            timestamp = self._stale(state.root, TIMESTAMP, state.timestamp, now)
            done = []
            if changed or snapshot or timestamp:
                done = self._publish(state, changed, now, snapshot=snapshot)
            return done + self._renew_root(state.root, now)

    def _stale(self, root: Root, role: str, md: Metadata[Any], now: datetime) -> bool:
        due = md.signed.expires - now <= self.expiries.margin(role)
        return due or not root.get_verification_result(role, md.signed_bytes, md.signatures)

    def _bins_due(self, state: _State, now: datetime) -> Iterator[str]:
        """Bins inside their margin, read cheaply: only ``signed.expires`` from each file."""
        margin = self.expiries.margin(BINS)
        for name in _succinct(state.targets.signed).get_roles():
            meta = state.snapshot.signed.meta[f"{name}.json"]
            raw = json.loads((self.metadata_dir / f"{meta.version}.{name}.json").read_bytes())
            expires = datetime.strptime(raw["signed"]["expires"], "%Y-%m-%dT%H:%M:%SZ")
            if expires.replace(tzinfo=UTC) - now <= margin:
                yield name

    def _renew_root(self, root: Root, now: datetime) -> list[str]:
        if not self._root_versions() or root.expires - now > self.expiries.root_margin:
            return []
        draft = self.pending_root_draft()
        if draft is None:
            update = self._propose_root(lambda _root: None, now)
            if update.draft is None:
                return [ROOT]
            draft = update.draft
        raise ConfigurationError(
            f"root v{root.version} expires on {root.expires:%Y-%m-%d}: sign {draft} with the "
            "offline root keys and import it"
        )

    # --- root versions and the ceremony ---

    def root_version(self) -> int:
        """The latest published root version (0 while root v1 awaits the ceremony)."""
        versions = self._root_versions()
        return versions[-1] if versions else 0

    def root_bytes(self, version: int | None = None) -> bytes:
        """A published root, e.g. v1 to give clients as their trust anchor (out of band)."""
        version = version or self.root_version()
        path = self.metadata_dir / f"{version}.root.json"
        if not version or not path.is_file():
            raise NotFound(f"root v{version} is not published")
        return path.read_bytes()

    def pending_root_draft(self) -> Path | None:
        """The root draft waiting for offline signatures, if any."""
        drafts = sorted(self.drafts_dir.glob("*.root.json"))
        return drafts[-1] if drafts else None

    def discard_root_draft(self) -> None:
        """Abandon the pending draft and the rotated keys it would have introduced."""
        with self._locked():
            if not self._root_versions():
                raise Conflict("root v1 cannot be abandoned, only signed and imported")
            for path in self.drafts_dir.glob("*.root.json"):
                path.unlink()
            for role in (ROOT, TARGETS, SNAPSHOT, TIMESTAMP):
                self._key_path(role, pending=True).unlink(missing_ok=True)

    def import_root(self, signed_draft: Path) -> RootUpdate:
        """Verify a signed root version and publish it; re-sign online roles whose key changed.

        Refused (``VerificationFailed``) unless signed by a threshold of its own root keys and,
        from v2 on, by a threshold of the previous version's: the check every client makes.
        """
        md = parse_metadata(read_input(signed_draft), Root, str(signed_draft))
        now = self._now()
        with self._locked():
            current = self._root() if self._root_versions() else None
            expected = current.signed.version + 1 if current else 1
            if md.signed.version != expected:
                raise Conflict(f"this is root v{md.signed.version}; the next is v{expected}")
            if not md.signed.consistent_snapshot:
                raise InvalidInput("consistent snapshots must stay on", field="root")
            if md.signed.is_expired(now):
                raise VerificationFailed(f"root v{md.signed.version} has expired")
            previous = current.signed if current else None
            result = md.signed.get_root_verification_result(
                previous, md.signed_bytes, md.signatures
            )
            if not result.verified:
                raise VerificationFailed(_describe(result, md.signed.version))
            self._check_online_keys(md.signed)
            resigned = self._publish_root(md, now)
        return RootUpdate(md.signed.version, None, tuple(resigned))

    def renew_root(self) -> RootUpdate:
        """A new root version with a fresh expiry and nothing else changed."""
        with self._locked():
            return self._propose_root(lambda _root: None, self._now())

    def rotate_key(self, role: str) -> RootUpdate | None:
        """Replace an online role's key with a new one.

        ``bins``: the targets delegation changes and every bin is re-signed at once (None is
        returned). ``targets``/``snapshot``/``timestamp``: the key is in root, so a new root
        version is needed; it is published at once with a development root key, or drafted for
        the ceremony (the new key waits as ``<role>.pending.pem`` until it is imported).
        """
        if role not in ONLINE_ROLES:
            raise InvalidInput(f"not an online role: {role!r}", field="role")
        now = self._now()
        with self._locked():
            if role == BINS:
                self._rotate_bins(now)
                return None
            self._refuse_if_draft_pending()
            signer = new_key(self._key_path(role, pending=True))

            def change(root: Root) -> None:
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                root.add_key(signer.public_key, role)

            return self._propose_root(change, now)

    def rotate_root_keys(
        self, new_keys: Sequence[Key] | None = None, threshold: int = 1
    ) -> RootUpdate:
        """A new root version trusting ``new_keys`` (public keys) with ``threshold``.

        Signed here with the development root key if there is one; the draft then needs the new
        keys' signatures (and the old ones', if offline) before :meth:`import_root`. Without
        ``new_keys``, development only: a new local root key replaces the old one at once.
        """
        now = self._now()
        with self._locked():
            self._refuse_if_draft_pending()
            signers: list[CryptoSigner] = []
            if new_keys is None:
                if self._local_root_signer() is None:
                    raise ConfigurationError("no local root key: give the new root public keys")
                signers.append(new_key(self._key_path(ROOT, pending=True)))
                new_keys = [signers[0].public_key]
            keys = list(new_keys)
            if not 1 <= threshold <= len(keys):
                raise InvalidInput(f"must be between 1 and {len(keys)}", field="threshold")

            def change(root: Root) -> None:
                for keyid in list(root.roles[ROOT].keyids):
                    root.revoke_key(keyid, ROOT)
                for key in keys:
                    root.add_key(key, ROOT)
                root.roles[ROOT].threshold = threshold

            return self._propose_root(change, now, signers)

    def _rotate_bins(self, now: datetime) -> None:
        state = self._state()
        pending = self._key_path(BINS, pending=True)
        signer = new_key(pending)
        succinct = _succinct(state.targets.signed)
        for keyid in list(succinct.keyids):
            state.targets.signed.revoke_key(keyid)
        state.targets.signed.add_key(signer.public_key)
        changed = {
            name: self._read_delegated(state.snapshot, name) for name in succinct.get_roles()
        }
        changed[TARGETS] = state.targets
        self._publish(state, changed, now, signers={BINS: signer})
        os.replace(pending, self._key_path(BINS))

    def _propose_root(
        self, change: Callable[[Root], None], now: datetime, signers: Sequence[CryptoSigner] = ()
    ) -> RootUpdate:
        """Draft the next root version; sign it with the keys held here; publish if enough."""
        self._refuse_if_draft_pending()
        current = self._root().signed
        new = copy.deepcopy(current)
        new.version += 1
        new.expires = now + self.expiries.root
        change(new)
        md = Metadata(new)
        allowed = set(current.roles[ROOT].keyids) | set(new.roles[ROOT].keyids)
        local = self._local_root_signer()
        for signer in [*([local] if local else []), *signers]:
            if signer.public_key.keyid in allowed:
                md.sign(signer, append=True)
        if new.get_root_verification_result(current, md.signed_bytes, md.signatures).verified:
            return RootUpdate(new.version, None, tuple(self._publish_root(md, now)))
        draft = self.drafts_dir / f"{new.version}.root.json"
        write_file(draft, md.to_bytes(_SERIALIZER))
        return RootUpdate(new.version, draft)

    def _publish_root(self, md: Metadata[Root], now: datetime) -> list[str]:
        """Write a verified root, switch to the keys it names, re-sign what it no longer trusts."""
        write_file(self.metadata_dir / f"{md.signed.version}.root.json", md.to_bytes(_SERIALIZER))
        for draft in self.drafts_dir.glob("*.root.json"):
            if int(draft.name.split(".")[0]) <= md.signed.version:
                draft.unlink()
        state = self._state()
        self._promote_keys(state)
        changed = (
            {TARGETS: state.targets} if self._stale(state.root, TARGETS, state.targets, now) else {}
        )
        snapshot = self._stale(state.root, SNAPSHOT, state.snapshot, now)
        if changed or snapshot or self._stale(state.root, TIMESTAMP, state.timestamp, now):
            return self._publish(state, changed, now, snapshot=snapshot)
        return []

    def _check_online_keys(self, root: Root) -> None:
        """Refuse a root naming online keys the repository does not hold: it could not sign."""
        for role in (TARGETS, SNAPSHOT, TIMESTAMP):
            held = {
                keyid_of(path)
                for path in (self._key_path(role), self._key_path(role, pending=True))
                if path.exists()
            }
            wanted = root.roles[role]
            if len(held & set(wanted.keyids)) < wanted.threshold:
                raise ConfigurationError(
                    f"root v{root.version} trusts {role} keys that are not in {self.keys_dir}"
                )

    def _promote_keys(self, state: _State) -> None:
        """Make a pending key current once the published metadata trusts it (idempotent)."""
        trusted = {
            role: state.root.roles[role].keyids for role in (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)
        }
        trusted[BINS] = _succinct(state.targets.signed).keyids
        for role, keyids in trusted.items():
            pending, current = self._key_path(role, pending=True), self._key_path(role)
            if pending.exists() and keyid_of(pending) in keyids:
                os.replace(pending, current)
            elif role == ROOT and current.exists() and keyid_of(current) not in keyids:
                current.unlink()  # a development root key the new root no longer trusts

    def _refuse_if_draft_pending(self) -> None:
        draft = self.pending_root_draft()
        if draft is not None:
            raise Conflict(f"{draft} awaits the root ceremony: import or discard it first")

    def _local_root_signer(self) -> CryptoSigner | None:
        path = self._key_path(ROOT)
        return load_signer(path) if path.exists() else None

    # --- reading and writing metadata ---

    def _publish(
        self,
        state: _State,
        changed: Mapping[str, Metadata[Targets]],
        now: datetime,
        *,
        snapshot: bool = False,
        signers: Mapping[str, CryptoSigner] | None = None,
        bump: bool = True,
    ) -> list[str]:
        """Sign and write ``changed`` targets roles, then snapshot (if needed), timestamp last.

        Every key is opened and checked before the first file is written.
        """
        names = sorted(changed, key=lambda name: name != TARGETS)  # targets first, then the bins
        roles = {TARGETS if name == TARGETS else BINS for name in names} | {TIMESTAMP}
        if changed or snapshot:
            roles.add(SNAPSHOT)
        keys = {role: self._signer(role, state, signers) for role in roles}
        done = []
        for name in names:
            role = TARGETS if name == TARGETS else BINS
            state.snapshot.signed.meta[f"{name}.json"] = self._emit(
                name, role, changed[name], keys[role], now, bump
            )
            done.append(name)
        if SNAPSHOT in roles:
            state.timestamp.signed.snapshot_meta = self._emit(
                SNAPSHOT, SNAPSHOT, state.snapshot, keys[SNAPSHOT], now, bump
            )
            done.append(SNAPSHOT)
        files.fsync_dir(self.metadata_dir)  # everything the new timestamp names is on disk first
        self._emit(TIMESTAMP, TIMESTAMP, state.timestamp, keys[TIMESTAMP], now, bump)
        return [*done, TIMESTAMP]

    def _signer(
        self, role: str, state: _State, given: Mapping[str, CryptoSigner] | None
    ) -> CryptoSigner:
        """The key for ``role`` (given, or from the keys directory), checked against the trust."""
        signer = (given or {}).get(role) or load_signer(self._key_path(role))
        if role == BINS:
            keyids = _succinct(state.targets.signed).keyids
        else:
            keyids = state.root.roles[role].keyids
        if signer.public_key.keyid not in keyids:
            raise ConfigurationError(
                f"{self._key_path(role)} is not the key the repository trusts for {role}"
            )
        return signer

    def _emit(
        self,
        name: str,
        role: str,
        md: Metadata[Any],
        signer: CryptoSigner,
        now: datetime,
        bump: bool,
    ) -> MetaFile:
        """Bump, sign and write one role's metadata; return its snapshot/timestamp entry."""
        if bump:
            md.signed.version += 1
        md.signed.expires = now + self.expiries.lifetime(role)
        md.sign(signer)
        data = md.to_bytes(_SERIALIZER)
        version = None if name == TIMESTAMP else md.signed.version
        write_file(self.metadata_dir / _filename(name, version), data)
        return MetaFile.from_data(md.signed.version, data, [HASH])

    def _state(self) -> _State:
        root = self._root().signed if self._root_versions() else self._first_draft()
        timestamp = self._read(TIMESTAMP, None, Timestamp)
        snapshot = self._read(SNAPSHOT, timestamp.signed.snapshot_meta.version, Snapshot)
        return _State(root, timestamp, snapshot, self._read_delegated(snapshot, TARGETS))

    def _first_draft(self) -> Root:
        """Before root v1 is imported, online roles are checked against its draft."""
        path = self.drafts_dir / "1.root.json"
        if not path.is_file():
            raise NotFound(f"no TUF repository at {self.path}")
        return parse_metadata(path.read_bytes(), Root, str(path)).signed

    def _root(self) -> Metadata[Root]:
        return self._read(ROOT, self.root_version(), Root)

    def _root_versions(self) -> list[int]:
        names = (path.name.split(".")[0] for path in self.metadata_dir.glob("*.root.json"))
        return sorted(int(name) for name in names if name.isdigit())

    def _read_delegated(self, snapshot: Metadata[Snapshot], name: str) -> Metadata[Targets]:
        meta = snapshot.signed.meta.get(f"{name}.json")
        if meta is None:
            raise NotFound(f"the snapshot lists no {name}")
        return self._read(name, meta.version, Targets)

    def _read(self, name: str, version: int | None, kind: type[_S]) -> Metadata[_S]:
        path = self.metadata_dir / _filename(name, version)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{path} is missing: is there a TUF repository here?") from None
        return parse_metadata(data, kind, str(path))

    def _key_path(self, role: str, *, pending: bool = False) -> Path:
        return self.keys_dir / (f"{role}.pending.pem" if pending else f"{role}.pem")

    def _now(self) -> datetime:
        return _utc(self._clock())

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the repository's lock across several calls (a read-modify-write of a target)."""
        return self._locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the repository (re-entrant within this object)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(lock, fcntl.LOCK_UN)


# --- helpers ----------------------------------------------------------------------------------


def _check_init(root_keys: list[Key], threshold: int, dev: bool, bit_length: int) -> None:
    if dev and root_keys:
        raise InvalidInput("development mode generates its own root key", field="root_keys")
    if not dev and not root_keys:
        raise InvalidInput("give the offline root public keys (or use dev mode)", field="root_keys")
    if not 1 <= threshold <= max(len(root_keys), 1):
        raise InvalidInput("must be between 1 and the number of root keys", field="threshold")
    if not 1 <= bit_length <= MAX_BIT_LENGTH:
        raise InvalidInput(f"must be between 1 and {MAX_BIT_LENGTH}", field="bit_length")


def _first_root(
    root_keys: list[Key], threshold: int, signers: Mapping[str, CryptoSigner], expires: datetime
) -> Root:
    root = Root(expires=expires, consistent_snapshot=True)
    for key in root_keys:
        root.add_key(key, ROOT)
    root.roles[ROOT].threshold = threshold
    for role in (TARGETS, SNAPSHOT, TIMESTAMP):
        root.add_key(signers[role].public_key, role)
    return root


def _succinct(targets: Targets) -> SuccinctRoles:
    if targets.delegations is None or targets.delegations.succinct_roles is None:
        raise ConfigurationError("top-level targets has no hashed-bin delegation")
    return targets.delegations.succinct_roles


def _describe(result: RootVerificationResult, version: int) -> str:
    first, second = result.first, result.second
    own = f"{len(second.signed)} of the {second.threshold} required from its own keys"
    if version == 1:
        return f"root v1 is signed by {own}"
    previous = f"{len(first.signed)} of the {first.threshold} required from root v{version - 1}"
    return f"root v{version} is signed by {previous} and {own}"


def _check_target_info(info: TargetFile) -> None:
    _check_target_path(info.path)
    if next(iter(info.hashes), None) != HASH:  # clients prefix the URL with the first hash
        raise InvalidInput(f"{info.path!r}: the first hash must be {HASH}", field="target")


def _check_target_path(path: str) -> None:
    check_relative(path, field="target")
    if len(path.rpartition("/")[2].encode()) + 65 > 255:  # "<sha256 hex>." + name
        raise InvalidInput(f"{path!r}: the file name is too long to store", field="target")


def _custom_fields(path: str, custom: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if custom is None:
        return None
    if not isinstance(custom, Mapping):
        raise InvalidInput("custom metadata must be a JSON object", field=f"custom[{path}]")
    try:
        encode_canonical(dict(custom))
    except FormatError as e:
        raise InvalidInput(
            f"not signable as canonical JSON (no floats): {e}", field=f"custom[{path}]"
        ) from e
    return {"custom": json.loads(json.dumps(dict(custom)))}


def _filename(name: str, version: int | None) -> str:
    return f"{name}.json" if version is None else f"{version}.{name}.json"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@contextlib.contextmanager
def _atomic(directory: Path, mode: int) -> Iterator[tuple[Any, Callable[[Path], None]]]:
    """A temporary file in ``directory``; ``commit(path)`` syncs it and renames it into place."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    committed = False

    def commit(path: Path) -> None:
        nonlocal committed
        out.flush()
        os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        committed = True

    try:
        with os.fdopen(fd, "wb") as out:
            yield out, commit
    finally:
        if not committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
