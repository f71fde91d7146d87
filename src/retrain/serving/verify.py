"""`verify`: the live endpoint serves version N and answers exactly as the registry's own copy of N does.

This catches a server that reports ready with a stale or missing model. In order:
1. wait (bounded) until `GET /v2/models/NAME/ready` is 200 and names version N in its header and body;
2. send held-out rows through V1 `:predict` and V2 `/infer`; each answer must come from version N (header,
   and the body for V2) and equal what `load_version(registry, model, N).predict` (the server's own
   predictor) gives for the same rows: labels exactly, floats within a relative tolerance.

Held-out rows: for a built-in model, rows of the version's training window that it never saw
(`retrain.training.heldout`, the gate's rows too), `seed` picking which, with some injected anomalies
picked on purpose so both answers of the anomaly detector are exercised; for a custom model, rows drawn
within the training range recorded with the version (`extra.reference`), or standard-normal rows when
none is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from retrain.errors import InvalidInput, Location
from retrain.registry import Registry
from retrain.serving.loader import LoadedModel, load_version
from retrain.training.heldout import held_out, training_seed

Failure = Literal["unreachable", "not-ready", "stale-version", "wrong-answers", "http-error"]
# For servers that do not name their version (KServe's own sklearn server): asks the control plane which
# version the endpoint serves; (version or None, what it saw). Used only where an answer names none.
ServedVersion = Callable[[], tuple[int | None, str]]
TEMPORARY: frozenset[str] = frozenset({"unreachable", "not-ready"})  # may pass when tried again later
SEED_OFFSET = 2000  # the seed that picks the held-out rows = training seed + this
HOLDOUT_END = datetime(2024, 1, 8, tzinfo=UTC)  # for versions without a recorded window: reproducible rows
MAX_ROWS = 1000
NO_SERVER_GRACE_S = 5.0
WAITED: dict[str, str] = {  # the reason when the wait for readiness ends on this kind of answer
    "unreachable": "endpoint unreachable: {detail} (tried for {waited})",
    "not-ready": "not ready within {waited}: {detail}",
    "stale-version": "stale version: {detail} (still so after {waited})",
    "http-error": "{detail} (still so after {waited})",
}


@dataclass(frozen=True)
class VerifyOptions:
    timeout_s: float = 60.0  # how long to wait for the endpoint to be ready as version N
    poll_s: float = 0.25
    rows: int = 32
    seed: int | None = None  # None: the training seed + SEED_OFFSET
    rtol: float = 1e-9
    atol: float = 1e-12
    request_timeout_s: float = 30.0
    # "skip": nothing listening at the endpoint (no HTTP answer at all for NO_SERVER_GRACE_S) is not a
    # failure but "not checked" (a local pipeline run without a server must not roll back for that).
    if_no_server: Literal["fail", "skip"] = "fail"

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_ROWS:
            raise InvalidInput(
                f"--rows must be between 1 and {MAX_ROWS}, got {self.rows}", location=Location(field="--rows")
            )
        if not (self.timeout_s >= 0 and self.poll_s > 0 and self.request_timeout_s > 0):
            raise InvalidInput(
                f"timeouts must be positive, got --timeout {self.timeout_s:g}",
                location=Location(field="--timeout"),
                hint="for example --timeout 60",
            )
        if not (self.rtol >= 0 and self.atol >= 0):
            raise InvalidInput(f"--rtol must be >= 0, got {self.rtol:g}", location=Location(field="--rtol"))


@dataclass(frozen=True)
class Check:
    name: str  # "ready", "v1", "v2"
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    model: str
    served_as: str  # the model name on the wire
    endpoint: str
    version: int
    rows: int
    seed: int | None
    checks: tuple[Check, ...]
    failure: Failure | None = None
    reason: str | None = None
    skipped: str | None = None  # why the endpoint was not checked (if_no_server="skip")

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def temporary(self) -> bool:
        return self.failure in TEMPORARY

    def lines(self) -> list[str]:
        if self.skipped:
            return [f"{self.model}: NOT CHECKED: version {self.version} at {self.endpoint}: {self.skipped}"]
        head = "verified" if self.ok else f"FAILED ({self.failure})"
        out = [f"{self.model}: {head}: version {self.version} at {self.endpoint} ({self.rows} held-out rows)"]
        return out + [f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "served_as": self.served_as,
            "endpoint": self.endpoint,
            "version": self.version,
            "ok": self.ok,
            "failure": self.failure,
            "reason": self.reason,
            "skipped": self.skipped,
            "rows": self.rows,
            "seed": self.seed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


class _NoServer(Exception):
    pass


class _Failed(Exception):
    def __init__(self, failure: Failure, reason: str) -> None:
        super().__init__(reason)
        self.failure, self.reason = failure, reason


def verify_endpoint(
    registry: Registry,
    model: str,
    endpoint: str,
    *,
    version: int | None = None,
    inference_service: str = "",
    options: VerifyOptions | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    served_version: ServedVersion | None = None,
) -> VerifyReport:
    """Check the endpoint against the registry's version (default: the one the registry serves).

    An answer without `X-Model-Version` (or without the body's version) is a failure, unless
    `served_version` is given: then what it says stands in for the missing piece (a header that is there
    must still name the version)."""
    import httpx

    options = options or VerifyOptions()
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidInput(
            f"--endpoint must be an http:// or https:// URL, got {endpoint!r}",
            location=Location(field="--endpoint"),
            hint="for example http://127.0.0.1:8080",
        )
    info = registry.get(model, version)
    loaded = load_version(registry, model, info.version)
    seed = options.seed if options.seed is not None else training_seed(info.metadata) + SEED_OFFSET
    rows = held_out_rows(loaded, info.metadata, options.rows, seed)
    expected = np.asarray(loaded.predict(rows))
    probe = _Probe(endpoint, info.version, rows, expected, options, served_version)
    checks: list[Check] = []
    served_as = inference_service.strip() or model
    failure: _Failed | None = None
    with httpx.Client(timeout=options.request_timeout_s) as client:
        try:
            served_as, detail = probe.wait_ready(client, served_as, model, clock, sleep)
            checks.append(Check("ready", True, detail))
        except _NoServer as none:
            skipped = (
                f"{none}; the registry serves version {info.version} and a server started later serves it"
            )
            return VerifyReport(
                model, served_as, endpoint, info.version, len(rows), seed, (), skipped=skipped
            )
        except _Failed as failed:
            checks.append(Check("ready", False, failed.reason))
            failure = failed
        if failure is None:
            for name, call in (("v1", probe.v1), ("v2", probe.v2)):
                try:
                    checks.append(Check(name, True, call(client, served_as)))
                except _Failed as failed:
                    checks.append(Check(name, False, failed.reason))
                    failure = failure or failed
    return VerifyReport(
        model,
        served_as,
        endpoint,
        info.version,
        len(rows),
        seed,
        tuple(checks),
        failure.failure if failure else None,
        failure.reason if failure else None,
    )


@dataclass(frozen=True)
class _Probe:
    endpoint: str
    version: int
    rows: np.ndarray
    expected: np.ndarray
    options: VerifyOptions
    served_version: ServedVersion | None = None

    def wait_ready(
        self, client: Any, name: str, model: str, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> tuple[str, str]:
        started = clock()
        deadline, answered = started + self.options.timeout_s, False
        grace = started + min(self.options.timeout_s, NO_SERVER_GRACE_S)
        while True:
            failure, detail, status = self._ready_once(client, name)
            answered = answered or status is not None
            skip = self.options.if_no_server == "skip" and not answered
            if skip and failure == "unreachable" and clock() >= grace:
                raise _NoServer(f"no server answered ({detail})")
            if status == 404 and name != model:
                # A retrain server names models by their registry name, not by the InferenceService's.
                other = self._ready_once(client, model)
                if other[2] != 404:
                    name, (failure, detail, status) = model, other
            if failure is None:
                return name, detail
            if clock() >= deadline:
                waited = f"{self.options.timeout_s:g} s"
                raise _Failed(failure, WAITED[failure].format(detail=detail, waited=waited))
            sleep(self.options.poll_s)  # bounded polling of a real server

    def _ready_once(self, client: Any, name: str) -> tuple[Failure | None, str, int | None]:
        """One look at readiness: (failure or None, what was seen, HTTP status or None)."""
        import httpx

        url = f"{self.endpoint}/v2/models/{name}/ready"
        try:
            response = client.get(url)
        except httpx.HTTPError as err:
            return "unreachable", f"no answer from {url}: {type(err).__name__}: {err}", None
        status, body = response.status_code, _body(response)
        error = body.get("error") or body.get("reason") or _short(response.text)
        if status == 503:
            return "not-ready", f"{url} answers 503: {error}", status
        if status != 200:
            return "http-error", f"{url} answers HTTP {status}: {error}", status
        problem = self._version_problem(response, body, "model_version", url)
        if problem:
            return "stale-version", problem, status
        return None, f"{url} is ready as version {self.version}", status

    def _version_problem(
        self, response: Any, body: Mapping[str, Any], key: str | None, what: str
    ) -> str | None:
        want = str(self.version)
        header = response.headers.get("x-model-version")
        said = {"header X-Model-Version": header}
        if key is not None:
            said[f"body {key}"] = None if body.get(key) is None else str(body.get(key))
        for source, named in said.items():
            where, value = source, named
            if value is None and self.served_version is not None:
                version, seen = self.served_version()
                if version is None:
                    return f"{what} does not name its version ({where} missing) and {seen}; expected {want}"
                value, where = str(version), seen
            if value is None:
                return f"{what} does not name the version it serves ({where} missing); expected {want}"
            if value != want:
                return f"{what} serves version {value} ({where}), expected {want}"
        return None

    def _post(
        self, client: Any, url: str, payload: dict[str, Any], protocol: str
    ) -> tuple[Any, dict[str, Any]]:
        import httpx

        try:
            response = client.post(url, json=payload)
        except httpx.HTTPError as err:
            raise _Failed(
                "http-error", f"{protocol} request to {url} failed: {type(err).__name__}: {err}"
            ) from None
        body = _body(response)
        if response.status_code != 200:
            error = body.get("error") or _short(response.text)
            raise _Failed("http-error", f"{protocol} {url} answered HTTP {response.status_code}: {error}")
        return response, body

    def v1(self, client: Any, name: str) -> str:
        url = f"{self.endpoint}/v1/models/{name}:predict"
        response, body = self._post(client, url, {"instances": self.rows.tolist()}, "V1")
        problem = self._version_problem(response, body, None, "the V1 answer")
        if problem:
            raise _Failed("stale-version", problem)
        if not isinstance(body.get("predictions"), list):
            raise _Failed(
                "http-error", f"the V1 answer from {url} has no predictions list: {_short(str(body))}"
            )
        return self._compare("V1", body["predictions"], None)

    def v2(self, client: Any, name: str) -> str:
        url = f"{self.endpoint}/v2/models/{name}/infer"
        tensor = {
            "name": "input-0",
            "shape": list(self.rows.shape),
            "datatype": "FP64",
            "data": self.rows.ravel().tolist(),
        }
        response, body = self._post(client, url, {"id": "retrain-verify", "inputs": [tensor]}, "V2")
        problem = self._version_problem(response, body, "model_version", "the V2 answer")
        if problem:
            raise _Failed("stale-version", problem)
        outputs = body.get("outputs")
        if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
            raise _Failed("http-error", f"the V2 answer from {url} has no outputs: {_short(str(body))}")
        return self._compare("V2", outputs[0].get("data"), outputs[0].get("shape"))

    def _compare(self, protocol: str, data: Any, shape: Any) -> str:
        expected, rtol, atol = self.expected, self.options.rtol, self.options.atol
        try:
            actual = np.asarray(data, dtype=np.float64)
            if shape is not None:
                actual = actual.reshape([int(n) for n in shape])
        except (TypeError, ValueError) as err:
            raise _Failed("wrong-answers", f"{protocol} answer is not a numeric tensor: {err}") from None
        if actual.shape != expected.shape:
            raise _Failed(
                "wrong-answers",
                f"{protocol} answered shape {actual.shape} for {len(self.rows)} rows, "
                f"expected {expected.shape}",
            )
        exact = expected.dtype.kind in "biu"
        same = actual == expected if exact else np.isclose(actual, expected, rtol=rtol, atol=atol)
        if same.ndim > 1:
            same = same.all(axis=tuple(range(1, same.ndim)))
        wrong = np.flatnonzero(~same)
        rule = "labels compared exactly" if exact else f"within rel {rtol:g}, abs {atol:g}"
        if wrong.size == 0:
            count = len(self.rows)
            return f"{protocol}: {count} answers from version {self.version} equal the registry's ({rule})"
        i = int(wrong[0])
        raise _Failed(
            "wrong-answers",
            f"{protocol}: {wrong.size} of {len(self.rows)} answers differ from the registry's "
            f"version {self.version} ({rule}); first: row {i}: expected {_show(expected[i])}, "
            f"got {_show(actual[i])}; input row {i}: {_show(self.rows[i], 6)}",
        )


def held_out_rows(loaded: LoadedModel, metadata: Mapping[str, Any], count: int, seed: int) -> np.ndarray:
    """`count` fresh rows of the model's width (see the module docstring)."""
    from retrain.data import BUILTIN_MODELS, builtin_contract

    rng = np.random.default_rng(seed)
    if loaded.name in BUILTIN_MODELS and builtin_contract(loaded.name).width == loaded.width:
        horizon = loaded.contract.horizon_minutes if loaded.contract is not None else None
        rows = held_out(loaded.name, metadata, source="synthetic", horizon_minutes=horizon, end=HOLDOUT_END)
        matrix = rows.inputs
        flagged = np.zeros(len(matrix), dtype=bool)
        if rows.labels is not None:
            flagged = np.nan_to_num(rows.labels) == 1
        anomalies = rng.permutation(np.flatnonzero(flagged))[: count // 4]
        others = rng.permutation(np.flatnonzero(~flagged))[: count - len(anomalies)]
        picked = np.sort(np.concatenate([anomalies, others]))
        return np.resize(matrix[picked], (count, loaded.width)).astype(np.float64)
    reference = ((metadata.get("extra") or {}).get("reference") or {}).get("features") or {}
    bounds = [reference.get(name) or {} for name in loaded.feature_names]
    if loaded.feature_names and all("min" in b and "max" in b for b in bounds):
        low = np.asarray([float(b["min"]) for b in bounds])
        high = np.asarray([float(b["max"]) for b in bounds])
        return rng.uniform(low, high, size=(count, loaded.width))
    return rng.normal(size=(count, loaded.width))


def _body(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(values: np.ndarray, limit: int = 8) -> str:
    flat = np.atleast_1d(values).ravel()
    shown = ", ".join(f"{v:.12g}" for v in flat[:limit])
    return f"[{shown}{', ...' if flat.size > limit else ''}]" if np.ndim(values) else shown
