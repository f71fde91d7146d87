"""A small client for Prometheus' `/api/v1/query_range`: auth, TLS, chunking, retries with backoff.

Connection errors, 429 and 5xx are retried with exponential backoff (`RetryPolicy`; the sleep is injected
so tests count the waits instead of waiting); after the last try a TemporaryError says so. A refused query
(400/422), a refused token (401/403) or a TLS verification failure is permanent: InvalidInput at once.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from retrain.data.settings import PrometheusSettings
from retrain.errors import InvalidInput, Location, TemporaryError

# Prometheus refuses more than 11,000 points per series in one answer; stay well below it.
MAX_POINTS_PER_QUERY = 10_000
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Series:
    """One time series of a matrix answer: its labels and (unix seconds, value) samples."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]


class PrometheusClient:
    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        token = settings.bearer_token(os.environ if environ is None else environ)
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers=headers,
            timeout=settings.timeout_s,
            verify=_verify(settings),
            transport=transport,
            follow_redirects=True,
        )

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def query_range(
        self, query: str, start: float, end: float, step_s: float, *, field: str = "query"
    ) -> list[Series]:
        """All series of `query` from `start` to `end` (unix seconds, both included) every `step_s`.

        Long windows are split into chunks of at most MAX_POINTS_PER_QUERY points and joined per series.
        """
        merged: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + (MAX_POINTS_PER_QUERY - 1) * step_s)
            params = {
                "query": query,
                "start": _num(chunk_start),
                "end": _num(chunk_end),
                "step": _num(step_s),
            }
            for item in self._matrix(self._get("/api/v1/query_range", params, query, field), query, field):
                key = tuple(sorted(item.labels.items()))
                merged.setdefault(key, {}).update(item.samples)
            chunk_start = chunk_end + step_s
        return [Series(dict(key), tuple(sorted(points.items()))) for key, points in merged.items()]

    def _get(self, path: str, params: Mapping[str, str], query: str, field: str) -> httpx.Response:
        policy = self.settings.retry
        url = f"{self.settings.url.rstrip('/')}{path}"
        last = ""
        for attempt in range(1, policy.attempts + 1):
            delay = policy.delay(attempt)
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                if _tls_failure(exc):
                    raise InvalidInput(
                        f"TLS verification of {url} failed: {exc}",
                        location=Location(field="prometheus.ca_file"),
                        hint="set ca_file to the CA that signed Prometheus' certificate "
                        "(or insecure_skip_verify for a test setup)",
                    ) from None
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return response
                if response.status_code not in _RETRY_STATUSES:
                    raise _refused(response, url, query, field)
                last = f"HTTP {response.status_code}: {_error_text(response)}"
                delay = max(delay, min(policy.max_s, _retry_after(response)))
            if attempt < policy.attempts:
                self._sleep(delay)
        raise TemporaryError(
            f"Prometheus at {self.settings.url} is unreachable after {policy.attempts} attempts "
            f"(query {query!r}): {last}",
            retry_after_s=policy.max_s,
            location=Location(field="prometheus.url"),
            hint="check the URL and that Prometheus is up, or use --data-source synthetic or hybrid",
        )

    @staticmethod
    def _matrix(response: httpx.Response, query: str, field: str) -> list[Series]:
        try:
            body: Any = response.json()
            if body["status"] != "success" or body["data"]["resultType"] != "matrix":
                raise ValueError(f"status {body.get('status')!r}, error {body.get('error')!r}")
            return [
                Series(
                    {str(k): str(v) for k, v in item.get("metric", {}).items()},
                    tuple((float(t), float(v)) for t, v in item["values"]),
                )
                for item in body["data"]["result"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(
                f"Prometheus answered query {query!r} with something that is not a range-query matrix: {exc}",
                location=Location(field=field),
                hint="check that the URL points at Prometheus (or a compatible API such as Thanos)",
            ) from None


def _verify(settings: PrometheusSettings) -> ssl.SSLContext | bool:
    if settings.insecure_skip_verify:
        return False
    if settings.ca_file is None and settings.client_cert_file is None:
        return True
    try:
        context = (
            ssl.create_default_context(cafile=str(settings.ca_file))
            if settings.ca_file is not None
            else httpx.create_ssl_context()
        )
        if settings.client_cert_file is not None:
            key = settings.client_key_file
            context.load_cert_chain(str(settings.client_cert_file), None if key is None else str(key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(
            f"cannot load the TLS files: {exc}",
            location=Location(field="prometheus.ca_file"),
            hint="check ca_file, client_cert_file and client_key_file (PEM files)",
        ) from None
    return context


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _refused(response: httpx.Response, url: str, query: str, field: str) -> InvalidInput:
    status, text = response.status_code, _error_text(response)
    if status in (401, 403):
        return InvalidInput(
            f"Prometheus at {url} refused the request (HTTP {status}): {text}",
            location=Location(field="prometheus.bearer_token_file"),
            hint="check the bearer token (bearer_token_file or bearer_token_env)",
        )
    if status == 404:
        return InvalidInput(
            f"no Prometheus query API at {url} (HTTP 404)",
            location=Location(field="prometheus.url"),
            hint="give the Prometheus base URL, e.g. http://prometheus:9090, without /api/v1",
        )
    return InvalidInput(
        f"Prometheus refused query {query!r} (HTTP {status}): {text}",
        location=Location(field=field),
        hint="fix the PromQL (override it per metric in the Prometheus settings' queries)",
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return response.text.strip()[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
