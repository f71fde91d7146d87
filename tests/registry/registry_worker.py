"""A separate process that writes to a registry, for the concurrency and kill-during-write tests.

python registry_worker.py register ROOT MODEL COUNT GO_FILE   register COUNT versions, print each number
python registry_worker.py promote ROOT MODEL VERSION ROUNDS GO_FILE   promote, roll back; ROUNDS times
python registry_worker.py churn ROOT MODEL SEED               register/promote/rollback/prune until killed
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from pathlib import Path

from retrain.errors import Conflict
from retrain.registry import NewVersionMetadata, Registry

META = NewVersionMetadata(trainer="worker", data_source_requested="synthetic", metrics={"f1": 0.9})


def wait_for(go: Path) -> None:
    # Start together: every worker has imported everything before the first one writes.
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("go file never appeared")
        time.sleep(0.005)


def artefact(directory: Path, rng: random.Random, size: int) -> Path:
    path = directory / f"artefact-{rng.getrandbits(64):016x}.bin"
    path.write_bytes(rng.randbytes(size))
    return path


def register(registry: Registry, model: str, count: int, scratch: Path, go: Path) -> None:
    rng = random.Random()
    wait_for(go)
    for _ in range(count):
        info = registry.register(model, artefact(scratch, rng, 4096), META)
        print(info.version, flush=True)


def promote(registry: Registry, model: str, version: int, rounds: int, go: Path) -> None:
    wait_for(go)
    for _ in range(rounds):
        registry.promote(model, version)
        with contextlib.suppress(Conflict):  # another worker rolled back first: there is no previous now
            registry.rollback(model)


def churn(registry: Registry, model: str, seed: int, scratch: Path) -> None:
    rng = random.Random(seed)
    step = 0
    while True:
        step += 1
        info = registry.register(model, artefact(scratch, rng, rng.randrange(1 << 16, 3 << 20)), META)
        registry.promote(model, info.version, reason=f"step {step}")
        if step % 3 == 0:
            registry.rollback(model, reason="churn")
        if step % 4 == 0:
            registry.prune(model, keep=3)
        print(step, flush=True)


def main(argv: list[str]) -> None:
    mode, root, model = argv[1], Path(argv[2]), argv[3]
    registry = Registry(root, actor=f"worker-{mode}")
    scratch = root.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    if mode == "register":
        register(registry, model, int(argv[4]), scratch, Path(argv[5]))
    elif mode == "promote":
        promote(registry, model, int(argv[4]), int(argv[5]), Path(argv[6]))
    elif mode == "churn":
        churn(registry, model, int(argv[4]), scratch)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
