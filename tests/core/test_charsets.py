"""The public API of ``mamori.core.charsets``; ``tests/core/test_mail.py`` covers it in depth."""

from mamori.core.charsets import Decoded, decode, decode_words, encode_like, surrogate_bytes


def test_declared_charset_is_honoured() -> None:
    assert decode("日本語".encode("cp932"), "Shift_JIS") == Decoded("日本語", "cp932")


def test_no_label_needs_ascii_or_utf8() -> None:
    assert decode(b"plain", None) == Decoded("plain", "ascii")
    assert decode("café".encode(), None) == Decoded("café", "utf-8")


def test_unknown_label_is_named_in_the_problem() -> None:
    decoded = decode("café".encode(), "x-no-such-charset")
    assert decoded.text == "café"
    assert "unknown charset 'x-no-such-charset'" in decoded.problem


def test_iso2022jp_is_recognised_whatever_the_label() -> None:
    data = "こんにちは".encode("iso2022_jp")
    decoded = decode(data, "us-ascii")
    assert decoded.text == "こんにちは"
    assert decoded.codec.startswith("iso2022_jp")


def test_microsoft_extensions_in_iso2022jp() -> None:
    data = "①".encode("cp932")  # NEC row 13: no plain ISO-2022-JP codec reads it
    s1, s2 = data
    row = s1 - (0xB0 if s1 >= 0xE0 else 0x70)
    j1, j2 = (2 * row - 1, s2 - 0x1F - (s2 >= 0x80)) if s2 < 0x9F else (2 * row, s2 - 0x7E)
    decoded = decode(b"\x1b$B" + bytes((j1, j2)) + b"\x1b(B", "iso-2022-jp")
    assert decoded.text == "①"
    assert encode_like(decoded.text, decoded.codec) == data


def test_encoded_words_split_across_a_character_are_joined() -> None:
    data = "日本".encode()
    words = f"=?UTF-8?Q?{''.join(f'={b:02X}' for b in data[:2])}?= =?UTF-8?Q?"
    words += "".join(f"={b:02X}" for b in data[2:]) + "?="
    assert decode_words(words) == ("日本", [])


def test_surrogate_bytes_gives_back_the_raw_bytes() -> None:
    assert surrogate_bytes(b"\xe9t\xe9".decode("utf-8", "surrogateescape")) == b"\xe9t\xe9"
