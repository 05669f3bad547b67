"""Prometheus metrics of one app (its own registry, so several apps in a process never clash).

Request counts by route template, method and status; latency histograms by route; the index
size, videos, decisions and rewards read from the library when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)


class Metrics:
    def __init__(self, state: Callable[[], dict[str, float]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("media_ml_requests_total", "HTTP requests",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("media_ml_request_seconds", "HTTP request latency",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.decisions = Counter("media_ml_decisions_total", "decisions served by this process",
                                 ("mode",), registry=self.registry)
        self.rewards = Counter("media_ml_rewards_total", "rewards received by this process",
                               registry=self.registry)
        self._state = state
        self._gauges: dict[str, Any] = {}
        for name, doc in (("index_vectors", "vectors in the search index"),
                          ("videos", "videos in the library"),
                          ("logged_decisions", "decisions in the decision log"),
                          ("logged_rewards", "rewards in the decision log")):
            self._gauges[name] = Gauge(f"media_ml_{name}", doc, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        for name, value in self._state().items():
            if name in self._gauges:
                self._gauges[name].set(value)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
