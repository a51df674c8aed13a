"""Deltas: a product's new files, expressed against the version a client already has installed.

A delta is computed on uncompressed content (never on compressed containers) and carries, for each
file of the new version, the cheapest of:

``copy``
    a base file (any path) with the identical SHA-256; costs nothing but its entry.
``patch``
    zstd "patch-from": the new content compressed with the base candidate(s) as a raw prefix.
``bsdiff``
    bsdiff4's matches against the base candidate, its five streams (three control columns, diff,
    extra) each compressed with LZMA2 or bzip2, whichever is smaller (12-20 % smaller than
    bsdiff4's own format on compiled code), and applied as a stream: the base file is read with
    ``pread`` and nothing is held whole.
``zstd``
    the new content alone.

The base candidate of a new file is the base file at the same path, else at the same path with
the version changed (``pkg-1.0.dist-info/RECORD``), else one of similar size whose path differs
only in numbers and hashes (``libfoo-1a2b3c4d.so.3``) or that has the same name. Small files are
also tried together in *solid* zstd blocks (plain, or patch-from against their bases and alike
unchanged files), which saves the per-file cost; whichever plan is smallest is kept.

The container (``mamori-delta/1``)::

    b"mamori-delta/1\n"       magic line
    4 bytes, big-endian        length of the header frame
    4 bytes, big-endian        number of hashes
    header frame               zstd (with a checksum, and PRIMER as prefix) of the JSON header
    hashes                     32 bytes each: the SHA-256 of every base file, then of every
                               file the blobs produce, in the header's order
    blobs                      back to back, in the header's order

The JSON header holds the product, bundle and versions, the base files read (``base``: paths),
the copies (``copies``: for a copy to the same path, the gap from the previous such copy's base
index; else ``[path, base index]``), the blobs (method, length, base indexes, the files produced
as ``[path, size]``, and for bsdiff its streams as ``[codec, length, LZMA dictionary size]``)
and ``digests``, a check of the hashes. A copy's hash is its base file's.

This module reads and applies deltas (:func:`read_info`, :func:`apply_delta`);
:mod:`mamori.core.delta_make` makes them (``make_delta``).

Applying never holds more than one blob's data: ``patch`` holds its prefix and zstd's window,
``bsdiff`` and copies stream, every output is checked against its expected size and SHA-256,
and nothing is decompressed beyond one byte past what the files should hold.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import json
import lzma
import os
import stat
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyzstd

from mamori.core.paths import check_relative, lstat_beneath, open_beneath, parents
from mamori.errors import InvalidInput, NotApplicable, VerificationFailed

FORMAT = "mamori-delta/1"
DEFAULT_LEVEL = 19
MAGIC = FORMAT.encode() + b"\n"
MAX_HEADER = 16 << 20  # compressed and decompressed
CHUNK = 1 << 20  # reads, writes and decompression steps
STEP = 64 << 10  # outputs are written this much at a time (bsdiff adds on integers this big)
SMALL = 1 << 20  # files up to this size may share a solid block
SOLID_MAX = 8 << 20  # new content per solid block, which bounds apply's memory for it
CONTEXT_MAX = 1 << 20  # unchanged base files a solid block may use as context
MIN_PREFIX = 8  # zstd takes no shorter prefix
QUICK = 1 << 20  # from this size on, methods that cannot win are skipped after a quick estimate
# bsdiff4 takes ~17x its input in memory and O(n log n) time; above this, patch-from and plain
# zstd still compete (and a big file rarely gains much from bsdiff over patch-from).
BSDIFF_LIMIT = 64 << 20
LZMA_DICT_MAX = 4 << 20  # dictionary of each bsdiff stream: bounds apply's memory, costs ~0.1 %
LZMA_PRESET = 9 | lzma.PRESET_EXTREME
WINDOW_LOG_MAX = 31
_ZSTD, _PATCH, _BSDIFF = "zstd", "patch", "bsdiff"  # the blobs' methods
# The header frame is compressed with this raw prefix (part of the format: never change it).
PRIMER = (
    b'{"format":"mamori-delta/1","product":"","bundle_id":"","base_version":"","to_version":"",'
    b'"base":[""],"copies":[1,1,1],"blobs":[{"method":"patch","length":0,"from":[0],"files":'
    b'[["",0]]},{"method":"zstd","length":0,"from":[],"files":[["",0]]},{"method":"bsdiff",'
    b'"length":0,"from":[0],"files":[["",0]],"streams":[["xz",0,0],["bz2",0,0]]}],"digests":""}'
)
_PRIMER = pyzstd.ZstdDict(PRIMER, is_raw=True).as_prefix
_XZ, _BZ2 = "xz", "bz2"  # the codecs of a bsdiff blob's streams


@dataclass(frozen=True)
class DeltaInfo:
    product: str
    bundle_id: str
    base_version: str
    to_version: str
    base: dict[str, str]  # relative path -> sha256 of every base file the delta reads
    files: dict[str, str]  # relative path -> sha256 of every file the delta produces
    size: int  # bytes of the delta file


@dataclass(frozen=True)
class _Output:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _Blob:
    method: str
    length: int
    sources: tuple[str, ...]  # base paths: the prefix (patch) or the old file (bsdiff)
    outputs: tuple[_Output, ...]  # concatenated in this order
    streams: tuple[tuple[str, int, int], ...] = ()  # bsdiff: (codec, length, LZMA dictionary)


@dataclass(frozen=True)
class _Plan:
    info: DeltaInfo
    copies: tuple[tuple[str, str], ...]  # (new path, base path)
    blobs: tuple[_Blob, ...]
    data_offset: int  # where the first blob starts


# --- Reading the header ---------------------------------------------------------------------


def read_info(delta: Path) -> DeltaInfo:
    """The delta's header, read (at most :data:`MAX_HEADER` bytes of it) and validated."""
    return _read_plan(delta).info


def _read_plan(delta: Path) -> _Plan:
    with open(delta, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(len(MAGIC)) != MAGIC:
            raise VerificationFailed(f"{delta.name} is not a {FORMAT} file")
        raw = f.read(8)
        length, count = struct.unpack(">II", raw) if len(raw) == 8 else (0, 0)
        if not 0 < length <= MAX_HEADER or 32 * count > MAX_HEADER:
            raise VerificationFailed("the delta's header is truncated or over its size limit")
        frame, digests = f.read(length), f.read(32 * count)
    if len(frame) != length or len(digests) != 32 * count:
        raise VerificationFailed("the delta's header is truncated")
    try:
        decoder = pyzstd.ZstdDecompressor(_PRIMER, option={pyzstd.DParameter.windowLogMax: 25})
        text = decoder.decompress(frame, MAX_HEADER + 1)
        if not decoder.eof or decoder.unused_data or len(text) > MAX_HEADER:
            raise VerificationFailed("the delta's header is truncated or over its size limit")
        header = json.loads(text.decode("utf-8"))
    except (pyzstd.ZstdError, ValueError, RecursionError) as error:  # JSON nested too deep
        raise VerificationFailed(f"the delta's header is unreadable: {error}") from None
    if not isinstance(header, dict) or header.get("digests") != _check(digests):
        raise VerificationFailed("the delta's table of hashes is corrupt")
    hashes = [digests[i : i + 32].hex() for i in range(0, len(digests), 32)]
    plan = _parse_header(_Reader(header, hashes), len(MAGIC) + 8 + length + 32 * count, size)
    if plan.data_offset + sum(blob.length for blob in plan.blobs) != size:
        raise VerificationFailed("the delta is truncated or has trailing data")
    return plan


class _Reader:
    """Typed access to the untrusted header: anything unexpected fails verification."""

    def __init__(self, header: object, hashes: Sequence[str]) -> None:
        self.fields = self.mapping(header, "header")
        self.hashes = iter(hashes)

    @staticmethod
    def fail(what: str) -> VerificationFailed:
        return VerificationFailed(f"the delta's header is invalid: {what}")

    def mapping(self, value: object, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{what} is not an object")
        return value

    def items(self, value: object, what: str, length: int = -1) -> list[Any]:
        if not isinstance(value, list) or length not in (-1, len(value)):
            raise self.fail(f"{what} is not a list" + (f" of {length}" if length >= 0 else ""))
        return value

    def text(self, value: object, what: str) -> str:
        if not isinstance(value, str):
            raise self.fail(f"{what} is not a string")
        return value

    def number(self, value: object, what: str, low: int = 0, high: int = 1 << 62) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"{what} is not a whole number in [{low}, {high}]")
        return value

    def path(self, value: object, what: str) -> str:
        try:
            return check_relative(value, field=what)
        except InvalidInput as error:
            raise self.fail(error.message) from None

    def sha(self) -> str:
        found = next(self.hashes, None)
        if found is None:
            raise self.fail("it names more files than it has hashes for")
        return found

    def output(self, value: object) -> _Output:
        entry = self.items(value, "a file entry", 2)
        path = self.path(entry[0], "file path")
        return _Output(path, self.number(entry[1], path), self.sha())


_NAMES = ("product", "bundle_id", "base_version", "to_version")


def _parse_header(read: _Reader, data_offset: int, size: int) -> _Plan:
    fields = read.fields
    if set(fields) != {"format", *_NAMES, "base", "copies", "blobs", "digests"}:
        raise read.fail(f"its fields are {sorted(fields)}")
    if fields["format"] != FORMAT:
        raise VerificationFailed(f"the delta's format is {fields['format']!r}, not {FORMAT!r}")
    names = {key: read.text(fields[key], key) for key in _NAMES}
    base = {read.path(path, "base path"): read.sha() for path in read.items(fields["base"], "base")}
    paths = list(base)
    if len(paths) != len(fields["base"]):
        raise read.fail("a base file is listed twice")

    def base_path(value: object) -> str:
        return paths[read.number(value, "a base index", 0, len(paths) - 1)]

    copies, last = [], -1
    for entry in read.items(fields["copies"], "copies"):
        if isinstance(entry, list):
            pair = read.items(entry, "a copy", 2)
            copies.append((read.path(pair[0], "copy path"), base_path(pair[1])))
        else:
            last += read.number(entry, "a copy", 1, len(paths))
            copies.append((base_path(last), base_path(last)))
    files = {target: base[source] for target, source in copies}
    blobs = tuple(
        _parse_blob(read, item, base_path) for item in read.items(fields["blobs"], "blobs")
    )
    for output in (output for blob in blobs for output in blob.outputs):
        files[output.path] = output.sha256
    if len(files) != len(copies) + sum(len(blob.outputs) for blob in blobs):
        raise read.fail("a file is produced twice")
    if next(read.hashes, None) is not None:
        raise read.fail("it has more hashes than files")
    info = DeltaInfo(base=base, files=files, size=size, **names)
    return _Plan(info, tuple(copies), blobs, data_offset)


def _parse_blob(read: _Reader, value: object, base_path: Callable[[object], str]) -> _Blob:
    item = read.mapping(value, "a blob")
    method = item.get("method")
    keys = {"method", "length", "from", "files"} | ({"streams"} if method == _BSDIFF else set())
    if set(item) != keys or method not in (_ZSTD, _PATCH, _BSDIFF):
        raise read.fail(f"a blob has the fields {sorted(item)} and method {method!r}")
    sources = tuple(base_path(index) for index in read.items(item["from"], "from"))
    outputs = tuple(read.output(entry) for entry in read.items(item["files"], "files"))
    length = read.number(item["length"], "a blob's length")
    if not outputs or (method == _ZSTD) != (not sources):
        raise read.fail(f"a {method} blob has {len(sources)} bases and {len(outputs)} files")
    if method != _BSDIFF:
        return _Blob(method, length, sources, outputs)
    streams = tuple(
        _parse_stream(read, entry) for entry in read.items(item["streams"], "streams", 5)
    )
    if len(sources) != 1 or len(outputs) != 1:
        raise read.fail("a bsdiff blob needs one base and one file")
    if sum(stream[1] for stream in streams) != length:
        raise read.fail("a bsdiff blob's streams do not add up to its length")
    return _Blob(method, length, sources, outputs, streams)


def _parse_stream(read: _Reader, value: object) -> tuple[str, int, int]:
    codec, length, dict_size = read.items(value, "a stream", 3)
    if codec not in (_XZ, _BZ2):
        raise read.fail(f"a stream's codec is {codec!r}")
    return (
        codec,
        read.number(length, "a stream's length"),
        read.number(dict_size, "a dictionary size", 0, LZMA_DICT_MAX),
    )


# --- Applying ---------------------------------------------------------------------------------


def apply_delta(
    delta: Path, base_root: Path, out_dir: Path, expected: Mapping[str, tuple[str, int]]
) -> DeltaInfo:
    """Write the files the delta produces to ``out_dir``, each verified against ``expected``.

    ``expected`` maps every path of the new version to its (sha256, size) from the signed
    manifest. Raises :class:`NotApplicable` (before writing anything) if a base file named by the
    delta is missing or different under ``base_root``, and :class:`VerificationFailed` if the
    delta is corrupt or does not produce exactly the expected files. On any error, nothing this
    call wrote is left in ``out_dir``.
    """
    plan = _read_plan(delta)
    _check_expected(plan, expected)
    _check_base(plan.info.base, base_root)
    outputs = _Outputs(out_dir)
    try:
        for target, source in plan.copies:
            sha, size = expected[target]
            _copy(base_root, source, outputs, _Output(target, size, sha))
        with open(delta, "rb") as f:
            offset = plan.data_offset
            for blob in plan.blobs:
                _apply_blob(f.fileno(), offset, blob, base_root, outputs)
                offset += blob.length
    except BaseException:
        outputs.discard()
        raise
    return plan.info


def _check_expected(plan: _Plan, expected: Mapping[str, tuple[str, int]]) -> None:
    produced = plan.info.files
    extra, missing = sorted(produced.keys() - expected.keys()), sorted(expected - produced.keys())
    if extra or missing:
        raise VerificationFailed(
            f"the delta does not produce the manifest's files: extra {_few(extra)}, "
            f"missing {_few(missing)}"
        )
    wrong = sorted(path for path, sha in produced.items() if expected[path][0] != sha)
    sizes = {out.path: out.size for blob in plan.blobs for out in blob.outputs}
    wrong += sorted(path for path, size in sizes.items() if expected[path][1] != size)
    if wrong:
        raise VerificationFailed(f"the delta's files differ from the manifest's: {_few(wrong)}")


def _few(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:5]) or "none"
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _check_base(base: Mapping[str, str], root: Path) -> None:
    problems = []
    for path, sha in sorted(base.items()):
        try:
            fd = open_beneath(root, path)
        except FileNotFoundError:
            problems.append(f"{path} is missing")
            continue
        except (InvalidInput, OSError) as error:
            problems.append(f"{path} cannot be read safely ({getattr(error, 'message', error)})")
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                problems.append(f"{path} is not a regular file")
            elif _digest(fd) != sha:
                problems.append(f"{path} differs")
        finally:
            os.close(fd)
    if problems:
        raise NotApplicable(f"the delta's base does not match what is installed: {_few(problems)}")


def _digest(fd: int) -> str:
    digest = hashlib.sha256()
    while data := os.read(fd, CHUNK):
        digest.update(data)
    return digest.hexdigest()


class _Outputs:
    """The files and directories one apply created under ``root``, so that they can be removed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[str] = []  # files and directories, in the order they were made

    def create(self, path: str) -> int:
        for folder in parents(path):
            found = lstat_beneath(self.root, folder)
            if found is None:
                os.mkdir(self.root / folder, 0o700)
                self.created.append(folder)
            elif not stat.S_ISDIR(found.st_mode):
                raise InvalidInput(f"{folder} in {self.root} is in the way of {path}")
        try:
            fd = open_beneath(self.root, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInput(f"{path} already exists in {self.root}") from None
        self.created.append(path)
        return fd

    def discard(self) -> None:
        for path in reversed(self.created):
            with contextlib.suppress(OSError, InvalidInput):
                found = lstat_beneath(self.root, path)  # refuses a directory swapped for a link
                if found is not None and stat.S_ISDIR(found.st_mode):
                    os.rmdir(self.root / path)
                elif found is not None:
                    os.unlink(self.root / path)
        self.created.clear()


class _Sink:
    """Writes a run of outputs from a stream of bytes, checking each one's size and hash."""

    def __init__(self, outputs: _Outputs, files: Iterable[_Output]) -> None:
        self.outputs = outputs
        self.pending = iter(files)
        self.fd = -1
        self.left = 0
        self.hash = hashlib.sha256()
        self.current = self._open_next()
        self._advance()

    def _open_next(self) -> _Output | None:
        current = next(self.pending, None)
        if current is not None:
            self.fd, self.left = self.outputs.create(current.path), current.size
            self.hash = hashlib.sha256()
        return current

    def _advance(self) -> None:
        """Close every output that is complete (checking its hash) and open the next."""
        while self.current is not None and self.left == 0:
            self.close()
            if self.hash.hexdigest() != self.current.sha256:
                raise VerificationFailed(f"{self.current.path} does not match its SHA-256")
            self.current = self._open_next()

    @property
    def wanted(self) -> int:
        """How many bytes to ask for next: never more than the current output still needs."""
        return min(self.left, STEP)

    @property
    def done(self) -> bool:
        return self.current is None

    def write(self, data: bytes | memoryview) -> None:
        if len(data) > self.left:
            raise VerificationFailed("the delta produces more data than its files hold")
        _write(self.fd, data)
        self.hash.update(data)
        self.left -= len(data)
        self._advance()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(root: Path, source: str, outputs: _Outputs, output: _Output) -> None:
    fd = open_beneath(root, source)
    try:
        with contextlib.closing(_Sink(outputs, [output])) as sink:
            while not sink.done:
                data = os.read(fd, sink.wanted)
                if not data:
                    raise VerificationFailed(f"{source} is shorter than {output.path} should be")
                sink.write(data)
        if os.read(fd, 1):
            raise VerificationFailed(f"{source} is longer than {output.path} should be")
    finally:
        os.close(fd)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Stream:
    """The decompressed bytes of one stream lying at ``offset`` in the delta file, on demand.

    Only as much is decompressed as the caller asks for, so a stream that expands beyond what
    its files should hold is stopped one byte after their expected size.
    """

    def __init__(self, fd: int, offset: int, length: int, decoder: _Decompressor) -> None:
        self.fd, self.offset, self.end = fd, offset, offset + length
        self.decoder = decoder
        self.buffer = b""  # read ahead by varint() only
        self.pos = 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` (> 0) bytes, or ``b""`` at the end of the stream."""
        if self.pos < len(self.buffer):
            data = self.buffer[self.pos : self.pos + n]
            self.pos += len(data)
            return data
        while not self.decoder.eof:
            data = b""
            if self.decoder.needs_input:
                data = os.pread(self.fd, min(CHUNK, self.end - self.offset), self.offset)
                if not data:
                    raise VerificationFailed("a blob of the delta is truncated")
                self.offset += len(data)
            try:
                out = self.decoder.decompress(data, n)
            except (pyzstd.ZstdError, lzma.LZMAError, OSError, EOFError) as error:
                raise VerificationFailed(f"a blob of the delta is corrupt: {error}") from None
            if out:
                return out
        return b""

    def exact(self, n: int) -> bytes:
        data = self.read(n)
        while len(data) < n:
            more = self.read(n - len(data))
            if not more:
                raise VerificationFailed("a blob of the delta ends early")
            data += more
        return data

    def finish(self) -> None:
        """Check that the stream is over and used all of its bytes."""
        if self.read(1):
            raise VerificationFailed("a blob of the delta holds more than its files")
        if self.decoder.unused_data or self.offset != self.end:
            raise VerificationFailed("a blob of the delta has trailing data")

    def varint(self) -> int:
        value = shift = 0
        while shift <= 63:
            if self.pos >= len(self.buffer):
                self.buffer, self.pos = self.read(1 << 16), 0
                if not self.buffer:
                    raise VerificationFailed("a bsdiff control stream of the delta ends early")
            byte = self.buffer[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
        raise VerificationFailed("a bsdiff control of the delta is out of range")


def _apply_blob(fd: int, offset: int, blob: _Blob, root: Path, outputs: _Outputs) -> None:
    total = sum(out.size for out in blob.outputs)
    with contextlib.closing(_Sink(outputs, blob.outputs)) as sink:
        if blob.method == _BSDIFF:
            _apply_bsdiff(fd, offset, blob, root, sink, total)
            return
        stream = _Stream(fd, offset, blob.length, _zstd_decoder(root, blob, total))
        while not sink.done:
            sink.write(stream.exact(sink.wanted))
    stream.finish()


def _prefix_limit(total: int) -> int:
    """The most base content a patch may use for ``total`` bytes of output."""
    return 4 * total + (1 << 20)


def _zstd_decoder(root: Path, blob: _Blob, total: int) -> pyzstd.ZstdDecompressor:
    """A decoder for a zstd blob, its window bounded by what the blob may need.

    zstd keeps its own copy of a prefix, so the one read here is let go before decompressing.
    """
    prefix = _read_prefix(root, blob.sources, total) if blob.method == _PATCH else bytearray()
    if blob.method == _PATCH and len(prefix) < MIN_PREFIX:
        raise VerificationFailed("a blob of the delta has a prefix too short for zstd")
    window = max(10, min(WINDOW_LOG_MAX, (len(prefix) + total).bit_length() + 1))
    return pyzstd.ZstdDecompressor(
        zstd_dict=pyzstd.ZstdDict(prefix, is_raw=True).as_prefix if prefix else None,
        option={pyzstd.DParameter.windowLogMax: window},
    )


def _read_prefix(root: Path, sources: Sequence[str], total: int) -> bytearray:
    """The base files ``sources`` concatenated, refused if far larger than a patch could need."""
    sizes = []
    for path in sources:
        fd = open_beneath(root, path)
        sizes.append(os.fstat(fd).st_size)
        os.close(fd)
    if sum(sizes) > _prefix_limit(total):
        raise VerificationFailed("a blob of the delta names far more base data than it needs")
    prefix = bytearray(sum(sizes))
    view, at = memoryview(prefix), 0
    for path, size in zip(sources, sizes, strict=True):
        fd, end = open_beneath(root, path), at + size
        try:
            while at < end:
                got = os.readv(fd, [view[at:end]])
                if not got:
                    raise VerificationFailed(f"{path} changed while the delta was being applied")
                at += got
        finally:
            os.close(fd)
    return prefix


def _decoder(codec: str, dict_size: int) -> _Decompressor:
    if codec == _BZ2:
        return bz2.BZ2Decompressor()
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": max(4096, dict_size)}]
    return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)


def _apply_bsdiff(fd: int, offset: int, blob: _Blob, root: Path, sink: _Sink, total: int) -> None:
    streams = []
    for codec, length, dict_size in blob.streams:
        streams.append(_Stream(fd, offset, length, _decoder(codec, dict_size)))
        offset += length
    xs, ys, zs, diff, extra = streams
    old_fd = open_beneath(root, blob.sources[0])
    try:
        old_size = os.fstat(old_fd).st_size
        new_pos = old_pos = controls = 0
        while new_pos < total:
            x, y, z = xs.varint(), ys.varint(), _unzigzag(zs.varint())
            controls += 1
            if (x + y == 0 and controls > 1) or new_pos + x + y > total:
                raise VerificationFailed("a bsdiff control of the delta is out of range")
            for start in range(0, x, STEP):
                n = min(STEP, x - start)
                change = diff.exact(n)
                old = _read_old(old_fd, old_pos + start, n, old_size)
                sink.write(old if change.count(0) == n else _add(old, change))
            for start in range(0, y, STEP):
                sink.write(extra.exact(min(STEP, y - start)))
            new_pos, old_pos = new_pos + x + y, old_pos + x + z
        for stream in streams:
            stream.finish()
    finally:
        os.close(old_fd)


def _read_old(fd: int, pos: int, n: int, size: int) -> bytes:
    """``n`` bytes of the old file from ``pos``; bytes outside it count as zeros (as in bspatch)."""
    start, end = max(pos, 0), min(pos + n, size)
    if start >= end:
        return bytes(n)
    data = os.pread(fd, end - start, start)
    if len(data) != end - start:
        raise VerificationFailed("a base file changed while the delta was being applied")
    return bytes(start - pos) + data + bytes(pos + n - end)


def _add(old: bytes, change: bytes) -> bytes:
    """Bytewise ``(old + change) % 256`` in one big-integer sum: the low seven bits of each byte
    are added (they cannot carry into the next byte) and the top bit is set by exclusive or."""
    n = len(change)
    low, high = int.from_bytes(b"\x7f" * n, "little"), int.from_bytes(b"\x80" * n, "little")
    a, b = int.from_bytes(old, "little"), int.from_bytes(change, "little")
    return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "little")


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


# --- Making a delta ---------------------------------------------------------------------------


def _check(table: bytes) -> str:
    """A short checksum of the table of hashes (the header frame has its own)."""
    return hashlib.sha256(table).hexdigest()[:16]
