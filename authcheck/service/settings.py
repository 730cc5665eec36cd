"""What `serve` runs with: each setting from its flag, else its AUTHCHECK_* variable, else the default.

`serve` reads them once (flags and environment) and hands them to its workers through
the same variables, which each worker reads back here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from authcheck.config import environment
from authcheck.service import tracing
from authcheck.service.app import DECISION_LOGS, DecisionLog
from authcheck.service.logs import LOG_FORMATS, LOG_LEVELS, LogFormat

_SOURCES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "host": ("AUTHCHECK_HOST", environment.host),
    "port": ("AUTHCHECK_PORT", environment.port),
    "workers": ("AUTHCHECK_WORKERS", environment.workers),
    "grpc_port": ("AUTHCHECK_GRPC_PORT", environment.port),
    "log_level": ("AUTHCHECK_LOG_LEVEL", environment.one_of(LOG_LEVELS)),
    "log_format": ("AUTHCHECK_LOG_FORMAT", environment.one_of(LOG_FORMATS)),
    "decision_log": ("AUTHCHECK_DECISION_LOG", environment.one_of(DECISION_LOGS)),
    "tracing": (tracing.ENV, environment.one_of(tracing.CHOICES)),
}


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    grpc_port: int | None = None
    log_level: str = "info"
    log_format: LogFormat = "json"
    decision_log: DecisionLog = "all"
    tracing: str = "off"

    @classmethod
    def read(cls, flags: object = None) -> ServeSettings:
        """`flags`: an argparse namespace, None where a flag was not given. Raises BadEnvironment."""
        values: dict[str, Any] = {}
        for setting in dataclasses.fields(cls):
            variable, parse = _SOURCES[setting.name]
            flag = getattr(flags, setting.name, None)
            values[setting.name] = (
                flag if flag is not None else environment.from_environment(variable, parse, setting.default)
            )
        return cls(**values)

    def environment(self) -> dict[str, str | None]:
        """The variables that make `read()` in a worker return these settings (None: unset it)."""
        values = {variable: getattr(self, name) for name, (variable, _) in _SOURCES.items()}
        return {variable: None if value is None else str(value) for variable, value in values.items()}
