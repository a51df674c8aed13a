"""HTML to plain text for reading, never for rendering.

No HTML that arrives from outside (mail, feeds) is ever shown as HTML. ``html_to_text`` turns it
into text an analyst can read: scripts, styles, the head, templates, comments and embedded
objects are dropped with their content; block elements and ``<br>`` become line breaks; list
items get ``- ``; a link shows its target as ``text (url)`` when that differs from its text.
"""

from __future__ import annotations

import html
import re
from collections import Counter
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
# The rest of a start tag after "<": quoted attribute values may hold ">"; possessive, so a tag
# that never ends costs one scan, not one per way of splitting it.
_START_TAG_REST = re.compile(r"""[a-zA-Z](?>[^>=]+|=\s*(?>"[^"]*"|'[^']*'|(?=[^"'])))*+>""")
_RAW_TEXT = re.compile(r"<(script|style)[\s/>]", re.IGNORECASE)
_RAW_TEXT_END = {
    "script": re.compile(r"</script[\s/>]", re.IGNORECASE),
    "style": re.compile(r"</style[\s/>]", re.IGNORECASE),
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping: list[str] = []  # open dropped elements, innermost last
        self.open_dropped: Counter[str] = Counter()  # the same, counted, to look up in O(1)
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # the open link: (href, where its text starts)

    def ends_with_newline(self) -> bool:
        for chunk in reversed(self.out):
            if chunk:
                return chunk.endswith("\n")
        return True

    def newline(self) -> None:
        if not self.ends_with_newline():
            self.out.append("\n")

    def drop(self, tag: str) -> None:
        self.dropping.append(tag)
        self.open_dropped[tag] += 1

    def undrop(self, tag: str) -> None:
        """Close the innermost open ``tag`` and every dropped element opened inside it."""
        while self.dropping:
            closed = self.dropping.pop()
            self.open_dropped[closed] -= 1
            if closed == tag:
                return

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping == ["head"] and tag not in _HEAD_CONTENT:
            self.undrop("head")  # a <head> left open ends where the body starts
        if tag in _DROPPED:
            self.drop(tag)
        elif self.dropping:
            return
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
            if self.links:  # links do not nest: a new one closes the open one, as in browsers
                self.close_link(*self.links.pop())
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
            if self.open_dropped[tag]:
                self.undrop(tag)
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
            ends_in_space = bool(self.out) and self.out[-1].endswith(" ")
            self.out.append(f"({href}) " if ends_in_space else f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.dropping == ["head"] and data.strip():
            self.undrop("head")  # so does text
        if self.dropping:
            return
        if not self.pre:
            data = _SPACE.sub(" ", data)
            if self.ends_with_newline():
                data = data.lstrip(" ")
        if data:
            self.out.append(data)

    def text(self) -> str:
        return _tidy("".join(self.out))


def _tidy(text: str) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def _prepare(markup: str) -> str:
    """Text, start tags and end tags only, each complete: what html.parser handles in linear time.

    Comments, declarations, processing instructions, CDATA and marked sections are dropped, as
    are scripts and styles with their content (browsers show none of them). A construct that
    never ends hides the rest of the document, as it does in a browser; html.parser would
    instead rescan to the end for each one, which takes quadratic time on hostile input.
    """
    out: list[str] = []
    pos = 0
    while (i := markup.find("<", pos)) >= 0:
        out.append(markup[pos:i])
        if markup.startswith("<!--", i):
            end = markup.find("-->", i + 4)
            if end < 0:
                return "".join(out)
            pos = end + 3
        elif markup.startswith(("<!", "<?", "</"), i):
            end = markup.find(">", i + 2)
            if end < 0:
                return "".join(out)
            if markup[i + 1] == "/" and markup[i + 2 : i + 3].isalpha():
                out.append(markup[i : end + 1])  # an end tag; anything else is a bogus comment
            pos = end + 1
        elif tag := _START_TAG_REST.match(markup, i + 1):
            raw_text = _RAW_TEXT.match(markup, i)
            if raw_text:
                end_tag = _RAW_TEXT_END[raw_text[1].lower()].search(markup, tag.end())
                if end_tag is None:
                    return "".join(out)
                pos = end_tag.start()  # the end tag is copied on the next turn
            else:
                out.append(markup[i : tag.end()])
                pos = tag.end()
        elif markup[i + 1 : i + 2].isascii() and markup[i + 1 : i + 2].isalpha():
            return "".join(out)  # a start tag that never ends
        else:
            out.append("&lt;")  # a lone "<" is text
            pos = i + 1
    out.append(markup[pos:])
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Plain text for an analyst to read from ``markup``; never raises, never returns markup."""
    prepared = ""
    try:
        prepared = _prepare(markup)
        extractor = _TextExtractor()
        extractor.feed(prepared)
        extractor.close()
        while extractor.links:
            extractor.close_link(*extractor.links.pop())
        return extractor.text()
    except Exception:  # should html.parser still trip: tags out, entities decoded
        try:
            return _tidy(html.unescape(_TAG.sub(" ", prepared)))
        except Exception:
            return ""
