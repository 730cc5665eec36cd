"""The app factory each uvicorn worker process calls (configured through the environment)."""

from __future__ import annotations

import os
from typing import cast

from starlette.types import ASGIApp

from authcheck.config.file import load_config
from authcheck.service.app import DecisionLog, create_app
from authcheck.service.logs import LogFormat, configure_logging
from authcheck.service.tracing import tracer_from_environment


def app_from_environment() -> ASGIApp:
    configure_logging(
        os.environ.get("AUTHCHECK_LOG_LEVEL", "info"), cast(LogFormat, os.environ.get("AUTHCHECK_LOG_FORMAT", "json"))
    )
    config = load_config(os.environ["AUTHCHECK_CONFIG"])
    decision_log = cast(DecisionLog, os.environ.get("AUTHCHECK_DECISION_LOG", "all"))
    grpc_port = os.environ.get("AUTHCHECK_GRPC_PORT")  # checked by `authcheck serve`
    return create_app(
        config,
        decision_log=decision_log,
        tracer=tracer_from_environment(),
        grpc_address=(os.environ.get("AUTHCHECK_HOST", "127.0.0.1"), int(grpc_port)) if grpc_port else None,
    )
