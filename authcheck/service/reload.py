"""SIGHUP: re-read the config file in this worker, apply it whole, or keep the running one.

Every worker process handles SIGHUP itself (with --workers N the supervisor forwards it to
each, see service.server), so each keeps its own verified tokens and key sets for issuers
whose settings did not change. A file that fails `authcheck check` changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

from authcheck.config.file import ConfigError, load_config

if TYPE_CHECKING:
    from authcheck.service.app import Service

log = structlog.get_logger("authcheck")


def reload_config(service: Service, path: str) -> bool:
    """Load `path` and switch the service to it; False (and the running config kept) when bad."""
    try:
        config = load_config(path)
    except ConfigError as error:
        service.metrics.observe_reload("failure")
        log.error("config_reload_failed", config=path, problems=[p.render(error.source) for p in error.problems])
        return False
    previous = set(service.config.issuers)
    tokens_kept = service.apply(config)
    service.metrics.observe_reload("success")
    log.info(
        "config_reloaded",
        config=path,
        rules=len(config.rules),
        issuers_kept=sorted(i.issuer for i in config.issuers if i in previous),
        issuers_changed=sorted(i.issuer for i in config.issuers if i not in previous),
        verified_tokens_kept=tokens_kept,
    )
    return True


_early_sighups: list[int] = []  # SIGHUPs that came while the worker was starting


def hold_sighup_until_running() -> None:
    """From now until the app runs, a SIGHUP is remembered instead of ending the process
    (its default): the file may have changed after this worker read it."""
    _early_sighups.clear()
    signal.signal(signal.SIGHUP, lambda signum, frame: _early_sighups.append(signum))


@contextlib.contextmanager
def reload_on_sighup(service: Service, path: str | None) -> Iterator[None]:
    """While the app runs, SIGHUP reloads `path` (nothing to do without a file)."""
    if path is None:
        yield
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload_config, service, path)
    if _early_sighups:
        _early_sighups.clear()
        reload_config(service, path)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
