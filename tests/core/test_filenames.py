"""Display names for files from outside: never a path, never a control character."""

from __future__ import annotations

import pytest

from mamori.core.filenames import MAX_LENGTH, safe_filename


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path.txt", "path.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("\\\\server\\share\\x.txt", "x.txt"),
        ("a\x00b.html", "a_b.html"),
        ("a\r\nb.txt", "a_b.txt"),
        ('re"port<1>.txt', "re_port_1_.txt"),
        ("a:b*c?d|e.txt", "a_b_c_d_e.txt"),
        ("..", "attachment"),
        (".hidden", "hidden"),
        ("  spaced.txt . ", "spaced.txt"),
        ("", "attachment"),
        ("../", "attachment"),
        ("x" * 300, "x" * 200),
        ("日本語の報告書.pdf", "日本語の報告書.pdf"),
    ],
)
def test_safe_filename(given: str, shown: str) -> None:
    assert safe_filename(given) == shown


def test_decomposed_characters_are_composed() -> None:
    assert safe_filename("cafe\u0301.txt") == "caf\u00e9.txt"


@pytest.mark.parametrize(
    "trick",
    [
        "invoice\u202egpj.exe",  # right-to-left override: displays as "invoiceexe.jpg"
        "invoice\u2067gpj.exe",  # right-to-left isolate
        "a\x85b\x9bc.txt",  # C1 controls (NEL, CSI)
        "a\x7fb.txt",
    ],
)
def test_bidirectional_overrides_and_c1_controls_are_replaced(trick: str) -> None:
    name = safe_filename(trick)
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in name)
    assert not {"\u202e", "\u2067"} & set(name)
    assert "_" in name


def test_truncation_leaves_no_trailing_dot_or_space() -> None:
    name = safe_filename("a" * (MAX_LENGTH - 1) + ". .txt")
    assert len(name) <= MAX_LENGTH
    assert not name.endswith((".", " "))
    assert name == "a" * (MAX_LENGTH - 1)
