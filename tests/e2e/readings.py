"""Every path a backend might make of a request target, from the strictest to the most liberal.

An app behind the proxy routes on its own reading of the path it received. authcheck decided on
ITS reading; a request is only safe if every plausible reading lands where authcheck thought it
did. The readings combine, in this order:

- the raw bytes, cut at `?` (the query) and, or not, at a raw `#` (some servers treat it as one);
- percent-decoded zero, one (RFC 3986) or two times (apps that decode again after the framework);
- the bytes read as UTF-8, strictly or leniently (overlong forms such as C0 AE read as `.`, as
  old IIS and some Java decoders did); then NFKC or not (`%EF%BC%8F`, fullwidth `/`, becomes `/`);
- cut at a NUL or not (C strings);
- `\\` read as `/` or not (Windows servers, some Java and Node routers);
- `;params` stripped from each segment or not (Tomcat, Jetty, Spring);
- dot-segments removed (RFC 3986 5.2.4) and repeated slashes merged, in either order.

Targets are bytes on the wire. A `str` target is what the harness sends: UTF-8, with lone
surrogates (`"\\udcc0"`) standing for raw bytes that are not UTF-8. A path a RecordingServer
saw is `str` decoded as Latin-1: pass `seen.path.encode("latin-1")`.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

PUBLIC_PREFIXES = ("/healthz", "/public")


def wire(target: str) -> bytes:
    """The bytes the harness puts on the request line for `target`."""
    return target.encode("utf-8", "surrogateescape")


def readings(target: str | bytes) -> set[str]:
    """Every reading, the liberal ones included."""
    path = _path(target)
    found: set[str] = set()
    for cut in {path, path.split(b"#", 1)[0]}:
        once = unquote_to_bytes(cut)
        for decoded in {cut, once, unquote_to_bytes(once)}:
            for text in _texts(decoded):
                for bare in _variants(text):
                    found |= _resolved(bare)
    return found


def strict_readings(target: str | bytes) -> set[str]:
    """RFC 3986 only: decoded once as UTF-8, dot-segments removed, slashes merged (either order)."""
    return _resolved(unquote_to_bytes(_path(target)).decode("utf-8", "surrogateescape"))


def under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it, as a `/prefix/**` rule matches."""
    return path == prefix or path.startswith(prefix + "/")


def is_public(target: str | bytes, prefixes: tuple[str, ...] = PUBLIC_PREFIXES) -> bool:
    """True when every reading of the target falls under one of the public prefixes."""
    return all(any(under(r, p) for p in prefixes) for r in readings(target))


def _path(target: str | bytes) -> bytes:
    raw = wire(target) if isinstance(target, str) else target
    return raw.split(b"?", 1)[0]


def _resolved(path: str) -> set[str]:
    return {_merge_slashes(_remove_dot_segments(path)), _remove_dot_segments(_merge_slashes(path))}


def _texts(decoded: bytes) -> set[str]:
    texts = {decoded.decode("utf-8", "surrogateescape"), _lenient_utf8(decoded)}
    return texts | {unicodedata.normalize("NFKC", t) for t in texts}


def _variants(text: str) -> set[str]:
    found = set()
    for cut in {text, text.split("\x00", 1)[0]}:
        for slashed in {cut, cut.replace("\\", "/")}:
            found |= {slashed, re.sub(r";[^/]*", "", slashed)}
    return {f if f.startswith("/") else "/" + f for f in found}


def _lenient_utf8(data: bytes) -> str:
    """UTF-8 that also accepts overlong forms: C0 AE is `.`, E0 80 AF is `/`. Bytes that start
    no sequence stay as lone surrogates (like `surrogateescape`)."""
    out: list[str] = []
    index = 0
    while index < len(data):
        lead = data[index]
        size = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1
        tail = data[index + 1 : index + size]
        if size > 1 and len(tail) == size - 1 and all(0x80 <= b < 0xC0 for b in tail):
            value = lead & (0x7F >> size)
            for byte in tail:
                value = value << 6 | byte & 0x3F
            out.append(chr(value) if value < 0x110000 else "\ufffd")
            index += size
        else:
            out.append(chr(lead) if lead < 0x80 else chr(0xDC00 + lead))
            index += 1
    return "".join(out)


def _merge_slashes(path: str) -> str:
    return re.sub("/+", "/", path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on an absolute path; `..` above the root stays at the root."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    trailing = "/" if segments and segments[-1] in (".", "..") and kept else ""
    return "/" + "/".join(kept) + trailing
