"""OpenTelemetry tracing of decisions (`authcheck[otel]`, off unless AUTHCHECK_TRACING=otlp).

One span per decision, a child of the proxy's span when the check carries a W3C
`traceparent`, with the rule, the decision and the code. The exporter is OTLP over HTTP,
configured by the standard OTEL_* environment variables (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, OTEL_BSP_*...); spans leave through
the SDK's batch processor, on its own thread, so a slow collector never holds up an answer.

When tracing is off nothing here is imported and a decision costs one `is None` test.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authcheck.core.gate import Decision

ENV = "AUTHCHECK_TRACING"
CHOICES = ("off", "otlp")


class TracingUnavailable(Exception):
    """AUTHCHECK_TRACING=otlp without the `otel` extra installed."""


class Tracer:
    """Turns finished decisions into spans."""

    def __init__(self) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import OTELResourceDetector, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            raise TracingUnavailable(
                f"{ENV}=otlp needs the OpenTelemetry packages: pip install 'authcheck[otel]'"
            ) from None
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "authcheck")}).merge(
            OTELResourceDetector().detect()
        )
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self._provider.get_tracer("authcheck")
        self._propagator = TraceContextTextMapPropagator()

    def record(self, decision: Decision, traceparent: bytes | None, start_ns: int, end_ns: int) -> None:
        carrier = {"traceparent": traceparent.decode("latin-1")} if traceparent is not None else {}
        request, denial = decision.request, decision.denial
        attributes: dict[str, str | int] = {
            "authcheck.decision": "allow" if denial is None else "deny",
            "authcheck.status": decision.status,
            "authcheck.code": denial.code if denial is not None else "ok",
        }
        if denial is not None:
            attributes["authcheck.reason"] = denial.reason
        if decision.rule is not None:
            attributes["authcheck.rule"] = decision.rule.name
        if request is not None:
            attributes["http.request.method"] = request.method
            attributes["url.path"] = request.path
        span = self._tracer.start_span(
            "authcheck.decision",
            context=self._propagator.extract(carrier),
            start_time=start_ns,
            attributes=attributes,
        )
        span.end(end_time=end_ns)

    def close(self) -> None:
        """Send what is still queued (bounded by OTEL_BSP_EXPORT_TIMEOUT) and stop the exporter."""
        self._provider.shutdown()


def tracer_from_environment() -> Tracer | None:
    """The tracer AUTHCHECK_TRACING asks for; the CLI has already checked the value."""
    return Tracer() if os.environ.get(ENV, "off") == "otlp" else None
