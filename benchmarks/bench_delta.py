"""Update deltas on real wheels: ours against the best single methods, per release pair.

For each pair of releases (cp311 manylinux x86_64 wheels from PyPI) the two wheels are
downloaded into a cache (MAMORI_BENCH_CACHE, default ~/.cache/mamori-bench/wheels), checked
against the SHA-256 that PyPI's JSON API gives, and unpacked. The full download is the new .whl,
and every size is reported as a % of it:

- ours: ``make_delta`` on the two unpacked trees (hashes and paths of every file included);
- full recompression of the unpacked new content, a tar of it: xz -9e (``lzma``, preset
  9|PRESET_EXTREME) and zstd -19 with long-distance matching;
- bsdiff4 on the two .whl files, and on deterministic tars of the two unpacked trees;
- zstd -19 patch-from on the unpacked content (the old tar as prefix, the new tar).

"best single" is the smallest of the last five. Also reported: the time and peak memory of
making and of applying our delta, each measured in a fresh child process (its peak RSS, VmHWM,
reset just before the phase, less its RSS then, the baseline, which is shown too), and
apply's peak as a multiple of the new content's total size. Apply's output is verified (every
file against its SHA-256, as the installer does).

Goals, each printed as met or not: median ours <= 15 % of the .whl; ours never larger than the
best single method on any pair; apply memory <= 2x the new content. bsdiff4 needs about 17x its
input in memory and minutes on big inputs, so it is skipped on tars over 150 MiB. The baselines
are measured in the same run as ours (about 12 minutes in all); while iterating on the delta,
MAMORI_BENCH_REUSE_BASELINES=1 reuses the sizes kept in ``baselines.json`` from an earlier run
(they depend only on the two wheels and the library versions). The results go to
``results.json`` beside the cache.
MAMORI_BENCH_DELTA_ONLY=numpy,orjson limits a run to those projects.
The exit status is non-zero only on errors, never on a missed goal.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import hashlib
import io
import json
import lzma
import math
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bsdiff4
import pyzstd

from mamori.core.delta import apply_delta
from mamori.core.delta_make import make_delta
from mamori.core.paths import check_relative

CACHE = Path(
    os.environ.get("MAMORI_BENCH_CACHE") or Path.home() / ".cache" / "mamori-bench" / "wheels"
)
PYPI = "https://pypi.org/pypi"
BSDIFF_TAR_LIMIT = 150 << 20
MIB = 1 << 20


@dataclass(frozen=True)
class Pair:
    name: str
    old: str
    new: str
    step: str


PAIRS = (
    Pair("numpy", "1.26.3", "1.26.4", "one version"),
    Pair("numpy", "2.3.4", "2.3.5", "one version"),
    Pair("orjson", "3.10.15", "3.10.18", "three versions"),
    Pair("orjson", "3.11.7", "3.11.8", "one version"),
    Pair("pillow", "10.3.0", "10.4.0", "minor"),
    Pair("cryptography", "46.0.4", "46.0.5", "one version"),
    Pair("pydantic_core", "2.46.3", "2.46.4", "one version"),
    Pair("lxml", "6.1.2", "6.1.3", "one version"),
    Pair("lxml", "6.0.2", "6.1.0", "minor (three versions)"),
    Pair("grpcio", "1.84.1", "1.84.2", "one version"),
    Pair("scipy", "1.16.2", "1.16.3", "one version"),
    Pair("psycopg-binary", "3.3.3", "3.3.4", "one version"),
)
BASELINES = ("xz", "zstd", "bsdiff_whl", "bsdiff_tar", "patch_tar")
SINGLE = ("xz", "zstd", "bsdiff_whl", "bsdiff_tar", "patch_tar")  # "best single" among these


# --- Wheels from PyPI ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wheel:
    filename: str
    url: str
    sha256: str

    @property
    def tags(self) -> tuple[str, str, frozenset[str]]:
        python, abi, platform = self.filename[: -len(".whl")].split("-")[-3:]
        plain = platform.replace("manylinux2014", "manylinux_2_17")
        return python, abi, frozenset(plain.split("."))


def fetch_json(url: str, cached: Path) -> Any:
    if not cached.exists():
        with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310 (PyPI, https)
            data = answer.read()
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return json.loads(cached.read_bytes())


def release_files(name: str, version: str) -> tuple[list[dict[str, Any]], str]:
    """The files of one release and the URL they are relative to (per-version API, else all)."""
    url = f"{PYPI}/{name}/{version}/json"
    try:
        return fetch_json(url, CACHE / "json" / f"{name}-{version}.json")["urls"], url
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    url = f"{PYPI}/{name}/json"
    return fetch_json(url, CACHE / "json" / f"{name}.json")["releases"][version], url


def wheels(name: str, version: str) -> list[Wheel]:
    files, url = release_files(name, version)
    found = []
    for item in files:
        wheel = Wheel(item["filename"], urllib.parse.urljoin(url, item["url"]), "")
        if not wheel.filename.endswith(".whl"):
            continue
        python, abi, platforms = wheel.tags
        cpython = python == "cp311" and abi == "cp311"
        stable = abi == "abi3" and python.startswith("cp3") and int(python[3:]) <= 11
        linux = any(p.startswith("manylinux") and p.endswith("x86_64") for p in platforms)
        if (cpython or stable) and linux:
            found.append(Wheel(wheel.filename, wheel.url, item["digests"]["sha256"]))
    if not found:
        raise RuntimeError(f"{name} {version} has no cp311 manylinux x86_64 wheel")
    return found


def choose(old: Sequence[Wheel], new: Sequence[Wheel]) -> tuple[Wheel, Wheel]:
    """The two wheels most alike: same tags if possible, cp311 and manylinux2014 preferred."""

    def score(pair: tuple[Wheel, Wheel]) -> tuple[bool, bool, bool, str]:
        a, b = pair[0].tags, pair[1].tags
        return (a == b, b[0] == "cp311", "manylinux_2_17_x86_64" in b[2], b[1])

    return max(((a, b) for a in old for b in new), key=score)


def download(wheel: Wheel) -> Path:
    path = CACHE / wheel.filename
    if not path.exists() or sha256_of(path) != wheel.sha256:
        print(f"downloading {wheel.filename}", file=sys.stderr)
        part = path.with_suffix(".part")
        with urllib.request.urlopen(wheel.url, timeout=600) as answer, part.open("wb") as f:  # noqa: S310
            while chunk := answer.read(MIB):
                f.write(chunk)
        if sha256_of(part) != wheel.sha256:
            part.unlink()
            raise RuntimeError(f"{wheel.filename}: SHA-256 differs from PyPI's")
        part.replace(path)
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def unpack(whl: Path, into: Path) -> dict[str, Path]:
    files = {}
    with zipfile.ZipFile(whl) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = check_relative(info.filename)
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                while chunk := src.read(MIB):
                    dst.write(chunk)
            files[name] = target
    return dict(sorted(files.items()))


def tar_of(files: dict[str, Path]) -> bytes:
    """A deterministic tar: sorted paths, no times, owners or modes to differ."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, path in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    return buffer.getvalue()


# --- The baselines -------------------------------------------------------------------------------


def zstd_long(data: bytes, prefix: bytes = b"") -> int:
    window = max(10, min(30, (len(prefix) + len(data)).bit_length()))
    option: dict[int, int] = {
        pyzstd.CParameter.compressionLevel: 19,
        pyzstd.CParameter.windowLog: window,
        pyzstd.CParameter.enableLongDistanceMatching: 1,
    }
    as_prefix = pyzstd.ZstdDict(prefix, is_raw=True).as_prefix if prefix else None
    return len(pyzstd.compress(data, level_or_option=option, zstd_dict=as_prefix))


def baseline(method: str, paths: dict[str, str]) -> tuple[int | None, float]:
    """One baseline's size in bytes (``None`` if skipped) and seconds; runs in a worker process."""
    read = {key: Path(value).read_bytes() for key, value in paths.items()}
    started = time.perf_counter()
    size: int | None
    if method == "xz":
        size = len(lzma.compress(read["new_tar"], preset=9 | lzma.PRESET_EXTREME))
    elif method == "zstd":
        size = zstd_long(read["new_tar"])
    elif method == "bsdiff_whl":
        size = len(bsdiff4.diff(read["old_whl"], read["new_whl"]))
    elif method == "bsdiff_tar":
        too_big = max(len(read["old_tar"]), len(read["new_tar"])) > BSDIFF_TAR_LIMIT
        size = None if too_big else len(bsdiff4.diff(read["old_tar"], read["new_tar"]))
    else:
        size = zstd_long(read["new_tar"], read["old_tar"])
    return size, time.perf_counter() - started


class Baselines:
    """Baseline results kept between runs: they depend only on the two wheels and the libraries."""

    def __init__(self) -> None:
        self.path = CACHE.parent / "baselines.json"
        self.known: dict[str, Any] = {}
        if self.path.exists() and os.environ.get("MAMORI_BENCH_REUSE_BASELINES"):
            self.known = json.loads(self.path.read_text())
        self.versions = f"pyzstd {pyzstd.zstd_version} bsdiff4 {bsdiff4.__version__}"

    def key(self, old: Wheel, new: Wheel) -> str:
        return f"{old.sha256[:16]}-{new.sha256[:16]} {self.versions}"

    def get(self, key: str, paths: dict[str, str]) -> dict[str, tuple[int | None, float]]:
        if key in self.known:
            return {m: (v[0], v[1]) for m, v in self.known[key].items()}
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            jobs = {m: pool.submit(baseline, m, paths) for m in BASELINES}
            found = {m: job.result() for m, job in jobs.items()}
        self.known[key] = found
        self.path.write_text(json.dumps(self.known, indent=1))
        return found


# --- Our delta, each phase in a fresh process -----------------------------------------------------


def child(phase: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one phase here (a fresh process) and report its time and memory."""
    old, new, delta = Path(args["old"]), Path(args["new"]), Path(args["delta"])
    base_files = {p.relative_to(old).as_posix(): p for p in old.rglob("*") if p.is_file()}
    target_files = {p.relative_to(new).as_posix(): p for p in new.rglob("*") if p.is_file()}
    expected = {path: (sha, size) for path, (sha, size) in args["expected"].items()}

    def make() -> None:
        make_delta(
            base_files,
            target_files,
            delta,
            product=args["name"],
            bundle_id="bench",
            base_version=args["old_version"],
            to_version=args["new_version"],
        )

    def apply() -> None:
        apply_delta(delta, old, Path(args["out"]), expected)

    gc.collect()
    before = fresh_peak()
    started = time.perf_counter()
    (make if phase == "make" else apply)()
    seconds = time.perf_counter() - started
    peak = memory("VmHWM")
    return {
        "seconds": seconds,
        "baseline_kib": before,
        "peak_kib": peak,
        "size": delta.stat().st_size,
    }


def fresh_peak() -> int:
    """The RSS now, in KiB, with the kernel's peak-RSS mark reset to it (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return memory("VmRSS")


def memory(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak) of this process in KiB.

    Not ``ru_maxrss``: it also holds the peak of the process this one was forked from, and the
    peak of starting the interpreter, which a small phase never reaches.
    """
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in {status}")


def in_child(phase: str, args: dict[str, Any], scratch: Path) -> dict[str, Any]:
    arguments = scratch / f"{phase}.json"
    arguments.write_text(json.dumps(args))
    done = subprocess.run(
        [sys.executable, __file__, "--child", phase, str(arguments)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{phase} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def header_bytes(delta: Path) -> tuple[int, int]:
    """Bytes before the first blob (magic line, JSON header, hashes), and the hashes' share."""
    with delta.open("rb") as f:
        f.read(15)
        length, count = int.from_bytes(f.read(4), "big"), int.from_bytes(f.read(4), "big")
    return 15 + 8 + length + 32 * count, 32 * count


# --- One pair ------------------------------------------------------------------------------------


def measure(pair: Pair, store: Baselines) -> dict[str, Any]:
    old_wheel, new_wheel = choose(wheels(pair.name, pair.old), wheels(pair.name, pair.new))
    old_whl, new_whl = download(old_wheel), download(new_wheel)
    label = f"{pair.name} {pair.old}→{pair.new}"
    print(f"[{label}] {old_wheel.filename} → {new_wheel.filename}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mamori-bench-delta-") as tmp:
        scratch = Path(tmp)
        old_files = unpack(old_whl, scratch / "old")
        new_files = unpack(new_whl, scratch / "new")
        content = sum(p.stat().st_size for p in new_files.values())
        (scratch / "old.tar").write_bytes(tar_of(old_files))
        (scratch / "new.tar").write_bytes(tar_of(new_files))
        paths = {
            "old_whl": str(old_whl),
            "new_whl": str(new_whl),
            "old_tar": str(scratch / "old.tar"),
            "new_tar": str(scratch / "new.tar"),
        }
        found = store.get(store.key(old_wheel, new_wheel), paths)
        args: dict[str, Any] = {
            "name": pair.name,
            "old_version": pair.old,
            "new_version": pair.new,
            "old": str(scratch / "old"),
            "new": str(scratch / "new"),
            "delta": str(scratch / "update.delta"),
            "out": str(scratch / "out"),
            "expected": {n: (sha256_of(p), p.stat().st_size) for n, p in new_files.items()},
        }
        made = in_child("make", args, scratch)
        (scratch / "out").mkdir()
        applied = in_child("apply", args, scratch)
        header, hashes = header_bytes(scratch / "update.delta")
    return {
        "pair": label,
        "step": pair.step,
        "old_wheel": old_wheel.filename,
        "new_wheel": new_wheel.filename,
        "files": len(new_files),
        "content": content,
        "whl": new_whl.stat().st_size,
        "ours": made["size"],
        "header": header,
        "hashes": hashes,
        "baselines": {m: found[m][0] for m in BASELINES},
        "baseline_seconds": {m: found[m][1] for m in BASELINES},
        "make": made,
        "apply": applied,
    }


# --- Report ---------------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def best_single(row: dict[str, Any]) -> tuple[str, int]:
    sizes = [(m, row["baselines"][m]) for m in SINGLE if row["baselines"][m] is not None]
    return min(sizes, key=lambda item: item[1])


def extra_mib(phase: dict[str, Any]) -> float:
    return float(phase["peak_kib"] - phase["baseline_kib"]) / 1024


def report(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Print the tables; return the goals that were missed."""
    columns: list[tuple[str, Callable[[dict[str, Any]], float | None]]] = [
        ("ours", lambda r: r["ours"]),
        ("xz -9e tar", lambda r: r["baselines"]["xz"]),
        ("zstd -19 --long tar", lambda r: r["baselines"]["zstd"]),
        ("bsdiff4 .whl", lambda r: r["baselines"]["bsdiff_whl"]),
        ("bsdiff4 tars", lambda r: r["baselines"]["bsdiff_tar"]),
        ("zstd -19 patch-from tars", lambda r: r["baselines"]["patch_tar"]),
        ("best single", lambda r: best_single(r)[1]),
    ]

    def share(row: dict[str, Any], get: Callable[[dict[str, Any]], float | None]) -> float | None:
        value = get(row)
        return None if value is None else 100 * value / row["whl"]

    def cell(value: float | None) -> str:
        return "skipped (too large)" if value is None else f"{value:.2f}"

    print("Sizes in % of the new .whl (the full download).\n")
    print("| pair | step | files | .whl MB | " + " | ".join(c for c, _ in columns) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(columns))
    for row in rows:
        shown = " | ".join(cell(share(row, get)) for _, get in columns)
        print(
            f"| {row['pair']} | {row['step']} | {row['files']} | {row['whl'] / 1e6:.2f} | {shown} |"
        )
    for name, q in (("median", 0.5), ("p90", 0.9)):
        summary = []
        for _, get in columns:
            values = [v for r in rows if (v := share(r, get)) is not None]
            summary.append(cell(statistics.median(values) if q == 0.5 else pct(values, q)))
        print(f"| **{name}** | | | | " + " | ".join(summary) + " |")
    print()
    print(
        "Ours in detail: its size, the header (magic, JSON with paths and sizes, a SHA-256 for "
        "every file read or written), and the cost of making and applying it, each in a fresh "
        "process (peak RSS less the process's RSS before the phase, which is the baseline).\n"
    )
    print(
        "| pair | new content MB | ours KB | of it header KB | best single KB (method) "
        "| make s | make peak MiB (baseline) | apply s | apply peak MiB (baseline) "
        "| apply peak / content |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        method, size = best_single(row)
        make, apply = row["make"], row["apply"]
        print(
            f"| {row['pair']} | {row['content'] / 1e6:.1f} | {row['ours'] / 1e3:.1f} "
            f"| {row['header'] / 1e3:.1f} | {size / 1e3:.1f} ({method}) "
            f"| {make['seconds']:.1f} | {extra_mib(make):.0f} ({make['baseline_kib'] / 1024:.0f}) "
            f"| {apply['seconds']:.2f} | {extra_mib(apply):.1f} "
            f"({apply['baseline_kib'] / 1024:.0f}) | {ratio(row):.2f}x |"
        )
    print()
    return goals(rows)


def ratio(row: dict[str, Any]) -> float:
    return extra_mib(row["apply"]) * MIB / float(row["content"])


def goals(rows: Sequence[dict[str, Any]]) -> list[str]:
    median = statistics.median(100 * r["ours"] / r["whl"] for r in rows)
    larger = [r for r in rows if r["ours"] > best_single(r)[1]]
    heavy = [r for r in rows if ratio(r) > 2]
    missed = []
    lines = [f"median delta {median:.2f} % of the .whl (goal <= 15 %): " + _met(median <= 15)]
    if median > 15:
        missed.append("median")
    lines.append(
        "never larger than the best single method on any pair: "
        + _met(not larger)
        + "".join(
            f"\n  - {r['pair']}: {r['ours']:,} B vs {best_single(r)[1]:,} B "
            f"({best_single(r)[0]}), +{r['ours'] - best_single(r)[1]:,} B; the header alone is "
            f"{r['header']:,} B for {r['files']} files"
            for r in larger
        )
    )
    if larger:
        missed.append("never larger")
        still = [r["pair"] for r in larger if r["ours"] - r["hashes"] > best_single(r)[1]]
        lines.append(
            "  without its table of SHA-256s (32 B for each file read or written, integrity data "
            "no baseline carries) ours would still be larger on: " + (", ".join(still) or "none")
        )
    worst = max(rows, key=ratio)
    big = [r for r in rows if r["content"] >= MIB]
    lines.append(
        f"apply peak memory <= 2x the new content: {_met(not heavy)} (largest "
        f"{ratio(worst):.2f}x, {worst['pair']}; on products of 1 MiB or more, where the "
        f"decoders' fixed cost of about half a MiB does not dominate, largest "
        f"{max(map(ratio, big), default=0):.2f}x)"
        + "".join(f"\n  - {r['pair']}: {ratio(r):.2f}x" for r in heavy)
    )
    if heavy:
        missed.append("apply memory")
    print("\n".join(f"- {line}" for line in lines))
    return missed


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], json.loads(Path(sys.argv[3]).read_text()))))
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    store = Baselines()
    rows = []
    only = set(filter(None, os.environ.get("MAMORI_BENCH_DELTA_ONLY", "").split(",")))
    for pair in (p for p in PAIRS if not only or p.name in only):
        rows.append(measure(pair, store))
        row = rows[-1]
        print(
            f"[{row['pair']}] ours {row['ours']:,} B, best single {best_single(row)[1]:,} B, "
            f"make {row['make']['seconds']:.0f} s",
            file=sys.stderr,
        )
    print(f"# Deltas on {len(rows)} real wheel upgrades (cp311, manylinux x86_64)\n")
    missed = report(rows)
    (CACHE.parent / "results.json").write_text(
        json.dumps({"rows": rows, "missed_goals": missed}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
