"""`serve`'s settings from flags or AUTHCHECK_* variables, each value checked the same way.

Each parser takes the text and returns the value, or raises ValueError naming what is
allowed; argparse uses it for the flag, `from_environment` for the variable, so a bad
value ends with the same one-line error either way (naming the flag or the variable).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class BadEnvironment(Exception):
    """An AUTHCHECK_* variable holds a value its flag would refuse."""


def port(text: str) -> int:
    if text.isascii() and text.isdigit() and int(text) <= 65535:
        return int(text)
    raise ValueError("a port number from 0 to 65535 (0: any free port)")


def workers(text: str) -> int:
    if text.isascii() and text.isdigit() and int(text) >= 1:
        return int(text)
    raise ValueError("a whole number of worker processes, at least 1")


def host(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if len(text) > 253 or not _HOST_NAME.fullmatch(text):
            raise ValueError("an IP address or a host name") from None
    return text


def one_of(allowed: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text in allowed:
            return text
        raise ValueError(f"one of: {', '.join(allowed)}")

    return parse


def from_environment(name: str, parse: Callable[[str], T], default: T) -> T:
    """The variable's value, parsed; `default` when it is not set."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise BadEnvironment(f"{name}={text!r} is not valid: it must be {exc}") from None
