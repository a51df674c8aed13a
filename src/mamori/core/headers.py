"""Header fields: the values ``mail.parse`` takes from a message's headers, read leniently.

Raw header values as the parser saw them (8-bit bytes kept as surrogate escapes), decoded through
``charsets`` (RFC 2047 encoded words and raw 8-bit text), flattened to one line, and checked:
addresses, Message-IDs, dates, and whether the message was sent automatically. Functions that can
meet damage take a ``problems`` list and add to it what they could not read.

Pure: values in, values out; no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from mamori.core import charsets

__all__ = [
    "addresses",
    "auto_submitted",
    "decode_header",
    "header_date",
    "message_ids",
    "normalise_id",
    "one_line",
    "printable",
    "raw_header",
    "raw_headers",
]
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MSG_ID = re.compile(r"<[^<>]*>")
_NO_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_HIDDEN_WORD = re.compile(r"mamoriencodedword[0-9]+x")
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_ADDRESS = re.compile(rf"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]{{1,64}}@(?:{_LABEL}\.)*{_LABEL}")


def printable(text: str) -> str:
    """``text`` without surrogate escapes, for values quoted in problems."""
    return charsets.surrogate_bytes(text).decode("utf-8", "replace")


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of header ``name``, unfolded, as the parser saw it (surrogate escapes kept)."""
    return [_FOLD.sub("", str(value)) for key, value in msg.raw_items() if key.lower() == name]


def raw_header(msg: Message, name: str) -> str | None:
    values = raw_headers(msg, name)
    return values[0] if values else None


def one_line(text: str) -> str:
    """Every line break and control character becomes a space; runs of space become one."""
    return _LINE_BREAKS.sub(" ", text).strip()


def decode_header(value: str, where: str, problems: list[str]) -> str:
    """``charsets.decode_words``, with its problems added to ``problems`` under ``where``."""
    text, found = charsets.decode_words(value)
    problems.extend(f"{where}: {problem}" for problem in found)
    return text


def addresses(values: list[str], where: str, problems: list[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs; an invalid address is "" and named in the problems."""
    words: dict[str, str] = {}

    def hide(word: re.Match[str]) -> str:  # specials inside encoded words must not split names
        key = f"mamoriencodedword{len(words)}x"
        words[key] = word[0]
        return key

    def restore(text: str) -> str:
        return _HIDDEN_WORD.sub(lambda key: words.get(key[0], key[0]), text)

    pairs = []
    try:
        found = getaddresses([charsets.ENCODED_WORD.sub(hide, value) for value in values])
    except Exception:  # the address parser has had its share of bugs
        problems.append(f"{where}: unreadable ({one_line(printable(' '.join(values)))[:100]!r})")
        return []
    for hidden_name, hidden_address in found:
        name, address = restore(hidden_name), restore(hidden_address)
        if not (name or address):
            continue
        address = one_line(decode_header(address, where, problems))
        if not _ADDRESS.fullmatch(address):
            problems.append(f"{where}: {address[:100]!r} is not a valid address")
            address = ""
        pairs.append((one_line(decode_header(name, where, problems)), address))
    return pairs


def message_ids(value: str) -> list[str]:
    return _MSG_ID.findall(_NO_SPACE.sub("", printable(value)))


def normalise_id(value: str) -> str:
    ids = message_ids(value)
    return (ids[0] if ids else _NO_SPACE.sub("", printable(value)))[:998]


def header_date(value: str | None, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        date = parsedate_to_datetime(printable(value).strip())
    except Exception:  # ValueError, TypeError, IndexError... depending on the damage
        problems.append(f"Date: {one_line(printable(value))[:60]!r} is not a date")
        return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def auto_submitted(msg: Message) -> bool:
    """Whether replying automatically would be wrong: automatic, bulk or list mail, bounces."""

    def first(name: str) -> str:
        return printable(raw_header(msg, name) or "").split(";")[0].strip().lower()

    suppress = {word.strip() for word in first("x-auto-response-suppress").split(",")}
    return (
        first("auto-submitted") not in ("", "no")
        or first("precedence") in ("bulk", "junk", "list")
        or raw_header(msg, "list-id") is not None
        or bool(suppress & {"all", "oof", "autoreply"})
        or msg.get_content_type() == "multipart/report"
    )
