"""HTML to plain text for reading, never for rendering.

No HTML that arrives from outside (mail, feeds) is ever shown as HTML. ``html_to_text`` turns it
into text an analyst can read: scripts, styles, the head, templates, comments and embedded
objects are dropped with their content; block elements and ``<br>`` become line breaks; list
items get ``- ``; a link shows its target as ``text (url)`` when that differs from its text.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements dropped with everything inside them.
_DROPPED = frozenset(
    {
        "applet",
        "frameset",
        "head",
        "iframe",
        "math",
        "noembed",
        "noframes",
        "object",
        "script",
        "style",
        "svg",
        "template",
        "title",
        "xml",
    }
)
# What may appear inside <head>; any other start tag ends a <head> that was never closed.
_HEAD_CONTENT = frozenset({"base", "link", "meta", "script", "style", "title", "noscript"})
_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tr",
        "ul",
    }
)
_CELLS = frozenset({"td", "th"})
_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>?")
_DROPPED_BLOCK = re.compile(
    r"<(script|style|head|template|title)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping: list[str] = []  # open dropped elements, innermost last
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # (href, index into out where its text starts)

    def ends_with_newline(self) -> bool:
        for chunk in reversed(self.out):
            if chunk:
                return chunk.endswith("\n")
        return True

    def newline(self) -> None:
        if not self.ends_with_newline():
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping == ["head"] and tag not in _HEAD_CONTENT:
            self.dropping.clear()  # a <head> left open ends where the body starts
        if self.dropping:
            if tag in _DROPPED:
                self.dropping.append(tag)
            return
        if tag in _DROPPED:
            self.dropping.append(tag)
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.newline()
            if tag == "li":
                self.out.append("- ")
            elif tag == "pre":
                self.pre += 1
        elif tag in _CELLS and not self.ends_with_newline():
            self.out.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((_SPACE.sub("", href), len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Browsers ignore the slash of <script/> and open the element; <svg/> is really empty.
        if tag not in ("svg", "math"):
            self.handle_starttag(tag, attrs)
        if tag == "a" and not self.dropping:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in self.dropping:
                del self.dropping[self.dropping.index(tag) :]
            return
        if tag in _BLOCKS:
            if tag == "pre" and self.pre:
                self.pre -= 1
            self.newline()
        elif tag == "a" and self.links:
            self.close_link(*self.links.pop())

    def close_link(self, href: str, start: int) -> None:
        text = "".join(self.out[start:]).strip()
        if not href or href.startswith("#"):
            return
        shown = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
        if shown not in (text, text.rstrip("/")) and href not in (text, text + "/"):
            self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.dropping == ["head"] and data.strip():
            self.dropping.clear()  # so does text
        if self.dropping:
            return
        if not self.pre:
            data = _SPACE.sub(" ", data)
            if self.ends_with_newline():
                data = data.lstrip(" ")
        self.out.append(data)

    def text(self) -> str:
        return _tidy("".join(self.out))


def _tidy(text: str) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def _crude(markup: str) -> str:
    """The fallback when the parser gives up: drop dropped blocks and tags, decode entities."""
    text = _DROPPED_BLOCK.sub(" ", _COMMENT.sub(" ", markup))
    return _tidy(html.unescape(_TAG.sub(" ", text)))


def html_to_text(markup: str) -> str:
    """Plain text for an analyst to read from ``markup``; never raises, never returns markup."""
    try:
        extractor = _TextExtractor()
        extractor.feed(markup)
        extractor.close()
        while extractor.links:
            extractor.close_link(*extractor.links.pop())
        return extractor.text()
    except Exception:  # html.parser can still trip over pathological markup
        try:
            return _crude(markup)
        except Exception:
            return ""
