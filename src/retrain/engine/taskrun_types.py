"""What a TaskRun is run with and ends with: its request, outcome, environment and cancel signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from retrain.engine import reasons
from retrain.engine.backoff import NO_BACKOFF, Backoff
from retrain.engine.breakpoints import Breakpoints
from retrain.engine.clock import Clock
from retrain.engine.feature_flags import DEFAULT_FLAGS, FeatureFlags
from retrain.engine.pod import NO_POD, PodSpec
from retrain.engine.sandbox import Sandbox
from retrain.engine.workspaces import BoundWorkspace
from retrain.tekton.model import ParamValue, StepActionSpec, TaskSpec

Phase = Literal["succeeded", "failed", "cancelled", "timed_out"]


@dataclass
class CancelSignal:
    """Set by the pipeline (or Ctrl-C) to stop a TaskRun; carries the reason and message Tekton would give."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = reasons.TR_CANCELLED
    message: str = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."

    def fire(self, reason: str, message: str) -> None:
        if not self.event.is_set():
            self.reason, self.message = reason, message
            self.event.set()


@dataclass(frozen=True)
class TaskRunRequest:
    name: str
    spec: TaskSpec
    params: Mapping[str, ParamValue]
    workspaces: Mapping[str, BoundWorkspace]
    context: Mapping[str, str]  # "context.pipelineRun.name" -> value, ...
    timeout: timedelta | None  # None or 0: no timeout
    retries: int = 0
    backoff: Backoff = NO_BACKOFF
    manifest: Mapping[str, Any] = field(default_factory=dict)  # metadata/spec for the status document
    ignore_failure: bool = False  # the pipeline task has `onError: continue`: a failure is FailureIgnored
    pod: PodSpec = NO_POD  # Kubernetes objects, ServiceAccount, podTemplate volumes (pod.py)
    step_actions: Mapping[str, StepActionSpec] = field(default_factory=dict)  # what step refs name
    breakpoints: Breakpoints | None = None  # spec.debug.breakpoints (breakpoints.py)


@dataclass(frozen=True)
class TaskRunOutcome:
    name: str
    phase: Phase
    reason: str
    message: str
    results: dict[str, ParamValue]
    status: dict[str, Any]
    retries: int


@dataclass(frozen=True)
class ExecEnv:
    sandbox: Sandbox
    clock: Clock
    run_dir: Path  # the run's own directory; nothing is written outside it
    log_path: Callable[[str, str], Path]  # (taskrun, step) -> log file
    on_status: Callable[[str, dict[str, Any]], None] = lambda name, status: None
    on_line: Callable[[str, str, str], None] | None = None  # (taskrun, step, line)
    flags: FeatureFlags = DEFAULT_FLAGS  # the run's feature-flags (results-from, max-result-size, ...)
