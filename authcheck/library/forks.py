"""Threads do not survive fork(), and a lock held by one of them at that moment stays
held forever in the child. Objects that own threads or locks register here and are
told, in the child, to start over (gunicorn forks its workers; so does multiprocessing)."""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    def _forked(self) -> None:
        """Replace every lock, event and thread handle; keep the data."""


_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_after_fork(obj: ForkAware) -> None:
    _registered.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_registered):
        obj._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
