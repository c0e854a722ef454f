"""File names and messages as a terminal, a CI log and XML can carry them.

Linux file names are bytes; Python keeps a byte that is not UTF-8 as a lone surrogate
(U+DC80-U+DCFF, PEP 383's surrogateescape). Printed to a UTF-8 stream with strict errors
(a UTF-8 locale, PYTHONIOENCODING=utf-8) such a character raises UnicodeEncodeError, and
XML 1.0 has no way to write it at all (nor most control characters: its `Char`
production, https://www.w3.org/TR/xml/#charsets). These give the text with each such
character backslash-escaped: `\\xNN` for a byte (a byte that is not UTF-8, or a C0
control or DEL, one byte in UTF-8), `\\uNNNN` for the rest. For reading only: a
backslash already in the text stays as it is.
"""

from __future__ import annotations


def printable_name(name: str) -> str:
    """A file's name for a line or a JUnit `name` attribute: printable_text, and each
    control character escaped too (tab and newline included: a name is one line)."""
    return "".join(_escaped(char) if _is_control(char) else char
                   for char in printable_text(name))


def printable_text(text: str) -> str:
    """`text` with each character XML 1.0 cannot carry escaped (lone surrogates, C0
    controls other than tab, newline and carriage return, U+FFFE, U+FFFF); the rest,
    newlines included, as it is."""
    if text.isascii() and text.isprintable():  # the usual case, without a walk
        return text
    return "".join(char if _xml_char(char) else _escaped(char) for char in text)


def _xml_char(char: str) -> bool:
    point = ord(char)
    return (point in (0x9, 0xA, 0xD) or 0x20 <= point <= 0xD7FF
            or 0xE000 <= point <= 0xFFFD or point >= 0x10000)


def _is_control(char: str) -> bool:
    point = ord(char)
    return point < 0x20 or 0x7F <= point <= 0x9F


def _escaped(char: str) -> str:
    point = ord(char)
    if 0xDC80 <= point <= 0xDCFF:  # surrogateescape's stand-in for byte point - 0xDC00
        return f"\\x{point - 0xDC00:02x}"
    return f"\\x{point:02x}" if point < 0x80 else f"\\u{point:04x}"
