"""CUDA detection for the `--gpu` path, and the decision to train on the GPU or to fall back to the CPU.

Detection asks the CUDA driver itself (`libcuda.so.1`: `cuInit`, `cuDeviceGetCount`) through ctypes, so a
CPU-only machine answers in microseconds and no GPU library is imported. Only when the driver reports a
device is XGBoost imported, to check that its build has CUDA support (the PyPI wheel for Linux x86_64 has).

A fallback is never silent: `choose_device` logs a WARNING and the plan's fields go into the model's metrics
and metadata (`gpu_requested`, `gpu_used`, `gpu_fallback_reason`).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("retrain.training")

_HIDDEN = ("", "-1", "none", "void", "nodevfiles")


@dataclass(frozen=True)
class CudaStatus:
    """Whether a CUDA device can be used for training; `reason` says why not when it cannot."""

    available: bool
    devices: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class DevicePlan:
    """Where the forecaster trains. Recorded in its metrics and metadata."""

    gpu_requested: bool
    gpu_used: bool
    fallback_reason: str | None = None

    @property
    def device(self) -> str:
        return "cuda" if self.gpu_used else "cpu"

    def as_metrics(self) -> dict[str, Any]:
        return {
            "gpu_requested": self.gpu_requested,
            "gpu_used": self.gpu_used,
            "gpu_fallback_reason": self.fallback_reason,
        }


def cuda_driver_devices() -> tuple[int, str | None]:
    """(number of CUDA devices the driver sees, None) or (0, why none)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0, "no CUDA driver on this machine (libcuda.so.1 cannot be loaded)"
    status = driver.cuInit(0)
    if status != 0:
        return 0, f"the CUDA driver failed to initialise (cuInit returned CUDA error {status})"
    count = ctypes.c_int(0)
    status = driver.cuDeviceGetCount(ctypes.byref(count))
    if status != 0:
        return 0, f"the CUDA driver cannot count devices (cuDeviceGetCount returned CUDA error {status})"
    if count.value == 0:
        return 0, "the CUDA driver sees no GPU"
    return count.value, None


def xgboost_cuda_support() -> str | None:
    """None when the installed XGBoost can train on CUDA, else why not."""
    if importlib.util.find_spec("xgboost") is None:
        return "xgboost is not installed (pip install xgboost)"
    import xgboost

    if not xgboost.build_info().get("USE_CUDA"):
        return f"the installed xgboost {xgboost.__version__} was built without CUDA support"
    return None


def detect_cuda(
    environ: Mapping[str, str] | None = None,
    *,
    driver: Callable[[], tuple[int, str | None]] = cuda_driver_devices,
    library: Callable[[], str | None] = xgboost_cuda_support,
) -> CudaStatus:
    """Can the forecaster train on a GPU here? `driver` and `library` are seams for tests."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip().lower() in _HIDDEN:
        return CudaStatus(False, 0, f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU")
    devices, reason = driver()
    if devices == 0:
        return CudaStatus(False, 0, reason or "no CUDA device")
    problem = library()
    if problem is not None:
        return CudaStatus(False, devices, problem)
    return CudaStatus(True, devices, None)


def plan_device(gpu_requested: bool, status: CudaStatus | None) -> DevicePlan:
    """Pure decision: the GPU only when it was asked for and is usable."""
    if not gpu_requested:
        return DevicePlan(False, False, None)
    if status is None or not status.available:
        reason = status.reason if status is not None else "CUDA was not checked"
        return DevicePlan(True, False, reason)
    return DevicePlan(True, True, None)


def choose_device(gpu_requested: bool, *, detect: Callable[[], CudaStatus] = detect_cuda) -> DevicePlan:
    """Detect CUDA only when the GPU was requested; warn loudly on a fallback."""
    plan = plan_device(gpu_requested, detect() if gpu_requested else None)
    if plan.gpu_requested and not plan.gpu_used:
        log.warning(
            "GPU training was requested but is not possible, training on the CPU: %s", plan.fallback_reason
        )
    return plan
