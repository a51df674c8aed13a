"""What the server keeps to compute deltas: every published version's files, by content.

::

    <content_dir>/
      objects/ab/<sha256>              each distinct file content once (hard-linked or copied)
      versions/<product>/index.json    the versions in publication order
      versions/<product>/<version>.json  path -> sha256, size, mode of that version's whole tree

A version's tree is known when it was published as a full bundle, or as an update on top of a
version whose tree is known. Deltas can only be made from versions whose tree is known.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mamori.core import files
from mamori.core.manifest import FileEntry, Kind, Manifest

Tree = dict[str, FileEntry]


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def object(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def put(self, source: Path, sha256: str) -> None:
        """Keep ``source`` (already verified to have ``sha256``) unless that content is kept."""
        target = self.object(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".in-")
        os.close(fd)
        shutil.copyfile(source, name)
        os.chmod(name, 0o444)
        os.replace(name, target)

    def versions(self, product: str) -> list[str]:
        """The versions of ``product`` whose tree is known, oldest first."""
        index = self._dir(product) / "index.json"
        return list(json.loads(index.read_text())) if index.exists() else []

    def tree(self, product: str, version: str) -> Tree | None:
        path = self._dir(product) / f"{version}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return {p: FileEntry(p, e["sha256"], e["size"], int(e["mode"], 8)) for p, e in data.items()}

    def files(self, tree: Mapping[str, FileEntry]) -> dict[str, Path]:
        """Each path of ``tree`` mapped to the stored object holding its content."""
        return {path: self.object(entry.sha256) for path, entry in tree.items()}

    def record(self, manifest: Manifest, payload: Path) -> Tree | None:
        """Keep the bundle's files and, if the resulting tree can be known, that tree."""
        for entry in manifest.files:
            self.put(payload / entry.path, entry.sha256)
        tree = self.result_of(manifest)
        if tree is None:
            return None
        data = {
            p: {"sha256": e.sha256, "size": e.size, "mode": f"{e.mode:04o}"}
            for p, e in tree.items()
        }
        directory = self._dir(manifest.product)
        directory.mkdir(parents=True, exist_ok=True)
        files.write_atomic(directory / f"{manifest.to_version}.json", _json(data), mode=0o644)
        versions = [v for v in self.versions(manifest.product) if v != manifest.to_version]
        index = _json([*versions, manifest.to_version])
        files.write_atomic(directory / "index.json", index, mode=0o644)
        return tree

    def result_of(self, manifest: Manifest) -> Tree | None:
        """The tree a bundle produces: from nothing (full) or from a version whose tree is known."""
        if manifest.kind is Kind.FULL:
            base: Tree | None = {}
        else:
            base = next(
                (t for v in manifest.from_versions if (t := self.tree(manifest.product, v))), None
            )
        if base is None:
            return None
        tree = {p: e for p, e in base.items() if p not in manifest.removes}
        tree.update({f.path: f for f in manifest.files})
        return dict(sorted(tree.items()))

    def _dir(self, product: str) -> Path:
        return self.root / "versions" / product


def _json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True).encode()
