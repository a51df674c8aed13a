"""Trees, bundles, snapshots and crash runs for the installer tests (real files, real processes)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyzstd

from mamori.core.bundle import build_from_trees
from mamori.core.manifest import Kind, Manifest, Service, ServiceAction
from mamori.core.paths import STATE_DIR

PRODUCT = "portal"
PLATFORM = "linux-x86_64"
Files = Mapping[str, bytes | tuple[bytes, int]]

V1: Files = {
    "bin/tool": (b"#!/bin/sh\necho tool 1.0\n", 0o755),
    "lib/core.py": b"VERSION = '1.0'\n",
    "lib/util.py": b"def util():\n    return 1\n",
    "etc/app.conf": (b"secret = 1\n", 0o640),
    "old/legacy.txt": b"legacy\n",
    "share/doc/readme.txt": b"readme 1.0\n",
}
V2: Files = {  # 1.1: changed, added in a new directory, removed (its directory goes), mode changed
    **{k: v for k, v in V1.items() if k != "old/legacy.txt"},
    "bin/tool": (b"#!/bin/sh\necho tool 1.1\n", 0o755),
    "lib/core.py": b"VERSION = '1.1'\n",
    "lib/new/plugin.py": b"PLUGIN = True\n",
    "etc/app.conf": (b"secret = 1\n", 0o600),
}
V3: Files = {  # 1.2
    **{k: v for k, v in V2.items() if k != "share/doc/readme.txt"},
    "lib/util.py": b"def util():\n    return 2\n",
    "share/doc/changes.txt": b"1.2: fixes\n",
    "bin/helper": (b"#!/bin/sh\necho helper\n", 0o755),
}

Snapshot = dict[str, tuple[Any, ...]]


def write_tree(root: Path, files: Files, dir_modes: Mapping[str, int] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, spec in files.items():
        content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    for current, _dirs, _files in os.walk(root):
        if Path(current) != root:
            Path(current).chmod(0o755)
    for directory, mode in (dir_modes or {}).items():
        (root / directory).chmod(mode)
    return root


def snapshot(root: Path) -> Snapshot:
    """Everything under ``root`` but ``.mamori``: file bytes and modes, directories, links."""
    result: Snapshot = {}
    for current, dirs, files in os.walk(root):
        base = Path(current)
        if base == root and STATE_DIR in dirs:
            dirs.remove(STATE_DIR)
        for name in [*dirs, *files]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                result[relative] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                result[relative] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
            else:
                result[relative] = ("other", stat.S_IFMT(st.st_mode))
    return result


def template(
    bundle_id: str,
    to_version: str,
    from_versions: Sequence[str] = (),
    *,
    kind: Kind = Kind.FIX,
    product: str = PRODUCT,
    services: Mapping[str, ServiceAction] | None = None,
    **fields: Any,
) -> Manifest:
    return Manifest(
        id=bundle_id,
        kind=kind,
        product=product,
        from_versions=tuple(from_versions),
        to_version=to_version,
        files=(),
        services=tuple(Service(n, a) for n, a in (services or {}).items()),
        **fields,
    )


@dataclass(frozen=True)
class Release:
    """Trees 1.0, 1.1 and 1.2 of the product, and the bundles between them."""

    work: Path
    v1: Path
    v2: Path
    v3: Path

    def bundle(self, manifest: Manifest, new: Path, old: Path | None) -> Path:
        digest = hashlib.sha256(manifest.to_json()).hexdigest()[:12]
        out = self.work / "bundles" / f"{manifest.id}-{digest}.mbundle"
        build_from_trees(manifest, new, out, old_tree=old, level=3)
        return out

    def full(self, **fields: Any) -> Path:
        return self.bundle(template("portal-1.0", "1.0", kind=Kind.FULL, **fields), self.v1, None)

    def fix2(self, bundle_id: str = "portal-1.1", **fields: Any) -> Path:
        return self.bundle(template(bundle_id, "1.1", ["1.0"], **fields), self.v2, self.v1)

    def fix3(self, bundle_id: str = "portal-1.2", **fields: Any) -> Path:
        return self.bundle(template(bundle_id, "1.2", ["1.1"], **fields), self.v3, self.v2)


def make_release(work: Path) -> Release:
    return Release(
        work,
        write_tree(work / "v1", V1),
        write_tree(work / "v2", V2),
        write_tree(work / "v3", V3),
    )


def with_manifest(manifest: Manifest, **changes: Any) -> Manifest:
    return replace(manifest, **changes)


# -- crafted bundles -------------------------------------------------------------------------------


def craft_bundle(
    out: Path, manifest: dict[str, Any], members: Sequence[tuple[tarfile.TarInfo, bytes]]
) -> Path:
    """A bundle written by hand: any manifest JSON, any tar members with their content."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        body = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    out.write_bytes(pyzstd.compress(raw.getvalue(), 3))
    return out


def flip_byte(bundle: Path, needle: bytes, out: Path) -> Path:
    """A copy of ``bundle`` with one byte of one payload file changed (same size)."""
    tar = bytearray(pyzstd.decompress(bundle.read_bytes()))
    at = tar.index(needle)
    assert tar.count(needle) == 1
    tar[at] ^= 0x01
    out.write_bytes(pyzstd.compress(bytes(tar), 3))
    return out


# -- services and crashes --------------------------------------------------------------------------


def logging_services(log: Path) -> list[str]:
    """A service command that appends ``action service`` to ``log``."""
    return ["sh", "-c", 'printf "%s %s\\n" "$1" "$2" >> "$0"', str(log), "{action}", "{service}"]


def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


CRASH_SCRIPT = """
import json, os, sys
from pathlib import Path
from mamori.core.installer import CommandServices, Installer, Source

args = json.loads(sys.argv[1])
calls = 0

def checkpoint(name):
    global calls
    calls += 1
    if calls == args["crash_at"]:
        os._exit(137)

services = CommandServices(args["services"]) if args["services"] else None
installer = Installer(
    Path(args["root"]), services=services, platform=args["platform"], checkpoint=checkpoint
)
if args["op"] == "apply":
    installer.apply([Source.from_bundle(Path(b)) for b in args["bundles"]])
elif args["op"] == "uninstall":
    installer.uninstall(args["bundle_id"])
else:
    installer.recover()
os._exit(0)
"""


def start_crash(root: Path, crash_at: int, op: str, **args: Any) -> subprocess.Popen[bytes]:
    """Run ``op`` on ``root`` in a new Python process killed at its ``crash_at``-th checkpoint."""
    payload = {"root": str(root), "crash_at": crash_at, "op": op, "platform": PLATFORM, **args}
    payload.setdefault("services", None)
    return subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, json.dumps(payload)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def crash(root: Path, crash_at: int, op: str, **args: Any) -> int:
    """Run :func:`start_crash` to its end; its exit status (137: killed at the checkpoint)."""
    process = start_crash(root, crash_at, op, **args)
    process.communicate(timeout=60)
    return process.returncode


def run_crashes(
    base: Path, work: Path, count: int, op: str, **args: Callable[[Path], Any] | Any
) -> list[Path]:
    """Copy ``base`` once per checkpoint and crash ``op`` at each (in parallel); the roots."""
    roots: list[Path] = []
    running = []
    for index in range(1, count + 1):
        root = work / f"crash-{index}"
        shutil.copytree(base, root, symlinks=True)
        extra = {k: (v(root) if callable(v) else v) for k, v in args.items()}
        running.append(start_crash(root, index, op, **extra))
        roots.append(root)
    for index, process in enumerate(running, start=1):
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 137, (index, process.returncode, output.decode())
    return roots
