"""Zero failed requests while another process promotes and rolls back ten times under continuous load."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from typing import Any

import httpx
import numpy as np

from fixtures.serving_helpers import FORECAST, row, start
from retrain.registry import Registry
from retrain.serving import load_version

# Another process switches versions and waits, each time, until the server answers with the new one.
SWITCHER = """
import sys, time, urllib.request
from pathlib import Path
from retrain.registry import Registry

root, url, model, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
registry = Registry(root, actor="switcher")

def wait_for(version):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/v1/models/{model}") as response:
            if response.headers["x-model-version"] == version:
                return
        time.sleep(0.01)
    raise SystemExit(f"the server never served version {version}")

for _ in range(rounds):
    registry.promote(model, 2, reason="swap test")
    wait_for("2")
    registry.rollback(model, reason="swap test")
    wait_for("1")
print(rounds * 2)
"""


def test_no_request_fails_during_ten_promotions_and_rollbacks(registry: Registry) -> None:
    rows = np.asarray([row(FORECAST)])
    expected = {str(v): load_version(registry, FORECAST, v).predict(rows).ravel().tolist() for v in (1, 2)}
    assert expected["1"] != expected["2"]
    stop = threading.Event()
    seen: list[list[tuple[Any, ...]]] = [[], [], []]

    with start(registry) as served:

        def send(index: int) -> None:
            v1 = {"instances": rows.tolist()}
            v2 = {
                "inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP64", "data": rows.ravel().tolist()}]
            }
            with httpx.Client(base_url=served.server.url, timeout=30) as client:
                sent = 0
                while not stop.is_set() and sent < 20000:  # bounded even if the switcher hangs
                    sent += 1
                    try:
                        if sent % 2:
                            response = client.post(f"/v1/models/{FORECAST}:predict", json=v1)
                            data = response.json().get("predictions")
                            outputs = np.asarray(data).ravel().tolist() if data is not None else None
                        else:
                            response = client.post(f"/v2/models/{FORECAST}/infer", json=v2)
                            answer = response.json()
                            outputs = answer["outputs"][0]["data"] if response.status_code == 200 else None
                            assert (
                                response.status_code != 200
                                or answer["model_version"] == response.headers["x-model-version"]
                            )
                    except (httpx.HTTPError, ValueError, AssertionError) as err:
                        seen[index].append(("failed", repr(err), None))
                        continue
                    seen[index].append(
                        (response.status_code, response.headers.get("x-model-version"), outputs)
                    )

        clients = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for thread in clients:
            thread.start()
        try:
            done = subprocess.run(
                [sys.executable, "-c", SWITCHER, str(registry.root), served.server.url, FORECAST, "10"],
                capture_output=True,
                text=True,
                timeout=100,
                check=False,
            )
        finally:
            stop.set()
            for thread in clients:
                thread.join(30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20"
    answers = [item for per_thread in seen for item in per_thread]
    failures = [item for item in answers if item[0] != 200]
    assert failures == [], failures[:5]
    versions = Counter(version for _, version, _ in answers)
    assert set(versions) == {"1", "2"}, versions
    # Every answer is exactly what the version it names would say: no mix of one version's header and
    # another's model.
    wrong = [item for item in answers if item[2] != expected[item[1]]]
    assert wrong == []
    assert len(answers) > 100
    assert [e.event for e in registry.history(FORECAST)].count("rolled_back") == 10
