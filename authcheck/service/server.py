"""Running the service: the app factory each uvicorn worker calls (configured through the
environment), and the supervisor that runs N of them.

SIGHUP reloads the config in every worker. uvicorn's own supervisor answers SIGHUP by
replacing every worker, which would drop each worker's verified tokens and key sets, and
bring up workers that fail on a bad file; ours forwards the signal to each worker instead,
and each reloads in place (service.reload).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp
from uvicorn.supervisors import Multiprocess

from authcheck.config.file import load_config
from authcheck.service.app import DecisionLog, create_app
from authcheck.service.logs import LogFormat, configure_logging
from authcheck.service.reload import hold_sighup_until_running
from authcheck.service.tracing import tracer_from_environment

APP = "authcheck.service.server:app_from_environment"


def app_from_environment() -> ASGIApp:
    hold_sighup_until_running()
    configure_logging(
        os.environ.get("AUTHCHECK_LOG_LEVEL", "info"), cast(LogFormat, os.environ.get("AUTHCHECK_LOG_FORMAT", "json"))
    )
    path = os.environ["AUTHCHECK_CONFIG"]
    config = load_config(path)
    decision_log = cast(DecisionLog, os.environ.get("AUTHCHECK_DECISION_LOG", "all"))
    grpc_port = os.environ.get("AUTHCHECK_GRPC_PORT")  # checked by `authcheck serve`
    return create_app(
        config,
        decision_log=decision_log,
        tracer=tracer_from_environment(),
        grpc_address=(os.environ.get("AUTHCHECK_HOST", "127.0.0.1"), int(grpc_port)) if grpc_port else None,
        config_path=path,
    )


class _ForwardingSupervisor(Multiprocess):
    def handle_hup(self) -> None:
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # exiting: the supervisor replaces it
                    os.kill(process.pid, signal.SIGHUP)


def run(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """uvicorn.run, with SIGHUP forwarded to the workers when there are several."""
    if workers == 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
        return
    config = uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers, **options)
    _ForwardingSupervisor(config, sockets=[config.bind_socket()]).run()
