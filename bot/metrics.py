"""The bot's Prometheus metrics: commands and presses by outcome, their latency, model
jobs in flight, and the process (CPU, memory, open files). Served on an opt-in port
(`POEMBOT_METRICS_PORT`); the HTTP worker serves its own at `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import ProcessCollector

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """One set of metrics in its own registry (a bot, or a test, has its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.handled = Counter(
            "poembot_commands",
            "Commands and button presses handled, by outcome",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "poembot_command_seconds",
            "From a command's start to its reply",
            ["command"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("poembot_jobs_in_flight", "Model jobs running now", registry=self.registry)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Serve /metrics on `port` (a thread of prometheus_client's)."""
        start_http_server(port, addr=host, registry=self.registry)
