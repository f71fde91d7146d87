"""What a PipelineRun is run with and ends with: its request, timeouts, outcome, stop control, child names."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from retrain.engine.pod import NO_PODS, PodSpecs
from retrain.engine.scheduler import StopMode
from retrain.engine.workspaces import BoundWorkspace
from retrain.tekton.model import ParamValue, Pipeline, PipelineSpec, StepActionSpec, TaskRef, TaskSpec


@dataclass(frozen=True)
class PipelineTimeouts:
    pipeline: timedelta | None  # None or 0: no limit
    tasks: timedelta | None = None
    finally_: timedelta | None = None


@dataclass(frozen=True)
class PipelineRunRequest:
    name: str
    pipeline_name: str
    spec: PipelineSpec
    params: Mapping[str, ParamValue]
    workspaces: Mapping[str, BoundWorkspace]
    timeouts: PipelineTimeouts
    resolve_task: Callable[[TaskRef], TaskSpec]
    annotations: Mapping[str, str] = field(default_factory=dict)
    task_timeouts: Mapping[str, timedelta] = field(default_factory=dict)  # from spec.taskRunSpecs
    uid: str = ""
    reuse: Mapping[str, Mapping[str, ParamValue]] = field(default_factory=dict)  # rerun --from-failed
    resolve_pipeline: Callable[[str | None], Pipeline] | None = None  # pipelineRef on a pipeline task
    step_actions: Mapping[str, StepActionSpec] = field(default_factory=dict)  # what step refs name
    pods: PodSpecs = NO_PODS  # objects, ServiceAccount and podTemplate volumes per pipeline task


@dataclass(frozen=True)
class PipelineRunOutcome:
    status: str  # "True" / "False"
    reason: str
    message: str
    status_doc: dict[str, Any]


@dataclass
class RunControl:
    """How the outside world stops a run: a polled request (another process) or a local event (Ctrl-C)."""

    poll: Callable[[], str | None] = lambda: None
    local: asyncio.Event = field(default_factory=asyncio.Event)
    local_mode: StopMode = "Cancelled"

    def requested(self) -> StopMode | None:
        if self.local.is_set():
            return self.local_mode
        mode = self.poll()
        if mode in ("Cancelled", "CancelledRunFinally", "StoppedRunFinally"):
            return mode  # type: ignore[return-value]
        return None


def child_name(run: str, task: str, suffix: str = "") -> str:
    """Tekton's kmeta.ChildName: `<run>-<task>`, shortened with a hash past 63 characters."""
    name = f"{run}-{task}{suffix}"
    if len(name) <= 63:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return f"{name[: 63 - len(digest) - 1]}-{digest}"
