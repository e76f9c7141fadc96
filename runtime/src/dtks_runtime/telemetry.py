"""Logs and traces: structlog JSON with correlation, event and trace ids; OpenTelemetry across HTTP and Kafka.

Trace context travels in two places that agree: the W3C ``traceparent``/``tracestate`` headers of
each Kafka record, and the envelope's ``trace_context`` recorded when the event was appended (so
a replay from the store still knows which request caused an event).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind

if TYPE_CHECKING:  # only a type: importing FastAPI costs a process that serves no HTTP (a replay's
    # worker, a command-line tool) some 0.7 s of CPU at start
    from fastapi.telemetry import TelemetryConfig

_provider: TracerProvider | None = None


def configure_logging(service: str, level: str = "info") -> None:
    """JSON logs on stdout; anything bound with :func:`bind` appears on every line of that context.

    Records of the standard library's loggers (uvicorn, asyncpg, aiokafka, httpx) are rendered by
    the same processors, one JSON line each with the request's bound ids and any traceback inside
    it, rather than as plain text whose traceback runs over dozens of lines.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=level.upper())
    # httpx logs every request at INFO: a line per civil-registry look-up, drowning the service's
    # own logs. Its warnings and errors still come through.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def _add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def configure_tracing(
    service: str, exporter: str = "none", extra: SpanExporter | None = None
) -> TracerProvider:
    """Install the process's tracer provider once; the exporter comes from DTKS_OTEL_EXPORTER.

    ``otlp`` uses the standard OTEL_EXPORTER_OTLP_* variables for its endpoint. ``extra`` adds an
    exporter to the provider even when it exists already (tests read spans through one).
    """
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        if exporter == "console":
            _provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif exporter != "none":
            raise ValueError(f"DTKS_OTEL_EXPORTER must be none, console or otlp, not {exporter!r}")
        trace.set_tracer_provider(_provider)
    if extra is not None:
        _provider.add_span_processor(BatchSpanProcessor(extra))
    return _provider


def http_server_telemetry(*, excluded_paths: frozenset[str] = frozenset({"/healthz"})) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry for a service's app: one server span per request, continuing the
    caller's trace from its ``traceparent`` header and named by route, active while the route runs (so
    the events it appends record it). No per-request metrics or log records (structlog writes the
    logs) and no span per dependency. Health checks make no spans.

    It replaced opentelemetry-instrumentation-fastapi, which matched every route a second time per
    request to name its span and set some twenty attributes: about 70 µs of a submission's 600.
    """

    def excluded(scope: MutableMapping[str, Any]) -> bool:
        return scope.get("path") in excluded_paths

    return {"tracing": True, "metrics": False, "logs": False, "operation_spans": False, "exclude": excluded}


def tracer() -> trace.Tracer:
    return trace.get_tracer("dtks")


def current_trace_context() -> dict[str, str]:
    """The active span's W3C context, to record in an envelope or a message's headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def kafka_headers(trace_context: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in trace_context.items()]


def context_from_headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in headers or () if k in ("traceparent", "tracestate")}


@contextmanager
def consumer_span(
    name: str, trace_context: Mapping[str, str], attributes: Mapping[str, Any]
) -> Iterator[Span]:
    """A CONSUMER span that continues the producer's trace (the one that appended the event)."""
    parent = propagate.extract(dict(trace_context))
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(
            name, kind=SpanKind.CONSUMER, attributes=dict(attributes)
        ) as span:
            yield span
    finally:
        otel_context.detach(token)


bind = structlog.contextvars.bind_contextvars
bound = structlog.contextvars.bound_contextvars
get_logger = structlog.get_logger
