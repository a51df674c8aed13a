"""Making deltas (the format and applying them are in :mod:`mamori.core.delta`).

For each file of the new version the smallest of a copy, zstd patch-from and bsdiff4 against the
best base candidate, or plain zstd, is kept; small files share solid blocks. See
:mod:`mamori.core.delta` for the container and the guarantees of applying.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import json
import lzma
import os
import re
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import bsdiff4
import pyzstd

from mamori.core.delta import (
    _BSDIFF,
    _BZ2,
    _PATCH,
    _PRIMER,
    _XZ,
    _ZSTD,
    BSDIFF_LIMIT,
    CONTEXT_MAX,
    DEFAULT_LEVEL,
    FORMAT,
    LZMA_DICT_MAX,
    LZMA_PRESET,
    MAGIC,
    MAX_HEADER,
    MIN_PREFIX,
    QUICK,
    SMALL,
    SOLID_MAX,
    WINDOW_LOG_MAX,
    DeltaInfo,
    _check,
    _Output,
    _prefix_limit,
    read_info,
)
from mamori.core.paths import check_relative
from mamori.errors import InvalidInput


@dataclass(frozen=True)
class _File:
    path: str
    source: Path
    size: int
    sha256: str

    def read(self) -> bytes:
        return self.source.read_bytes()


@dataclass(frozen=True)
class _Encoded:
    """One candidate blob: its bytes and header entry, before the base indexes are known."""

    method: str
    data: bytes
    sources: tuple[str, ...]
    outputs: tuple[_Output, ...]
    streams: tuple[tuple[str, int, int], ...] = ()


def make_delta(
    base_files: Mapping[str, Path],
    target_files: Mapping[str, Path],
    out: Path,
    *,
    product: str,
    bundle_id: str,
    base_version: str,
    to_version: str,
    level: int = DEFAULT_LEVEL,
) -> DeltaInfo:
    """Write the delta from ``base_files`` to ``target_files`` to ``out`` (atomically).

    Both map relative paths to the files holding their content: ``base_files`` the version that
    is installed, ``target_files`` the new one (the bundle's files).
    """
    if not 1 <= level <= 22:
        raise InvalidInput("must be between 1 and 22", field="level")
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        base = _describe(base_files, pool)
        targets = _describe(target_files, pool)
        coder = _Coder(level, base, (base_version, to_version))
        copies, blobs = coder.plan(sorted(targets.values(), key=lambda f: f.path), pool)
    names = {"product": product, "bundle_id": bundle_id}
    names |= {"base_version": base_version, "to_version": to_version}
    return _write_delta(out, names, base, copies, blobs)


def _describe(files: Mapping[str, Path], pool: ThreadPoolExecutor) -> dict[str, _File]:
    for path in files:
        check_relative(path)

    def one(path: str) -> _File:
        with open(files[path], "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
            return _File(path, files[path], os.fstat(f.fileno()).st_size, sha)

    return {item.path: item for item in pool.map(one, sorted(files))}


_DIGITS = re.compile(r"[0-9a-f]{6,}|[0-9]+")


class _Coder:
    """Chooses and encodes a blob (or a copy) for every new file."""

    def __init__(self, level: int, base: Mapping[str, _File], versions: tuple[str, str]) -> None:
        self.level = level
        self.base = base
        self.by_sha: dict[str, str] = {}
        for item in base.values():
            self.by_sha.setdefault(item.sha256, item.path)
        old, new = versions
        self.old_names, self.new_names = _spellings(old), _spellings(new)
        self.by_version = {_unversioned(p, self.old_names): p for p in sorted(base, reverse=True)}
        self.by_shape: dict[str, list[_File]] = {}
        self.by_name: dict[str, list[_File]] = {}
        for item in base.values():
            self.by_shape.setdefault(_DIGITS.sub("#", item.path), []).append(item)
            self.by_name.setdefault(PurePosixPath(item.path).name, []).append(item)
        self.context: list[str] = []  # small base files that copies use

    def plan(
        self, targets: Sequence[_File], pool: ThreadPoolExecutor
    ) -> tuple[list[tuple[str, str]], list[_Encoded]]:
        copies, changed = [], []
        for target in targets:
            same = self.base.get(target.path)
            if same is not None and same.sha256 == target.sha256:
                copies.append((target.path, target.path))
            elif target.sha256 in self.by_sha:
                copies.append((target.path, self.by_sha[target.sha256]))
            else:
                changed.append(target)
        # Base files that copies list anyway cost nothing more as context for solid blocks.
        self.context = sorted({s for _, s in copies if self.base[s].size <= SMALL})
        singles = dict(zip(changed, pool.map(self.best_single, changed), strict=True))
        small = [t for t in changed if t.size <= SMALL]
        blobs = [singles[t] for t in changed if t.size > SMALL]
        return copies, blobs + self.best_small(small, singles, pool)

    def candidate(self, target: _File) -> _File | None:
        """The base file most likely to resemble ``target``, if any."""
        limit = _prefix_limit(target.size)
        found = self.base.get(target.path)
        if found is None:
            key = _unversioned(target.path, self.new_names)
            found = self.base.get(self.by_version.get(key, ""))
        if found is None:
            alike = self.by_shape.get(_DIGITS.sub("#", target.path), [])
            alike = alike or self.by_name.get(PurePosixPath(target.path).name, [])
            near = [f for f in alike if 2 * min(f.size, target.size) >= max(f.size, target.size)]
            found = min(near, key=lambda f: abs(f.size - target.size), default=None)
        return found if found is not None and found.size <= limit else None

    def best_single(self, target: _File) -> _Encoded:
        """The smallest of bsdiff, patch-from and plain zstd for one file.

        On big files a slow method is skipped when a quick estimate (zstd level 3, which level 19
        improves on by well under half) shows it cannot win.
        """
        new = target.read()
        output = (_Output(target.path, target.size, target.sha256),)
        base = self.candidate(target)
        tries: list[_Encoded] = []
        if base is not None and base.size:
            old = base.read()
            if max(base.size, target.size) <= BSDIFF_LIMIT:
                data, streams = _bsdiff(old, new)
                tries.append(_Encoded(_BSDIFF, data, (base.path,), output, streams))
            if base.size >= MIN_PREFIX and not self.hopeless(tries, new, old):
                tries.append(_Encoded(_PATCH, self.zstd(new, old), (base.path,), output))
        if not self.hopeless(tries, new):
            tries.append(_Encoded(_ZSTD, self.zstd(new), (), output))
        return min(tries, key=lambda e: len(e.data))

    def hopeless(self, tries: Sequence[_Encoded], new: bytes, prefix: bytes = b"") -> bool:
        if not tries or len(new) < QUICK:
            return False
        best = min(len(e.data) for e in tries)
        return 2 * best < len(self.zstd(new, prefix, level=3))

    def best_small(
        self,
        small: Sequence[_File],
        singles: Mapping[_File, _Encoded],
        pool: ThreadPoolExecutor,
    ) -> list[_Encoded]:
        """The smallest of: each file alone, or solid blocks (of all, or of those not bsdiffed)."""
        options = [[singles[t] for t in small]]
        groups: list[list[_File]] = []
        for limit in (SMALL, 256 << 10, 32 << 10):
            group = [t for t in small if t.size <= limit and singles[t].method != _BSDIFF]
            if limit == SMALL:
                groups.append(list(small))
            if group and group not in groups:
                groups.append(group)
        for group in groups:
            inside = {t.path for t in group}
            rest = [singles[t] for t in small if t.path not in inside]
            options.append(rest + list(pool.map(self.solid, _chunks(group))))
        return min(options, key=lambda blobs: sum(len(b.data) for b in blobs))

    def solid(self, group: Sequence[_File]) -> _Encoded:
        """One block for ``group``: patch-from their concatenated bases, or plain if smaller."""
        new = b"".join(t.read() for t in group)
        outputs = tuple(_Output(t.path, t.size, t.sha256) for t in group)
        sources: list[str] = []
        room = _prefix_limit(len(new))
        unmatched = set()
        for target in group:
            base = self.candidate(target)
            if base is not None and 0 < base.size <= room and base.path not in sources:
                sources.append(base.path)
                room -= base.size
            elif base is None:
                unmatched.add(PurePosixPath(target.path).suffix)
        context, left = [], min(room, CONTEXT_MAX) if unmatched else 0
        # For files with no base of their own: unchanged files, those of the same kind first.
        alike = sorted(self.context, key=lambda path: PurePosixPath(path).suffix not in unmatched)
        for item in alike:
            if 0 < self.base[item].size <= left and item not in sources:
                context.append(item)
                left -= self.base[item].size
        sources = context[::-1] + sources  # the closest matches nearest the new data
        plain = _Encoded(_ZSTD, self.zstd(new), (), outputs)
        if sum(self.base[path].size for path in sources) < MIN_PREFIX:
            return plain
        old = b"".join(self.base[path].read() for path in sources)
        patched = _Encoded(_PATCH, self.zstd(new, old), tuple(sources), outputs)
        return min(plain, patched, key=lambda e: len(e.data))

    def zstd(self, data: bytes, prefix: bytes = b"", level: int = 0) -> bytes:
        window = max(10, min(WINDOW_LOG_MAX - 1, (len(prefix) + len(data)).bit_length()))
        option: dict[int, int] = {
            pyzstd.CParameter.compressionLevel: level or self.level,
            pyzstd.CParameter.windowLog: window,
            pyzstd.CParameter.enableLongDistanceMatching: int(window > 24),
            pyzstd.CParameter.checksumFlag: 0,  # every file has its SHA-256
            pyzstd.CParameter.dictIDFlag: 0,
        }
        as_prefix = pyzstd.ZstdDict(prefix, is_raw=True).as_prefix if prefix else None
        return pyzstd.compress(data, level_or_option=option, zstd_dict=as_prefix)


def _chunks(group: Sequence[_File]) -> Iterator[list[_File]]:
    chunk: list[_File] = []
    held = 0
    for item in group:
        if chunk and held + item.size > SOLID_MAX:
            yield chunk
            chunk, held = [], 0
        chunk.append(item)
        held += item.size
    if chunk:
        yield chunk


def _spellings(version: str) -> list[str]:
    """How a version may be spelt in a path (``1.0-rc1``, ``1.0_rc1``, ``1_0_rc1``...)."""
    found = {
        version,
        version.replace("-", "_"),
        version.replace("-", "."),
        version.replace("_", "-"),
    }
    found |= {v.replace(".", "_") for v in list(found)}
    return sorted((v for v in found if v), key=len, reverse=True)


def _unversioned(path: str, spellings: Sequence[str]) -> str:
    for spelling in spellings:
        path = path.replace(spelling, "\0")
    return path


def _bsdiff(old: bytes, new: bytes) -> tuple[bytes, tuple[tuple[str, int, int], ...]]:
    """bsdiff4's patch as five streams (x, y, z columns, diff, extra), each LZMA2 or bzip2."""
    controls, diff, extra = _parse_bsdiff40(bsdiff4.diff(old, new))
    merged: list[list[int]] = []
    for x, y, z in controls:
        if x == y == 0 and merged:
            merged[-1][2] += z  # a control that only moves the position in the old file
        else:
            merged.append([x, y, z])
    columns = [
        b"".join(_varint(c[0]) for c in merged),
        b"".join(_varint(c[1]) for c in merged),
        b"".join(_varint((c[2] << 1) ^ (c[2] >> 63)) for c in merged),
    ]
    parts, streams = [], []
    for stream in [*columns, diff, extra]:
        dict_size = max(4096, min(LZMA_DICT_MAX, len(stream)))
        filters = [{"id": lzma.FILTER_LZMA2, "preset": LZMA_PRESET, "dict_size": dict_size}]
        packed = lzma.compress(stream, format=lzma.FORMAT_RAW, filters=filters)
        other = bz2.compress(stream, 9)  # better on some sparse diffs
        codec, packed, dict_size = (
            (_BZ2, other, 0) if len(other) < len(packed) else (_XZ, packed, dict_size)
        )
        parts.append(packed)
        streams.append((codec, len(packed), dict_size))
    return b"".join(parts), tuple(streams)


def _parse_bsdiff40(patch: bytes) -> tuple[list[tuple[int, int, int]], bytes, bytes]:
    def number(raw: bytes) -> int:
        value = int.from_bytes(raw, "little")
        return -(value & ~(1 << 63)) if value >> 63 else value

    if patch[:8] != b"BSDIFF40":
        raise ValueError("bsdiff4 returned an unknown patch format")
    control_length, diff_length = number(patch[8:16]), number(patch[16:24])
    control = bz2.decompress(patch[32 : 32 + control_length])
    diff = bz2.decompress(patch[32 + control_length : 32 + control_length + diff_length])
    extra = bz2.decompress(patch[32 + control_length + diff_length :])
    controls = [
        (
            number(control[i : i + 8]),
            number(control[i + 8 : i + 16]),
            number(control[i + 16 : i + 24]),
        )
        for i in range(0, len(control), 24)
    ]
    return controls, diff, extra


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _write_delta(
    out: Path,
    names: dict[str, str],
    base: Mapping[str, _File],
    copies: Sequence[tuple[str, str]],
    blobs: Sequence[_Encoded],
) -> DeltaInfo:
    used = sorted({s for _, s in copies} | {s for b in blobs for s in b.sources})
    index = {path: i for i, path in enumerate(used)}
    header: dict[str, object] = {
        "format": FORMAT,
        **names,
        "base": used,
        "copies": _copy_entries(copies, index),
        "blobs": [_blob_entry(blob, index) for blob in blobs],
    }
    hashes = [base[path].sha256 for path in used]
    hashes += [output.sha256 for blob in blobs for output in blob.outputs]
    table = bytes.fromhex("".join(hashes))
    header["digests"] = _check(table)
    text = json.dumps(header, separators=(",", ":")).encode()
    option: dict[int, int] = {
        pyzstd.CParameter.compressionLevel: 19,
        pyzstd.CParameter.checksumFlag: 1,
    }
    frame = pyzstd.compress(text, level_or_option=option, zstd_dict=_PRIMER)
    if max(len(frame), len(text), 32 * len(hashes)) > MAX_HEADER:
        raise InvalidInput("the delta's header would be over its size limit", field="target_files")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + struct.pack(">II", len(frame), len(hashes)) + frame)
            f.write(table)
            for blob in blobs:
                f.write(blob.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return read_info(out)


def _copy_entries(copies: Sequence[tuple[str, str]], index: Mapping[str, int]) -> list[object]:
    """A copy to the same path is the gap from the previous such copy's base index (mostly 1)."""
    entries: list[object] = []
    last = -1
    for target, source in copies:
        if target == source:
            entries.append(index[source] - last)
            last = index[source]
        else:
            entries.append([target, index[source]])
    return entries


def _blob_entry(blob: _Encoded, index: Mapping[str, int]) -> dict[str, object]:
    entry: dict[str, object] = {
        "method": blob.method,
        "length": len(blob.data),
        "from": [index[path] for path in blob.sources],
        "files": [[o.path, o.size] for o in blob.outputs],
    }
    if blob.method == _BSDIFF:
        entry["streams"] = [list(stream) for stream in blob.streams]
    return entry
