"""The agent's TUF client: python-tuf's ngclient with Mamori's limits and Mamori's errors.

Every check is ngclient's (``tuf.ngclient.Updater``): root rotation, signatures and thresholds,
expiry, rollback, hashes, lengths. This module chooses the limits (how large metadata may be,
how many root versions one refresh may walk) and translates every failure at the edge:

- a check that failed (tampered, expired, replayed, mixed or oversized metadata; a target whose
  bytes do not match) → ``VerificationFailed``, naming the problem;
- the repository could not be reached or answered with an HTTP error → ``ServiceUnavailable``;
- a target the repository does not list → ``NotFound``.

Nothing that failed verification is kept: ngclient stores metadata only once it is trusted, and
writes a target only after its length and hashes matched.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

import urllib3
from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root, TargetFile
from tuf.api.serialization import DeserializationError
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.updater import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from mamori.errors import (
    ConfigurationError,
    InsufficientSpace,
    NotFound,
    ServiceUnavailable,
    VerificationFailed,
)

KiB, MiB = 1024, 1024 * 1024


def default_config(*, user_agent: str | None = "mamori-agent") -> UpdaterConfig:
    """Explicit limits: a server cannot make the agent download more than these."""
    return UpdaterConfig(
        max_root_rotations=32,  # root versions per refresh; further behind: several refreshes
        max_delegations=8,  # top-level targets → one bin; anything deeper is not ours
        root_max_length=512 * KiB,
        timestamp_max_length=16 * KiB,
        snapshot_max_length=4 * MiB,  # when the timestamp does not give the snapshot's length
        targets_max_length=16 * MiB,  # idem for targets and bins
        app_user_agent=user_agent,
    )


class TufClient:
    """Fetch and verify targets from one Mamori TUF repository.

    ``metadata_dir`` holds the trusted metadata; it must already contain a trusted
    ``root.json`` obtained out of band (see :func:`install_trusted_root`) unless ``bootstrap``
    gives the embedded trust anchor. Verified targets are kept in ``download_dir``.
    """

    def __init__(
        self,
        metadata_dir: Path,
        metadata_url: str,
        targets_url: str,
        download_dir: Path,
        *,
        bootstrap: bytes | None = None,
        config: UpdaterConfig | None = None,
        socket_timeout: int = 30,
    ) -> None:
        self.metadata_dir = Path(metadata_dir)
        self.download_dir = Path(download_dir)
        self.metadata_url = metadata_url
        self.targets_url = targets_url
        self.config = config or default_config()
        self._bootstrap = bootstrap
        self._socket_timeout = socket_timeout
        self._updater: Updater | None = None
        if bootstrap is None and not (self.metadata_dir / "root.json").is_file():
            raise ConfigurationError(f"no trusted root.json in {self.metadata_dir}")

    def refresh(self) -> None:
        """Update the trusted metadata: new root versions, timestamp, snapshot, targets."""
        updater = self._new_updater()
        with _translated("refresh"):
            updater.refresh()
        self._updater = updater

    def target_info(self, name: str) -> TargetFile:
        """The verified description of target ``name`` (length, hashes, custom metadata).

        Refreshes first if this client has not yet; loads only the bin that lists ``name``.
        """
        updater = self._refreshed()
        with _translated(f"target {name}"):
            info = updater.get_targetinfo(name)
        if info is None:
            raise NotFound(f"the repository has no target {name!r}")
        return info

    def download(self, name: str) -> Path:
        """Download target ``name`` and verify it; a copy already verified is reused."""
        info = self.target_info(name)
        updater = self._refreshed()
        with _translated(f"target {name}"):
            cached = updater.find_cached_target(info)
            if cached is not None:
                return Path(cached)
            return Path(updater.download_target(info))

    @property
    def trusted_root_version(self) -> int:
        """The root version this client trusts now (ngclient links root.json to it)."""
        try:
            data = (self.metadata_dir / "root.json").read_bytes()
        except OSError as e:
            raise ConfigurationError(f"no trusted root.json in {self.metadata_dir}") from e
        with _translated("trusted root"):
            root: Metadata[Root] = Metadata.from_bytes(data)
        return root.signed.version

    def _refreshed(self) -> Updater:
        if self._updater is None:
            self.refresh()
        if self._updater is None:  # refresh() either sets it or raises
            raise RuntimeError("refresh left no updater")
        return self._updater

    def _new_updater(self) -> Updater:
        """A fresh ngclient ``Updater``: each one can refresh only once."""
        self.download_dir.mkdir(parents=True, exist_ok=True)
        fetcher = Urllib3Fetcher(
            socket_timeout=self._socket_timeout, app_user_agent=self.config.app_user_agent
        )
        with _translated("trusted root"):
            try:
                return Updater(
                    str(self.metadata_dir),
                    self.metadata_url,
                    str(self.download_dir),
                    self.targets_url,
                    fetcher,
                    self.config,
                    bootstrap=self._bootstrap,
                )
            except FileNotFoundError as e:
                raise ConfigurationError(f"no trusted root.json in {self.metadata_dir}") from e


def install_trusted_root(metadata_dir: Path, root: bytes) -> None:
    """Install the trust anchor (a root.json obtained out of band) into a new metadata dir.

    The root must be signed by its own keys; a directory that already trusts a root is left
    alone (``ConfigurationError``): trust moves forward only through root rotation.
    """
    with _translated("trusted root"):
        md: Metadata[Root] = Metadata.from_bytes(root)
        if md.signed.type != Root.type:
            raise VerificationFailed(f"trusted root: this is {md.signed.type} metadata")
        md.signed.verify_delegate(Root.type, md.signed_bytes, md.signatures)
    metadata_dir.mkdir(parents=True, exist_ok=True)
    if (metadata_dir / "root.json").exists():
        raise ConfigurationError(f"{metadata_dir} already has a trusted root")
    (metadata_dir / "root.json").write_bytes(root)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Translate ngclient's and urllib3's exceptions into Mamori's, naming the problem."""
    try:
        yield
    except exceptions.ExpiredMetadataError as e:
        raise VerificationFailed(f"{what}: expired metadata: {e}") from e
    except exceptions.BadVersionNumberError as e:
        raise VerificationFailed(f"{what}: rollback refused (replayed or old metadata): {e}") from e
    except exceptions.UnsignedMetadataError as e:
        raise VerificationFailed(f"{what}: bad signature: {e}") from e
    except exceptions.LengthOrHashMismatchError as e:
        raise VerificationFailed(f"{what}: hash or length mismatch: {e}") from e
    except DeserializationError as e:
        raise VerificationFailed(f"{what}: malformed metadata: {e}") from e
    except exceptions.RepositoryError as e:
        raise VerificationFailed(f"{what}: refused: {e}") from e
    except exceptions.DownloadLengthMismatchError as e:
        raise VerificationFailed(f"{what}: too large: {e}") from e
    except exceptions.SlowRetrievalError as e:
        if _refused(e):  # urllib3's NewConnectionError is a kind of ConnectTimeoutError
            raise ServiceUnavailable(f"{what}: cannot reach the repository: {e.__cause__}") from e
        raise ServiceUnavailable(f"{what}: the repository is too slow to answer") from e
    except exceptions.DownloadHTTPError as e:
        raise ServiceUnavailable(f"{what}: the repository answered HTTP {e.status_code}") from e
    except (exceptions.DownloadError, urllib3.exceptions.HTTPError) as e:
        raise ServiceUnavailable(f"{what}: cannot reach the repository: {e}") from e
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise InsufficientSpace(f"{what}: the disk is full") from e
        raise


def _refused(error: BaseException) -> bool:
    """Whether a "slow retrieval" was in fact a connection that could not be made at all."""
    cause = error.__cause__
    reason = getattr(cause, "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
