"""Bringing one install root up to date from a signed repository: plan, fetch, install.

Everything comes through the TUF client, so every byte used is covered by signed metadata: the
product's catalogue (what exists, what supersedes what), each bundle's manifest (the full-content
hashes), and the bundle or delta itself.

A delta is used only for the first step of a plan (the only one whose base is installed now),
only when the catalogue lists one from exactly the installed version, and only when every base
file it reads still has the hash it was made from. Its output is checked against the signed
manifest's hashes. Whenever anything about the delta fails, the full bundle is fetched instead:
a delta saves bandwidth, it is never needed to update.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mamori.agent.tuf_client import TufClient, install_trusted_root
from mamori.core import delta, offer
from mamori.core import manifest as manifests
from mamori.core.installer import Installer, Outcome, Source
from mamori.core.manifest import Manifest
from mamori.errors import ConfigurationError, Error, VerificationFailed

log = logging.getLogger("mamori.agent")


@dataclass(frozen=True)
class Step:
    entry: offer.Entry
    via: str  # "delta from <version>" or "full bundle"
    downloaded: int  # bytes
    fallback: str = ""  # why the delta was not used, if one was listed


@dataclass(frozen=True)
class Result:
    steps: tuple[Step, ...]
    outcome: Outcome | None
    notes: tuple[str, ...] = field(default=())


class Updater:
    def __init__(
        self,
        client: TufClient,
        installer: Installer,
        work_dir: Path,
        *,
        product: str | None = None,
        use_deltas: bool = True,
    ) -> None:
        self.client = client
        self.installer = installer
        self.work_dir = work_dir
        self.use_deltas = use_deltas
        self._product = product

    @classmethod
    def for_root(
        cls,
        installer: Installer,
        repo_url: str,
        *,
        trusted_root: bytes | None = None,
        product: str | None = None,
        use_deltas: bool = True,
    ) -> Updater:
        """An updater keeping its trusted metadata and downloads in ``<root>/.mamori/repository``.

        ``trusted_root`` (a root.json obtained out of band) is installed on the first run only;
        afterwards trust moves forward through the repository's own root rotations.
        """
        cache = installer.root / ".mamori" / "repository"
        metadata = cache / "metadata"
        if trusted_root is not None and not (metadata / "root.json").exists():
            install_trusted_root(metadata, trusted_root)
        base = repo_url.rstrip("/")
        client = TufClient(metadata, f"{base}/metadata/", f"{base}/targets/", cache / "downloads")
        return cls(client, installer, cache / "work", product=product, use_deltas=use_deltas)

    def plan(self) -> list[offer.Entry]:
        """The bundles this root should install, in order (empty: up to date)."""
        state = self.installer.state()
        product = state.product or self._product
        if product is None:
            raise ConfigurationError("nothing is installed on this root: name the product")
        if self._product and state.product and self._product != state.product:
            raise ConfigurationError(f"this root has {state.product}, not {self._product}")
        raw = self.client.download(f"catalogue/{product}.json").read_bytes()
        catalogue = offer.loads(raw, product=product)
        installed = [item.bundle_id for item in state.history]
        return offer.plan(catalogue, state.version, installed=installed, platform=state.platform)

    def update(self) -> Result:
        """Install everything the plan offers, in one batch (restarts coalesced)."""
        steps = self.plan()
        if not steps:
            return Result((), None)
        version = self.installer.state().version
        sources: list[Source] = []
        done: list[Step] = []
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for index, entry in enumerate(steps):
            manifest = self._manifest(entry)
            source, step = self._fetch(entry, manifest, version if index == 0 else None)
            sources.append(source)
            done.append(step)
        try:
            outcome = self.installer.apply(sources)
        finally:
            shutil.rmtree(self.work_dir / "payload", ignore_errors=True)
        return Result(tuple(done), outcome)

    def _manifest(self, entry: offer.Entry) -> Manifest:
        raw = self.client.download(entry.manifest).read_bytes()
        try:
            manifest = manifests.loads(raw)
        except Error as error:
            raise VerificationFailed(f"{entry.manifest}: {error.message}") from None
        if (manifest.id, manifest.to_version) != (entry.id, entry.to_version):
            raise VerificationFailed(f"{entry.manifest} does not describe {entry.id}")
        return manifest

    def _fetch(
        self, entry: offer.Entry, manifest: Manifest, base: str | None
    ) -> tuple[Source, Step]:
        fallback = ""
        listed = entry.deltas.get(base) if base is not None and self.use_deltas else None
        if listed is not None:
            try:
                return self._from_delta(listed, manifest, entry, base or "")
            except Error as error:
                fallback = error.message
                log.warning("%s: delta not used, fetching the full bundle: %s", entry.id, fallback)
        path = self.client.download(entry.bundle.target)
        step = Step(entry, "full bundle", path.stat().st_size, fallback)
        return Source.from_bundle(path, expect=manifest), step

    def _from_delta(
        self, listed: offer.Download, manifest: Manifest, entry: offer.Entry, base: str
    ) -> tuple[Source, Step]:
        path = self.client.download(listed.target)
        payload = self.work_dir / "payload" / manifest.id
        shutil.rmtree(payload, ignore_errors=True)
        payload.mkdir(parents=True)
        expected = {f.path: (f.sha256, f.size) for f in manifest.files}
        info = delta.apply_delta(path, self.installer.root, payload, expected)
        if (info.bundle_id, info.base_version) != (manifest.id, base):
            raise VerificationFailed(
                f"{listed.target} is not the delta of {manifest.id} from {base}"
            )
        step = Step(entry, f"delta from {base}", path.stat().st_size)
        return Source.from_payload(manifest, payload), step
