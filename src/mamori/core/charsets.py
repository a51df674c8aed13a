"""Charsets: bytes and a declared charset label in, text out. Never fails, never loses a byte.

Mail declares its charset, and is often wrong. ``decode`` honours the declared label (with the
supersets real clients use: cp932 for Shift_JIS, the ISO-2022-JP family with Microsoft's
extensions, gb18030, cp949, cp950); when the label is unknown or the bytes do not fit it, it tries
UTF-8, then a Japanese guess (ISO-2022-JP by its escapes, Shift_JIS or EUC-JP by how Japanese the
result reads), then windows-1252 or Latin-1, and says so in ``Decoded.problem``. A replacement
character is never produced. ``decode_words`` does the same for RFC 2047 encoded words in a
header value, and ``encode_like`` turns text back into the bytes it came from.

Pure: values in, values out; no I/O.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass

__all__ = ["ENCODED_WORD", "Decoded", "decode", "decode_words", "encode_like", "surrogate_bytes"]

_ISO2022JP_MS = "iso2022_jp via cp932"  # ISO-2022-JP with Microsoft's extensions (CP50220)
_JIS_FAMILY = ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3", _ISO2022JP_MS)
_SJIS = ("cp932", "shift_jis_2004")
_EUCJP = ("euc_jp", "euc_jis_2004")
# Labels Python does not know, by normalised label.
_LABELS: dict[str, tuple[str, ...]] = {
    "x-sjis": _SJIS,
    "windows-31j": _SJIS,
    "x-ms-cp932": _SJIS,
    "x-euc-jp": _EUCJP,
    "cseucpkdfmtjapanese": _EUCJP,
    "csiso2022jp": _JIS_FAMILY,
    "iso-2022-jp-ms": _JIS_FAMILY,
    "cp50220": _JIS_FAMILY,
    "cp50221": _JIS_FAMILY,
    "cp50222": _JIS_FAMILY,
    "x-gbk": ("gb18030",),
    "x-big5": ("cp950", "big5hkscs"),
    "unicode-1-1-utf-7": ("utf-7",),
}
# Known codecs, by Python's canonical name, replaced by the supersets real clients use.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "ascii": ("ascii",),
    "iso8859-1": ("cp1252", "latin-1"),
    "shift_jis": _SJIS,
    "cp932": _SJIS,
    "euc_jp": _EUCJP,
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "euc_kr": ("cp949",),
    "iso2022_jp": _JIS_FAMILY,
    "iso2022_jp_1": _JIS_FAMILY,
    "iso2022_jp_2": _JIS_FAMILY,
    "iso2022_jp_ext": _JIS_FAMILY,
    "iso2022_jp_3": ("iso2022_jp_3", "iso2022_jp_2004", *_JIS_FAMILY),
}
# Codecs that are not character sets of mail, whatever a label says.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "charmap", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs"}
)
_NAMES = {
    "ascii": "US-ASCII",
    "utf-8": "UTF-8",
    "cp932": "Shift_JIS (cp932)",
    "shift_jis_2004": "Shift_JIS (JIS X 0213)",
    "euc_jp": "EUC-JP",
    "euc_jis_2004": "EUC-JP (JIS X 0213)",
    _ISO2022JP_MS: "ISO-2022-JP (Microsoft extensions, via cp932)",
    "latin-1": "ISO-8859-1 (latin-1)",
    "cp1252": "windows-1252",
}


_SURROGATE = re.compile("[\ud800-\udfff]")
_JAPANESE_RUN = re.compile("[\u3000-\u9fff\uff01-\uff5e]{2}")
_KANA = re.compile("[\u3040-\u30ff]")
# Single-byte charsets decode any bytes, so a wrong label goes unnoticed unless looked for.
_SINGLE_BYTE = re.compile(r"iso8859|cp12[0-9][0-9]|latin|koi8|mac|cp437|cp850|tis")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the codec that did it, and why not the declared charset."""

    text: str
    codec: str  # what decoded it
    problem: str = ""  # why not the declared charset, "" when it was honoured


def _codec_name(codec: str) -> str:
    if codec.startswith("iso2022_jp"):
        return _NAMES.get(codec, f"ISO-2022-JP ({codec})")
    return _NAMES.get(codec, codec)


def _candidates(label: str) -> tuple[str, ...] | None:
    """The codecs to try for a declared charset label, or None when it names no charset."""
    key = label.strip().strip("\"'").lower().replace("_", "-")
    if key in _LABELS:
        return _LABELS[key]
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(info.name, (info.name,))


def _iso2022jp_via_cp932(data: bytes) -> str:
    """ISO-2022-JP as Microsoft writes it (NEC and IBM extensions): transcode to cp932."""
    out = bytearray()
    mode, i = "ascii", 0
    while i < len(data):
        byte = data[i]
        if byte == 0x1B:
            mode = {b"(B": "ascii", b"(J": "ascii", b"(I": "kana", b"$@": "jis", b"$B": "jis"}[
                data[i + 1 : i + 3]
            ]  # KeyError: an escape this transcoder cannot follow
            i += 3
        elif byte in (0x0E, 0x0F):  # SO/SI: half-width katakana (CP50221)
            mode, i = ("kana" if byte == 0x0E else "ascii"), i + 1
        elif byte >= 0x80:
            raise ValueError("8-bit byte in ISO-2022-JP")
        elif byte in (0x0A, 0x0D) or mode == "ascii":
            mode = "ascii" if byte in (0x0A, 0x0D) else mode  # a line always ends in ASCII
            out.append(byte)
            i += 1
        elif mode == "kana":
            if not 0x21 <= byte <= 0x5F:
                raise ValueError("not a half-width katakana")
            out.append(byte + 0x80)
            i += 1
        else:
            j1, j2 = data[i], data[i + 1]
            if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
                raise ValueError("not a JIS X 0208 pair")
            s1 = ((j1 + 1) >> 1) + 0x70
            s2 = j2 + (0x1F + (j2 >= 0x60) if j1 % 2 else 0x7E)
            out += bytes((s1 + 0x40 if s1 >= 0xA0 else s1, s2))
            i += 2
    return bytes(out).decode("cp932")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        text = _iso2022jp_via_cp932(data) if codec == _ISO2022JP_MS else data.decode(codec)
    except (UnicodeError, LookupError, ValueError, KeyError, IndexError):
        return None
    return None if _SURROGATE.search(text) else text  # utf-7 and friends can yield them


def _jis(data: bytes) -> tuple[str, str] | None:
    """ISO-2022-JP, recognised by its escape sequences (which are also valid ASCII)."""
    if b"\x1b$B" in data or b"\x1b$@" in data or b"\x1b(I" in data:
        for codec in _JIS_FAMILY:
            if (text := _strict(data, codec)) is not None:
                return text, codec
    return None


def _japanese_guess(data: bytes, *, kana: bool = False) -> tuple[str, str] | None:
    """Shift_JIS or EUC-JP, whichever reads as Japanese (with some kana, if ``kana``)."""
    if jis := _jis(data):
        return jis
    best: tuple[int, str, str] | None = None
    for codec in ("cp932", "euc_jp", "euc_jis_2004"):
        text = _strict(data, codec)
        score = _japanese_score(text, codec) if text is not None else 0
        if kana and (score < 3 or text is None or not _KANA.search(text)):
            continue
        if text is not None and score > 0 and (best is None or score > best[0]):
            best = (score, text, codec)
    return (best[1], best[2]) if best else None


def _japanese_score(text: str, codec: str) -> int:
    """How much ``text`` (decoded with ``codec``) reads as Japanese: 0 if it does not.

    Without kana, only a run of common characters counts: Latin-1 accented letters read as
    cp932 or EUC-JP give rare (level 2) kanji, as in "café" -> "caf" + a kanji.
    """
    kana = sum(1 for c in text if "\u3040" <= c <= "\u30ff")
    japanese = sum(1 for c in text if "\u3000" <= c <= "\u9fff" or "\uff01" <= c <= "\uff5e")
    foreign = sum(1 for c in text if c >= "\x80") - japanese
    if not kana:
        if foreign or not _JAPANESE_RUN.search(text):
            return 0
        level_1 = 0x98 if codec == "cp932" else 0xCF  # the last lead byte of JIS level 1
        common = sum(1 for c in text if c >= "\x80" and c.encode(codec, "replace")[0] <= level_1)
        if 2 * common <= japanese:
            return 0
    return max(0, japanese - 2 * foreign)


def _mostly(data: bytes, codec: str) -> tuple[str, int] | None:
    """Decode with a few undecodable bytes kept visible as ``\\xNN``, if they are few."""
    if codec == _ISO2022JP_MS:
        return None
    try:
        errors = len(data.decode(codec, "replace")) - len(data.decode(codec, "ignore"))
        text = data.decode(codec, "backslashreplace")
    except (LookupError, ValueError):
        return None
    decoded = sum(1 for c in text if c >= "\x80")
    high = sum(1 for b in data if b >= 0x80)
    if _SURROGATE.search(text) or not decoded or errors * 5 > high:
        return None
    return text, errors


def _fallback(data: bytes, declared: tuple[str, ...]) -> tuple[str, str]:
    if (text := _strict(data, "utf-8")) is not None:
        return text, "utf-8"
    if guess := _japanese_guess(data):
        return guess
    for codec in (*declared[:1], "utf-8"):
        if mostly := _mostly(data, codec):
            count = mostly[1]
            return mostly[0], f"{_codec_name(codec)}, {count} undecodable byte(s) shown as \\xNN"
    if (text := _strict(data, "cp1252")) is not None:  # Latin-1 as clients really write it
        return text, "cp1252"
    return data.decode("latin-1"), "latin-1"


def decode(data: bytes, label: str | None) -> Decoded:
    """Text from ``data`` in charset ``label``; never fails, never loses a byte silently.

    Pure ASCII needs no label. ISO-2022-JP is recognised by its escapes whatever the label says
    (it is valid ASCII and UTF-8, so nothing else would notice).
    """
    label = (label or "").strip()[:40]
    declared = _candidates(label) if label else ()
    jis = None if declared and declared[0].startswith("iso2022") else _jis(data)
    if jis is None:
        for codec in declared or ("ascii",):
            if (text := _strict(data, codec)) is None:
                continue
            japanese = None
            if _SINGLE_BYTE.match(codec) and not text.isascii():
                japanese = _japanese_guess(data, kana=True)  # Japanese labelled ISO-8859-1...
            if japanese is None:
                return Decoded(_no_bom(text), codec)
            text, used = japanese
            why = f"the declared charset {label!r} does not fit the text"
            return Decoded(text, used, f"{why}, decoded as {_codec_name(used)}")
    text, used = jis or _fallback(data, declared or ())
    if not label:
        problem = "" if used == "utf-8" else f"no charset declared, decoded as {_codec_name(used)}"
    else:
        why = "unknown charset" if declared is None else "bytes do not fit the declared charset"
        problem = f"{why} {label!r}, decoded as {_codec_name(used)}"
    return Decoded(_no_bom(text), used, problem)


def _no_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def encode_like(text: str, codec: str) -> bytes:
    """``text`` back in the codec it came from (for signatures made over those bytes)."""
    try:
        return text.encode("cp932" if codec == _ISO2022JP_MS else codec)
    except (UnicodeError, LookupError):
        return text.encode("utf-8", "surrogateescape")


# --- Encoded words (RFC 2047) --------------------------------------------------------------------

ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")


def surrogate_bytes(text: str) -> bytes:
    """The bytes behind a header string (8-bit bytes arrive as surrogate escapes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _word_bytes(encoding: str, encoded: str) -> bytes:
    if encoding in "bB":
        b64 = re.sub(r"[^A-Za-z0-9+/]", "", encoded)
        b64 = b64[:-1] if len(b64) % 4 == 1 else b64
        return binascii.a2b_base64(b64 + "=" * (-len(b64) % 4))
    return binascii.a2b_qp(surrogate_bytes(encoded), header=True)


def decode_words(value: str) -> tuple[str, list[str]]:
    """RFC 2047 encoded words and raw 8-bit text, decoded, and the problems met on the way.

    Adjacent words in one charset are joined before decoding, so that a character split across
    two words survives.
    """
    pieces: list[tuple[str | None, list[bytes]]] = []  # (charset label or None for plain text)
    pos = 0
    for match in ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        previous = pieces[-1][0] if pieces else None
        if between.strip() or (between and previous is None):
            pieces.append((None, [surrogate_bytes(between)]))  # whitespace between words: dropped
        label, data = match[1].split("*", 1)[0], _word_bytes(match[2], match[3])
        previous = pieces[-1][0] if pieces else None
        if previous is not None and previous.lower() == label.lower():
            pieces[-1][1].append(data)
        else:
            pieces.append((label, [data]))
        pos = match.end()
    if value[pos:]:
        pieces.append((None, [surrogate_bytes(value[pos:])]))
    out: list[str] = []
    problems: list[str] = []
    for label, chunks in pieces:
        decoded = decode(b"".join(chunks), label)
        if decoded.problem:
            problems.append(decoded.problem)
        out.append(decoded.text)
    return "".join(out), problems
