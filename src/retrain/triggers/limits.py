"""Rate and body-size limits for the receivers (webhooks and the HTTP API).

A token bucket per (client address, receiver): `rate_per_s` tokens flow in per second up to `burst`; a
request takes one or is answered 429 with the seconds until the next token (`Retry-After`). Buckets live in
a bounded LRU map, so a flood from many addresses costs at most `max_clients` entries; an evicted client
simply starts again with a full bucket. Time is injected (a monotonic clock), so tests never sleep.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from retrain.errors import InvalidInput, Location

RECEIVERS = ("github", "alertmanager", "api", "api-read")  # one bucket per client and receiver


@dataclass(frozen=True)
class Limits:
    """What each receiver accepts: requests per second and burst per client, and the largest body."""

    rate_per_s: float = 5.0  # writes and webhooks
    burst: int = 20
    read_rate_per_s: float = 50.0  # GET /api/v1/... (following a run polls)
    read_burst: int = 200
    max_clients: int = 10_000
    github_body_bytes: int = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; a push is a few KB
    alertmanager_body_bytes: int = 1024 * 1024
    api_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("rate_per_s", "read_rate_per_s"):
            rate = getattr(self, name)
            if not (rate > 0 and math.isfinite(rate)):
                raise InvalidInput(
                    f"rate limit {rate!r} must be a positive number of requests per second",
                    location=Location(field=f"limits.{name}"),
                )
        for name in ("burst", "read_burst"):
            if getattr(self, name) < 1:
                raise InvalidInput(
                    f"{name} {getattr(self, name)} must be 1 or more",
                    location=Location(field=f"limits.{name}"),
                )
        if self.max_clients < 1:
            raise InvalidInput(
                f"max_clients {self.max_clients} must be 1 or more",
                location=Location(field="limits.max_clients"),
            )

    def body_bytes(self, receiver: str) -> int:
        """The largest body `receiver` reads (GET requests of the API read none)."""
        if receiver == "github":
            return self.github_body_bytes
        if receiver == "alertmanager":
            return self.alertmanager_body_bytes
        return self.api_body_bytes


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; `take()` says how long until one is free."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one will be there (nothing taken)."""
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets keyed by (client, receiver), at most `limits.max_clients` of them (least recently used
    go first). Not thread-safe: the service calls it from its event loop only."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    def check(self, client: str, receiver: str) -> float | None:
        """None when the request may go on, else the seconds the client should wait (for Retry-After)."""
        key = (client, receiver)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            limits = self.limits
            if receiver == "api-read":
                bucket = TokenBucket(limits.read_rate_per_s, limits.read_burst, now)
            else:
                bucket = TokenBucket(limits.rate_per_s, limits.burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.limits.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        wait = bucket.take(now)
        return None if wait == 0.0 else wait

    def body_limit(self, receiver: str) -> int:
        return self.limits.body_bytes(receiver)

    def __len__(self) -> int:
        return len(self._buckets)
