"""Deltas: round trips on generated trees, each method where it wins, and every refusal."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import tracemalloc
from pathlib import Path

import pytest
import pyzstd

from mamori.core.delta import FORMAT, PRIMER, DeltaInfo, apply_delta, read_info
from mamori.core.delta_make import make_delta
from mamori.errors import NotApplicable, VerificationFailed

MAGIC = FORMAT.encode() + b"\n"
PRIMER_DICT = pyzstd.ZstdDict(PRIMER, is_raw=True).as_prefix
WORDS = [
    "".join(random.Random(n).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(2 + n % 8))
    for n in range(300)
]


def text(seed: int, lines: int) -> bytes:
    rng = random.Random(seed)
    return "".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "\n" for _ in range(lines)
    ).encode()


def edited(data: bytes, seed: int, every: int = 40) -> bytes:
    """``data`` with a line inserted after every ``every``-th line."""
    rng = random.Random(seed)
    lines = data.splitlines(keepends=True)
    out = []
    for n, line in enumerate(lines):
        out.append(line)
        if n % every == 0:
            out.append(" ".join(rng.choice(WORDS) for _ in range(6)).encode() + b"\n")
    return b"".join(out)


def pointers(count: int, shift: int) -> bytes:
    """A table of addresses, as in compiled code: a rebuild moves them all by ``shift``."""
    rng = random.Random(5)
    return b"".join(
        struct.pack("<II", 0x400000 + 16 * n + shift, rng.getrandbits(32)) for n in range(count)
    )


def write_tree(root: Path, files: dict[str, bytes]) -> dict[str, Path]:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return {path: root / path for path in files}


def expected(files: dict[str, bytes]) -> dict[str, tuple[str, int]]:
    return {path: (hashlib.sha256(data).hexdigest(), len(data)) for path, data in files.items()}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Pair:
    """A base tree installed under ``base``, a new tree, and the delta between them."""

    def __init__(
        self, tmp: Path, old: dict[str, bytes], new: dict[str, bytes], level: int = 19
    ) -> None:
        self.old, self.new = old, new
        self.base = tmp / "installed"
        self.out = tmp / "staged"
        self.out.mkdir()
        self.delta = tmp / "update.delta"
        self.info = make_delta(
            write_tree(self.base, old),
            write_tree(tmp / "bundle", new),
            self.delta,
            product="widget",
            bundle_id="b-1",
            base_version="1.0",
            to_version="1.1",
            level=level,
        )

    def apply(self, want: dict[str, tuple[str, int]] | None = None) -> DeltaInfo:
        return apply_delta(self.delta, self.base, self.out, want or expected(self.new))

    def header(self) -> tuple[dict[str, object], bytes, bytes]:
        return unpack(self.delta)

    def methods(self) -> dict[str, str]:
        header, _, _ = self.header()
        found = {}
        for blob in header["blobs"]:  # type: ignore[attr-defined]
            for path, _size in blob["files"]:
                found[path] = blob["method"]
        base, last = header["base"], -1
        for copy in header["copies"]:  # type: ignore[attr-defined]
            if isinstance(copy, list):
                found[copy[0]] = "copy"
            else:  # the gap from the previous copy to the same path
                last += copy
                found[base[last]] = "copy"  # type: ignore[index]
        return found


def unpack(delta: Path) -> tuple[dict[str, object], bytes, bytes]:
    """The documented container: magic line, lengths, zstd JSON header, hashes, blobs."""
    data = delta.read_bytes()
    assert data.startswith(MAGIC)
    length, count = struct.unpack(">II", data[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    header = json.loads(pyzstd.decompress(data[start : start + length], PRIMER_DICT))
    digests = data[start + length : start + length + 32 * count]
    return header, digests, data[start + length + 32 * count :]


def pack(delta: Path, header: dict[str, object], digests: bytes, blobs: bytes) -> None:
    header = {**header, "digests": hashlib.sha256(digests).hexdigest()[:16]}
    frame = pyzstd.compress(json.dumps(header).encode(), zstd_dict=PRIMER_DICT)
    lengths = struct.pack(">II", len(frame), len(digests) // 32)
    delta.write_bytes(MAGIC + lengths + frame + digests + blobs)


BIG = text(11, 30_000)  # ~1.5 MB


@pytest.fixture(scope="module")
def trees() -> tuple[dict[str, bytes], dict[str, bytes]]:
    rng = random.Random(9)
    binary = bytes(rng.getrandbits(8) for _ in range(20_000))
    old = {
        "widget/__init__.py": b"VERSION = '1.0'\n" + text(1, 30),
        "widget/core.py": text(2, 400),
        "widget/logo.bin": binary,
        "widget/gone.txt": b"removed in 1.1\n",
        "widget/same.txt": text(3, 50),
        "widget/empty": b"",
        "widget/data/big.txt": BIG,
        "widget-1.0.dist-info/RECORD": text(4, 60),
        "widget/_native.so": pointers(20_000, 0),
    }
    new = {
        "widget/__init__.py": b"VERSION = '1.1'\n" + text(1, 30),
        "widget/core.py": edited(old["widget/core.py"], 1),
        "widget/logo.bin": binary[:5000] + b"\x00\x01" + binary[5000:],
        "widget/added.txt": text(5, 20),
        "widget/same.txt": old["widget/same.txt"],
        "widget/empty": b"",
        "widget/also-empty": b"",
        "widget/data/big.txt": edited(BIG, 2, every=500),
        "widget-1.1.dist-info/RECORD": edited(old["widget-1.0.dist-info/RECORD"], 3),
        "widget/_native.so": pointers(20_000, 0x40),
    }
    return old, new


@pytest.fixture(scope="module")
def built(
    trees: tuple[dict[str, bytes], dict[str, bytes]], tmp_path_factory: pytest.TempPathFactory
) -> Pair:
    old, new = trees
    return Pair(tmp_path_factory.mktemp("built"), old, new, level=3)


@pytest.fixture
def pair(built: Pair, tmp_path: Path) -> Pair:
    """A fresh copy of the built pair (its base tree, delta and an empty output directory)."""
    fresh = object.__new__(Pair)
    fresh.old, fresh.new, fresh.info = built.old, built.new, built.info
    fresh.base = tmp_path / "installed"
    write_tree(fresh.base, built.old)
    fresh.out = tmp_path / "staged"
    fresh.out.mkdir()
    fresh.delta = tmp_path / "update.delta"
    fresh.delta.write_bytes(built.delta.read_bytes())
    return fresh


# --- Round trips ---------------------------------------------------------------------------------


def test_round_trip_reproduces_the_new_tree(pair: Pair) -> None:
    info = pair.apply()
    assert tree(pair.out) == pair.new
    assert info == read_info(pair.delta) == pair.info
    assert info.files == {path: sha for path, (sha, _) in expected(pair.new).items()}
    assert info.size == pair.delta.stat().st_size
    assert (info.product, info.bundle_id, info.base_version, info.to_version) == (
        "widget",
        "b-1",
        "1.0",
        "1.1",
    )


def test_only_base_files_actually_used_are_listed(pair: Pair) -> None:
    old = expected(pair.old)
    assert pair.info.base == {path: old[path][0] for path in pair.info.base}
    assert "widget/gone.txt" not in pair.info.base
    assert "widget-1.0.dist-info/RECORD" in pair.info.base  # renamed by version
    assert "widget/same.txt" in pair.info.base  # copied


def test_each_method_where_it_wins(pair: Pair) -> None:
    methods = pair.methods()
    assert methods["widget/same.txt"] == "copy"
    assert methods["widget/empty"] == methods["widget/also-empty"] == "copy"
    assert methods["widget/_native.so"] == "bsdiff"  # every address moved by the same amount
    assert methods["widget/core.py"] == "patch"
    assert methods["widget-1.1.dist-info/RECORD"] == "patch"
    assert methods["widget/data/big.txt"] in ("patch", "bsdiff")
    # A new file has no base; it is compressed on its own or with the other new files.
    assert methods["widget/added.txt"] in ("zstd", "patch")


def test_a_delta_is_much_smaller_than_the_new_content(pair: Pair) -> None:
    total = sum(len(data) for data in pair.new.values())
    assert pair.info.size < total / 20


def test_small_files_share_one_solid_block(tmp_path: Path) -> None:
    old = {f"pkg/m{n}.py": text(100 + n, 40) for n in range(12)}
    new = {path: data + b"# patched\n" for path, data in old.items()}
    pair = Pair(tmp_path, old, new)
    header, _, _ = pair.header()
    blobs = header["blobs"]
    assert isinstance(blobs, list) and len(blobs) == 1 and len(blobs[0]["files"]) == 12
    assert pair.info.size < 24 * 32 + 450  # the 24 hashes (12 read, 12 written) and little else
    pair.apply()
    assert tree(pair.out) == new


def test_a_moved_file_is_a_copy_from_its_old_path(tmp_path: Path) -> None:
    payload = text(7, 2000)
    pair = Pair(tmp_path, {"lib/old/name.py": payload}, {"lib/new/name.py": payload})
    header, _, _ = pair.header()
    assert header["copies"] == [["lib/new/name.py", 0]]
    assert header["blobs"] == []
    assert pair.info.base == {"lib/old/name.py": hashlib.sha256(payload).hexdigest()}
    assert pair.info.size < 300
    pair.apply()
    assert tree(pair.out) == {"lib/new/name.py": payload}


def test_a_new_file_with_no_base_is_plain_zstd(tmp_path: Path) -> None:
    pair = Pair(tmp_path, {"a.txt": b"one\n"}, {"a.txt": b"one\n", "b.dat": text(8, 300)})
    assert pair.methods() == {"a.txt": "copy", "b.dat": "zstd"}
    pair.apply()
    assert tree(pair.out)["b.dat"] == text(8, 300)


def test_make_delta_replaces_its_output_atomically(tmp_path: Path) -> None:
    out = tmp_path / "d" / "x.delta"
    out.parent.mkdir()
    out.write_bytes(b"old")
    new = write_tree(tmp_path / "new", {"a": b"x" * 100})
    make_delta({}, new, out, product="p", bundle_id="b", base_version="1", to_version="2")
    assert read_info(out).files == {"a": hashlib.sha256(b"x" * 100).hexdigest()}
    assert [p.name for p in out.parent.iterdir()] == ["x.delta"]


# --- The base must be exactly what the delta expects ---------------------------------------------


def test_a_base_file_changed_by_one_byte_is_not_applicable(pair: Pair) -> None:
    target = pair.base / "widget/core.py"
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(NotApplicable, match=r"does not match what is installed: widget/core\.py"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_missing_base_file_is_not_applicable(pair: Pair) -> None:
    (pair.base / "widget/same.txt").unlink()
    with pytest.raises(NotApplicable, match=r"widget/same\.txt is missing"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_symlinked_base_file_is_refused_not_followed(pair: Pair, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_bytes(pair.old["widget/core.py"])  # the right content, but not in the root
    (pair.base / "widget/core.py").unlink()
    (pair.base / "widget/core.py").symlink_to(elsewhere)
    with pytest.raises(NotApplicable, match=r"widget/core\.py cannot be read safely"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_symlinked_base_directory_is_refused(pair: Pair, tmp_path: Path) -> None:
    (pair.base / "widget").rename(tmp_path / "moved")
    (pair.base / "widget").symlink_to(tmp_path / "moved")
    with pytest.raises(NotApplicable, match="symlink"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


# --- Tampered or corrupt deltas ------------------------------------------------------------------


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8, 0.99])
def test_a_flipped_byte_in_the_blobs_fails_and_leaves_nothing(pair: Pair, where: float) -> None:
    _, _, blobs = pair.header()
    size = pair.delta.stat().st_size
    flip(pair.delta, size - len(blobs) + int(where * len(blobs)))
    with pytest.raises(VerificationFailed):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_flipped_byte_in_the_header_fails(pair: Pair) -> None:
    flip(pair.delta, len(MAGIC) + 8 + 20)
    with pytest.raises(VerificationFailed):
        read_info(pair.delta)
    with pytest.raises(VerificationFailed):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_flipped_byte_in_the_hash_table_fails(pair: Pair) -> None:
    _, digests, blobs = pair.header()
    flip(pair.delta, pair.delta.stat().st_size - len(blobs) - len(digests) + 5)
    with pytest.raises(VerificationFailed, match="hashes"):
        read_info(pair.delta)


@pytest.mark.parametrize("keep", [0, 10, len(MAGIC) + 6, 60, -1])
def test_a_truncated_delta_fails(pair: Pair, keep: int) -> None:
    data = pair.delta.read_bytes()
    pair.delta.write_bytes(data[:keep])
    with pytest.raises(VerificationFailed):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_trailing_data_fails(pair: Pair) -> None:
    with pair.delta.open("ab") as f:
        f.write(b"x")
    with pytest.raises(VerificationFailed, match="trailing"):
        read_info(pair.delta)


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"mamori-delta/2\n" + bytes(100), os.urandom(4096), MAGIC + bytes(8)],
)
def test_garbage_is_not_a_delta(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.delta"
    path.write_bytes(content)
    with pytest.raises(VerificationFailed):
        read_info(path)


def rewrite(pair: Pair, **changes: object) -> None:
    header, digests, blobs = pair.header()
    pack(pair.delta, {**header, **changes}, digests, blobs)


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "mamori-delta/2"},
        {"product": 5},
        {"base": "widget/core.py"},
        {"base": [["widget/core.py", "0" * 64]]},
        {"copies": [99]},
        {"copies": [True]},
        {"blobs": {"method": "zstd"}},
        {"blobs": [{"method": "rm -rf", "length": 0, "from": [], "files": []}]},
        {"unexpected": 1},
    ],
)
def test_header_fields_of_the_wrong_type_fail(pair: Pair, changes: dict[str, object]) -> None:
    rewrite(pair, **changes)
    with pytest.raises(VerificationFailed, match=r"header|format"):
        read_info(pair.delta)
    with pytest.raises(VerificationFailed):
        pair.apply()


@pytest.mark.parametrize("evil", ["../x", "/etc/passwd", "widget/../../x", ".mamori/state"])
def test_a_header_path_outside_the_root_is_refused(pair: Pair, evil: str) -> None:
    header, digests, blobs = pair.header()
    blob = header["blobs"][0]  # type: ignore[index]
    blob["files"][0][0] = evil
    pack(pair.delta, header, digests, blobs)
    with pytest.raises(VerificationFailed, match="header is invalid"):
        read_info(pair.delta)
    with pytest.raises(VerificationFailed):
        pair.apply({**expected(pair.new), evil: ("0" * 64, 1)})
    assert list(pair.out.iterdir()) == []
    assert not (pair.out.parent / "x").exists()


def test_a_base_path_outside_the_root_is_refused(pair: Pair) -> None:
    header, digests, blobs = pair.header()
    base = header["base"]
    assert isinstance(base, list)
    base[0] = "../../etc/passwd"
    pack(pair.delta, header, digests, blobs)
    with pytest.raises(VerificationFailed, match="header is invalid"):
        pair.apply()


# --- The signed manifest decides -----------------------------------------------------------------


def test_a_hash_that_differs_from_the_manifest_fails(pair: Pair) -> None:
    want = expected(pair.new)
    want["widget/core.py"] = (
        hashlib.sha256(b"something else").hexdigest(),
        want["widget/core.py"][1],
    )
    with pytest.raises(VerificationFailed, match=r"widget/core\.py"):
        pair.apply(want)
    assert list(pair.out.iterdir()) == []


def test_a_size_that_differs_from_the_manifest_fails(pair: Pair) -> None:
    want = expected(pair.new)
    sha, size = want["widget/core.py"]
    want["widget/core.py"] = (sha, size + 1)
    with pytest.raises(VerificationFailed, match=r"widget/core\.py"):
        pair.apply(want)


def test_extra_or_missing_files_fail(pair: Pair) -> None:
    want = expected(pair.new)
    with pytest.raises(VerificationFailed, match=r"missing widget/more\.txt"):
        pair.apply({**want, "widget/more.txt": ("0" * 64, 1)})
    del want["widget/added.txt"]
    with pytest.raises(VerificationFailed, match=r"extra widget/added\.txt"):
        pair.apply(want)
    assert list(pair.out.iterdir()) == []


def test_a_blob_that_lies_about_its_content_is_caught_by_the_hash(tmp_path: Path) -> None:
    pair = Pair(tmp_path, {}, {"a.txt": b"hello world\n"})
    header, digests, _ = pair.header()
    blob = pyzstd.compress(b"HELLO WORLD\n")
    header["blobs"][0]["length"] = len(blob)  # type: ignore[index]
    pack(pair.delta, header, digests, blob)
    with pytest.raises(VerificationFailed, match=r"a\.txt does not match its SHA-256"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_an_existing_output_is_not_overwritten_nor_removed(pair: Pair) -> None:
    (pair.out / "widget").mkdir()
    (pair.out / "widget/core.py").write_bytes(b"mine")
    with pytest.raises(Exception, match="already exists"):
        pair.apply()
    assert tree(pair.out) == {"widget/core.py": b"mine"}


# --- Bombs ----------------------------------------------------------------------------------------


def bomb(size: int, window_log: int) -> bytes:
    """``size`` zeros in a few kilobytes, in a frame that does not say how much it holds."""
    option = {pyzstd.CParameter.compressionLevel: 3, pyzstd.CParameter.windowLog: window_log}
    compressor = pyzstd.ZstdCompressor(option)
    data = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(size >> 20))
    return data + compressor.flush()


def test_a_decompression_bomb_stops_one_byte_past_the_expected_size(tmp_path: Path) -> None:
    pair = Pair(tmp_path, {}, {"a.txt": bytes(10)})
    header, digests, _ = pair.header()
    blob = bomb(128 << 20, 10)  # a small window passes the decoder's limit on memory
    assert len(blob) * 200 < 128 << 20
    header["blobs"][0]["length"] = len(blob)  # type: ignore[index]
    pack(pair.delta, header, digests, blob)
    tracemalloc.start()
    try:
        with pytest.raises(VerificationFailed, match="more than its files"):
            pair.apply()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert list(pair.out.iterdir()) == []


def test_a_frame_that_needs_a_huge_window_is_refused(tmp_path: Path) -> None:
    pair = Pair(tmp_path, {}, {"a.txt": bytes(10)})
    header, digests, _ = pair.header()
    blob = bomb(16 << 20, 27)
    header["blobs"][0]["length"] = len(blob)  # type: ignore[index]
    pack(pair.delta, header, digests, blob)
    with pytest.raises(VerificationFailed, match="too much memory"):
        pair.apply()
    assert list(pair.out.iterdir()) == []


def test_a_header_bomb_is_refused(tmp_path: Path) -> None:
    pair = Pair(tmp_path, {}, {"a.txt": b"x"})
    header, digests, blobs = pair.header()
    header["product"] = " " * (17 << 20)
    pack(pair.delta, header, digests, blobs)
    with pytest.raises(VerificationFailed, match="size limit"):
        read_info(pair.delta)


def test_a_header_nested_too_deep_is_refused(tmp_path: Path) -> None:
    frame = pyzstd.compress(b"[" * 200_000, zstd_dict=PRIMER_DICT)
    path = tmp_path / "x.delta"
    path.write_bytes(MAGIC + struct.pack(">II", len(frame), 0) + frame)
    with pytest.raises(VerificationFailed, match="unreadable"):
        read_info(path)


def test_an_empty_file_with_no_empty_base_is_produced(tmp_path: Path) -> None:
    new = {"a.txt": text(12, 10) + b"more\n", "b/empty": b"", "c.txt": b"new\n"}
    pair = Pair(tmp_path, {"a.txt": text(12, 10)}, new)
    pair.apply()
    assert tree(pair.out) == new


def test_tiny_files_whose_base_is_too_short_for_a_zstd_prefix(tmp_path: Path) -> None:
    old = {"v.txt": b"1.0\n", "w.txt": b"ab", "x.bin": bytes(3), "e.txt": b"x" * 100}
    new = {"v.txt": b"1.1\n", "w.txt": b"abc" * 50, "x.bin": bytes(4), "y": b"z", "e.txt": b""}
    pair = Pair(tmp_path, old, new)
    pair.apply()
    assert tree(pair.out) == new
