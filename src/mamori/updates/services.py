"""Publishing into the signed update repository: bundles, their deltas, and the catalogue.

One publication is one signed repository state. :func:`publish` verifies the bundle completely,
refuses an id already published, keeps the new version's files for later deltas, computes deltas
from the most recent earlier versions (kept only when clearly smaller than the bundle), rewrites
the product's catalogue, and adds everything to the repository in one signing step: bins,
snapshot, and ``timestamp.json`` last.

Target names::

    bundles/<product>/<id>.mbundle                 the full bundle (always there: the fallback)
    bundles/<product>/<id>.manifest.json           its manifest: the signed full-content hashes
    deltas/<product>/<id>/from-<version>.mdelta    one per base version, when small enough
    catalogue/<product>.json                       what exists and what supersedes what
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from mamori.config import Updates
from mamori.core import bundle, offer
from mamori.core.delta_make import make_delta
from mamori.core.manifest import Manifest
from mamori.core.tufkeys import load_public_key
from mamori.core.tufrepo import TufRepository
from mamori.errors import Conflict, NotFound
from mamori.updates.store import ContentStore, Tree

log = logging.getLogger("mamori.updates")


@dataclass(frozen=True)
class Published:
    manifest: Manifest
    bundle_size: int
    deltas: dict[str, int]  # base version -> delta size (published ones only)
    skipped: dict[str, str]  # base version -> why no delta was published
    targets: tuple[str, ...]


def config() -> Updates:
    updates: Updates = settings.MAMORI_UPDATES
    return updates


def repository() -> TufRepository:
    """The repository, which must have been created (``mamori repo init``)."""
    cfg = config()
    if not (cfg.repository_dir / "metadata" / "timestamp.json").exists():
        raise NotFound(
            f"no update repository at {cfg.repository_dir}; create it with `mamori repo init`"
        )
    return TufRepository(cfg.repository_dir, cfg.keys_dir)


def init_repository(
    root_keys: Sequence[Path], *, threshold: int = 1, bin_bits: int = 8, dev: bool = False
) -> TufRepository:
    """Create the repository with its online keys; root v1 waits for the ceremony unless dev."""
    cfg = config()
    return TufRepository.init(
        cfg.repository_dir,
        cfg.keys_dir,
        root_keys=[load_public_key(p) for p in root_keys],
        root_threshold=threshold,
        dev=dev,
        bit_length=bin_bits,
    )


def plan(
    product: str, version: str | None, *, installed: Sequence[str] = (), platform: str = ""
) -> list[offer.Entry]:
    """What ``product`` at ``version`` should install, from the published catalogue."""
    return offer.plan(catalogue(product), version, installed=installed, platform=platform)


def bundle_target(manifest: Manifest) -> str:
    return f"bundles/{manifest.product}/{manifest.id}{bundle.SUFFIX}"


def manifest_target(manifest: Manifest) -> str:
    return f"bundles/{manifest.product}/{manifest.id}.manifest.json"


def delta_target(manifest: Manifest, base_version: str) -> str:
    return f"deltas/{manifest.product}/{manifest.id}/from-{base_version}.mdelta"


def catalogue_target(product: str) -> str:
    return f"catalogue/{product}.json"


def catalogue(product: str, repo: TufRepository | None = None) -> offer.Catalogue:
    """The product's published catalogue (empty if nothing was published for it)."""
    repo = repo or repository()
    try:
        info = repo.get_target(catalogue_target(product))
    except NotFound:
        return offer.Catalogue(product, ())
    return offer.loads(repo.target_file(info).read_bytes(), product=product)


def publish(path: Path) -> Published:
    """Verify the bundle at ``path`` and publish it with its deltas and the new catalogue."""
    cfg = config()
    repo = repository()
    cfg.content_dir.mkdir(parents=True, exist_ok=True)
    # The catalogue is read, extended and written back: one publication at a time.
    with (
        repo.locked(),
        tempfile.TemporaryDirectory(dir=cfg.content_dir, prefix=".publish-") as work_dir,
    ):
        work = Path(work_dir)
        manifest = bundle.extract(path, work / "payload")
        current = catalogue(manifest.product, repo)
        if current.entry(manifest.id) is not None:
            raise Conflict(f"{manifest.id} is already published; give the new bundle a new id")
        bundle_size = path.stat().st_size
        store = ContentStore(cfg.content_dir)
        deltas, skipped = _deltas(store, manifest, work, bundle_size, cfg)
        store.record(manifest, work / "payload")
        (work / "manifest.json").write_bytes(manifest.to_json())
        entry = offer.entry_for(
            manifest,
            offer.Download(bundle_target(manifest), bundle_size),
            manifest_target(manifest),
        )
        entry = dataclasses.replace(
            entry,
            deltas={
                v: offer.Download(delta_target(manifest, v), size) for v, size in deltas.items()
            },
        )
        (work / "catalogue.json").write_bytes(current.with_entry(entry).to_json())
        files = {
            bundle_target(manifest): path,
            manifest_target(manifest): work / "manifest.json",
            catalogue_target(manifest.product): work / "catalogue.json",
        }
        files.update({delta_target(manifest, v): work / f"from-{v}.mdelta" for v in deltas})
        custom = {bundle_target(manifest): _custom(manifest)}
        repo.add_targets(files, custom, replace=True)
    log.info("published %s with deltas from %s", manifest.id, sorted(deltas) or "no version")
    return Published(manifest, bundle_size, deltas, skipped, tuple(sorted(files)))


def _custom(manifest: Manifest) -> dict[str, object]:
    return {
        "mamori": {
            "product": manifest.product,
            "id": manifest.id,
            "kind": manifest.kind.value,
            "to_version": manifest.to_version,
        }
    }


def _deltas(
    store: ContentStore, manifest: Manifest, work: Path, bundle_size: int, cfg: Updates
) -> tuple[dict[str, int], dict[str, str]]:
    """Deltas from the most recent earlier versions this bundle installs on."""
    known = store.versions(manifest.product)
    bases = [v for v in reversed(known) if manifest.applies_to(v)][: cfg.delta_bases]
    target_files = {f.path: work / "payload" / f.path for f in manifest.files}
    made: dict[str, int] = {}
    skipped = {v: "its files are not known" for v in manifest.from_versions if v not in known}
    for version in bases:
        tree: Tree | None = store.tree(manifest.product, version)
        assert tree is not None
        out = work / f"from-{version}.mdelta"
        info = make_delta(
            store.files(tree),
            target_files,
            out,
            product=manifest.product,
            bundle_id=manifest.id,
            base_version=version,
            to_version=manifest.to_version,
            level=cfg.compression_level,
        )
        if info.size < cfg.delta_threshold * bundle_size:
            made[version] = info.size
        else:
            share = info.size / bundle_size if bundle_size else 1
            skipped[version] = f"{share:.0%} of the bundle, not below {cfg.delta_threshold:.0%}"
            out.unlink()
    return made, skipped


def refresh() -> list[str]:
    """Re-sign the roles that expire soon (run by the worker's clock)."""
    cfg = config()
    if not (cfg.repository_dir / "metadata" / "timestamp.json").exists():
        return []
    return repository().refresh()
