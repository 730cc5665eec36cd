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
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from authcheck.config.file import load_config
from authcheck.service.app import VerifyRouter, create_app
from authcheck.service.logs import configure_logging
from authcheck.service.readiness import WorkerBoard
from authcheck.service.reload import hold_sighup_until_running
from authcheck.service.settings import ServeSettings
from authcheck.service.tracing import tracer_from_environment

APP = "authcheck.service.server:app_from_environment"


def app_from_environment() -> VerifyRouter:
    hold_sighup_until_running()
    settings = ServeSettings.read()
    configure_logging(settings.log_level, settings.log_format)
    path = os.environ["AUTHCHECK_CONFIG"]
    config = load_config(path)
    # Set by `serve --workers N` (N > 1): where the workers share counters and key status.
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    board = WorkerBoard(Path(shared), settings.workers) if shared else None
    return create_app(
        config,
        decision_log=settings.decision_log,
        tracer=tracer_from_environment(),
        grpc_address=(settings.host, settings.grpc_port) if settings.grpc_port is not None else None,
        config_path=path,
        board=board,
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
