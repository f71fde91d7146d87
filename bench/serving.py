"""Single-row inference latency: retrain's server against KServe's own Python model server, same model files.

    .venv/bin/python bench/serving.py [--requests 2000] [--kserve-python /tmp/kserve-venv/bin/python]

Fits the two built-in models with the trainers' own estimators (`retrain.training`: RobustScaler +
IsolationForest(200 trees) on 45 features; ResidualForecaster(TransformedTargetRegressor(ExtraTrees(200
trees), StandardScaler)), 5 -> 5; stand-ins of the same shape where the trainers are absent), registers them
in a temporary registry, and serves that registry twice: with `retrain.serving` and with a `kserve.Model` that
loads `<root>/<model>/model.pkl` as KServe's sklearnserver does (`--model_dir=<root>/<model>`). Each server
runs in its own process; one client sends sequential single-row requests over a keep-alive connection to
127.0.0.1 (V1 and V2), after a warm-up, and reports p50/p99 latency, throughput and the ratios.

`kserve` is deliberately not a dependency of retrain: install it into a separate environment, e.g.
    python3 -m venv /tmp/kserve-venv && /tmp/kserve-venv/bin/pip install kserve scikit-learn==<ours>
Without it this script says so and exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import importlib.metadata
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

KSERVE_SERVER = r'''
import argparse, os, sys
import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response

class SKLearnModel(kserve.Model):
    """KServe's sklearnserver model: load <model_dir>/model.pkl, predict on the request's instances."""

    def __init__(self, name, model_dir):
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self):
        self._model = joblib.load(os.path.join(self.model_dir, "model.pkl"))
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        return get_predict_response(payload, self._model.predict(instances), self.name)

parser = argparse.ArgumentParser()
parser.add_argument("--root")
parser.add_argument("--models")
parser.add_argument("--port", type=int)
own, _ = parser.parse_known_args()
models = [SKLearnModel(name, os.path.join(own.root, name)) for name in own.models.split(",")]
sys.argv = [sys.argv[0], f"--http_port={own.port}", "--enable_grpc=false", "--workers=1"]
kserve.ModelServer(http_port=own.port, enable_grpc=False, workers=1,
                   enable_latency_logging=False).start(models)
'''

RETRAIN_SERVER = (
    "import sys; from pathlib import Path; from retrain.serving.runner import serve; "
    "serve(Path(sys.argv[1]), port=int(sys.argv[2]), log_level='warning')"
)

ANOMALY, FORECAST = "anomaly-detector", "predictive-analytics"


def find_kserve(explicit: str | None) -> str | None:
    candidates = [explicit, os.environ.get("KSERVE_PYTHON"), "/tmp/kserve-venv/bin/python", sys.executable]
    for python in candidates:
        if python and Path(python).exists():
            done = subprocess.run([python, "-c", "import kserve"], capture_output=True, check=False)
            if done.returncode == 0:
                return python
    return None


def version_in(python: str, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def estimators() -> tuple[Any, Any, str]:
    """Unfitted models: the built-in trainers' own estimators when present, else stand-ins of that shape."""
    try:
        anomaly = importlib.import_module("retrain.training.anomaly").make_model()
        forecast = importlib.import_module("retrain.training.forecast").make_model()
        return anomaly, forecast, "the built-in trainers' estimators (retrain.training)"
    except (ImportError, AttributeError):
        ensemble = importlib.import_module("sklearn.ensemble")
        pipeline = importlib.import_module("sklearn.pipeline")
        preprocessing = importlib.import_module("sklearn.preprocessing")
        anomaly = pipeline.make_pipeline(
            preprocessing.RobustScaler(),
            ensemble.IsolationForest(n_estimators=200, contamination=0.05, random_state=42),
        )
        forecast = pipeline.make_pipeline(
            preprocessing.StandardScaler(), ensemble.RandomForestRegressor(n_estimators=100, random_state=42)
        )
        return (
            anomaly,
            forecast,
            "stand-ins (RobustScaler+IsolationForest(200), StandardScaler+RandomForest(100))",
        )


def build_registry(root: Path) -> dict[str, list[list[float]]]:
    """Fit, register and promote both models; return 100 held-out rows for each."""
    import numpy as np

    from retrain.data.contracts import builtin_contract
    from retrain.registry import NewVersionMetadata, Registry

    rng = np.random.default_rng(7)
    registry = Registry(root)
    anomaly, forecast, origin = estimators()
    print(f"models: {origin}")
    x45 = rng.gamma(2.0, 1.0, size=(5100, 45))
    anomaly.fit(x45[:5000])
    # cpu, memory, disk as ratios; network in bytes/s, as the contract's PromQL returns them.
    scale = np.array([1.0, 1.0, 1.0, 1e7, 1e7])
    x5 = rng.uniform(0.05, 0.95, size=(5100, 5)) * scale
    forecast.fit(x5[:5000], x5[:5000] * 1.02 + rng.normal(0, 0.01, size=(5000, 5)) * scale)
    rows: dict[str, list[list[float]]] = {}
    for name, model, held_out in ((ANOMALY, anomaly, x45[5000:]), (FORECAST, forecast, x5[5000:])):
        artefact = root.parent / f"{name}.pkl"
        importlib.import_module("joblib").dump(model, artefact)
        meta = NewVersionMetadata(trainer="bench", feature_contract=builtin_contract(name).to_json())
        registry.promote(name, registry.register(name, artefact, meta).version)
        rows[name] = held_out.tolist()
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            status, _ = request(
                http.client.HTTPConnection("127.0.0.1", port, timeout=5), "GET", "/v2/health/ready"
            )
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} not ready within {timeout_s:g} s")


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, Any]:
    conn.request(method, path, body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def bodies(model: str, rows: list[list[float]], protocol: str) -> tuple[str, list[bytes]]:
    if protocol == "v1":
        return f"/v1/models/{model}:predict", [json.dumps({"instances": [row]}).encode() for row in rows]
    path = f"/v2/models/{model}/infer"
    return path, [
        json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}]}
        ).encode()
        for row in rows
    ]


def measure(port: int, path: str, payloads: list[bytes], count: int, warmup: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(warmup):
        status, answer = request(conn, "POST", path, payloads[i % len(payloads)])
        assert status == 200, (port, path, status, answer)
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        status, answer = request(conn, "POST", path, payloads[i % len(payloads)])
        latencies.append(time.perf_counter() - t0)
        assert status == 200, (port, path, status, answer)
    elapsed = time.perf_counter() - started
    conn.close()
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1e3,
        "rps": count / elapsed,
    }


def predictions(port: int, model: str, rows: list[list[float]]) -> list[Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, answer = request(
        conn, "POST", f"/v1/models/{model}:predict", json.dumps({"instances": rows}).encode()
    )
    conn.close()
    assert status == 200, (status, answer)
    return list(answer["predictions"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="timed requests per target, model and protocol"
    )
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--kserve-python", help="interpreter with kserve installed (default: /tmp/kserve-venv)"
    )
    args = parser.parse_args(argv)
    kserve_python = find_kserve(args.kserve_python)
    if kserve_python is None:
        print(
            "bench/serving.py: kserve is not installed, so there is nothing to compare against; skipping.\n"
            "  install it apart from retrain: python3 -m venv /tmp/kserve-venv && "
            "/tmp/kserve-venv/bin/pip install kserve scikit-learn=="
            + importlib.metadata.version("scikit-learn")
        )
        return 0
    ours_sklearn, theirs_sklearn = (
        importlib.metadata.version("scikit-learn"),
        version_in(kserve_python, "scikit-learn"),
    )
    print(
        f"kserve {version_in(kserve_python, 'kserve')} ({kserve_python}); scikit-learn {ours_sklearn} here, "
        f"{theirs_sklearn} there; {os.cpu_count()} CPUs; {args.requests} requests per target"
    )
    if ours_sklearn != theirs_sklearn:
        print("warning: scikit-learn versions differ; the same pickle may not behave the same")
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        root = Path(tmp) / "registry"
        rows = build_registry(root)
        script = Path(tmp) / "kserve_server.py"
        script.write_text(KSERVE_SERVER)
        ports = {"kserve": free_port(), "retrain": free_port()}
        logs = [(Path(tmp) / f"{name}.log").open("w") for name in ports]
        try:
            # The built-in forecaster's pickle names retrain's ResidualForecaster: KServe must import it too.
            source = str(Path(importlib.import_module("retrain").__file__ or ".").parent.parent)
            env = {**os.environ, "PYTHONPATH": source}
            processes.append(
                subprocess.Popen(
                    [
                        kserve_python,
                        str(script),
                        "--root",
                        str(root),
                        "--models",
                        f"{ANOMALY},{FORECAST}",
                        "--port",
                        str(ports["kserve"]),
                    ],
                    env=env,
                    stdout=logs[0],
                    stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", RETRAIN_SERVER, str(root), str(ports["retrain"])],
                    stdout=logs[1],
                    stderr=subprocess.STDOUT,
                )
            )
            for process, port in zip(processes, ports.values(), strict=True):
                wait_ready(port, process)
            try:
                results = run(ports, rows, args.requests, args.warmup)
            except BaseException:
                for name, log in zip(("kserve", "retrain"), logs, strict=True):
                    log.flush()
                    tail = Path(log.name).read_text(errors="replace").splitlines()[-20:]
                    print(f"--- last lines of the {name} server's log:", *tail, sep="\n", file=sys.stderr)
                raise
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            for log in logs:
                log.close()
    report(results)
    return 0


def run(
    ports: dict[str, int], rows: dict[str, list[list[float]]], count: int, warmup: int
) -> list[dict[str, Any]]:
    results = []
    for model, held_out in rows.items():
        ours = predictions(ports["retrain"], model, held_out)
        theirs = predictions(ports["kserve"], model, held_out)
        # Forests fitted with n_jobs=-1 sum their trees in thread order in scikit-learn: last-bit differences.
        same = np.allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=1e-9, atol=0)
        verdict = "the same answers (within 1e-9)" if same else "DIFFERENT answers"
        print(f"{model}: both servers give {verdict} for 100 held-out rows")
        for protocol in ("v1", "v2"):
            path, payloads = bodies(model, held_out, protocol)
            for target, port in ports.items():
                stats = measure(port, path, payloads, count, warmup)
                results.append({"model": model, "protocol": protocol, "target": target, **stats})
    return results


def report(results: list[dict[str, Any]]) -> None:
    print(f"\n{'model':22} {'proto':5} {'server':8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for r in results:
        name, protocol, target = r["model"], r["protocol"], r["target"]
        print(f"{name:22} {protocol:5} {target:8} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['rps']:8.0f}")
    print("\nratios (KServe / retrain; higher is better for retrain):")
    keyed = {(r["model"], r["protocol"], r["target"]): r for r in results}
    for model, protocol in sorted({(r["model"], r["protocol"]) for r in results}):
        k, o = keyed[(model, protocol, "kserve")], keyed[(model, protocol, "retrain")]
        p50, p99, rps = k["p50_ms"] / o["p50_ms"], k["p99_ms"] / o["p99_ms"], o["rps"] / k["rps"]
        verdict = "meets" if p50 >= 4 else "MISSES"
        print(
            f"  {model:22} {protocol}: p50 {p50:6.1f}x  p99 {p99:6.1f}x  throughput {rps:6.1f}x  "
            f"({verdict} the 4x p50 target)"
        )


if __name__ == "__main__":
    sys.exit(main())
