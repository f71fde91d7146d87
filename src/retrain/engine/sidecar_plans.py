"""What a TaskRun's sidecars run: each sidecar (already substituted) as a process launch with its mounts,
environment and probes, the way Tekton builds a sidecar container (pkg/pod, pkg/workspace/apply.go).

A sidecar sees none of the steps' implicit mounts (no /workspace, /tekton/home, /tekton/results): only
`/tekton/scripts` for its `script`, its own volumeMounts, every workspace that no step or sidecar lists (a
shared workspace goes to every sidecar) and the isolated ones it lists itself, at the usage's mountPath;
none where it already mounts something at that path (AddSidecarVolumeMount).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrain.engine.images import entrypoint_argv
from retrain.engine.pod import step_env
from retrain.engine.probes import Probe, parse_probe
from retrain.engine.process import StepLaunch
from retrain.engine.sandbox import Mount
from retrain.engine.scripts import materialize_script
from retrain.engine.volumes import PodVolume, container_mounts
from retrain.errors import RetrainError
from retrain.tekton.model import Sidecar, Step

if TYPE_CHECKING:
    from retrain.engine.pod import Pod as StartedPod
    from retrain.engine.taskrun_types import ExecEnv, TaskRunRequest

__all__ = ["SidecarPlan", "Try", "plan_sidecar", "sidecar_env", "sidecar_names"]


class Try(Protocol):
    """What the sidecars need of a TaskRun try (attempt.Attempt), once its pod has started."""

    req: TaskRunRequest
    env: ExecEnv
    pod: StartedPod
    root: Path
    dirs: dict[str, Path]
    workspace_targets: dict[str, str]

    def visible(self, target: str) -> str: ...


@dataclass(frozen=True)
class SidecarPlan:
    name: str
    image: str
    launch: StepLaunch
    startup: Probe | None
    readiness: Probe | None


def sidecar_names(sidecars: Sequence[Sidecar]) -> list[str]:
    return [s.name or f"unnamed-{i}" for i, s in enumerate(sidecars)]


def plan_sidecar(
    index: int,
    name: str,
    sidecar: Sidecar,
    *,
    env: Mapping[str, str],
    scripts: tuple[Path, Mount, str],  # host directory, its mount, the path the sidecar is told
    workspaces: Mapping[str, Mount],
    isolated: set[str],
    volumes: Mapping[str, PodVolume],
    applets: Mount | None,
    log_path: Path,
) -> SidecarPlan:
    """How to run one (already substituted) sidecar; RetrainError with the reason when it cannot run."""
    field_path = f"sidecars[{index}]"
    mounts: list[Mount] = []
    if sidecar.script is not None:
        scripts_dir, scripts_mount, scripts_visible = scripts
        _, argv = materialize_script(
            sidecar.script, scripts_dir, index, f"sidecar-{name}", visible_dir=scripts_visible
        )
        argv = [*argv, *(sidecar.args or [])]
        mounts.append(scripts_mount)
    elif sidecar.command:
        argv = [*sidecar.command, *(sidecar.args or [])]
    else:
        known = entrypoint_argv(sidecar.image, sidecar.args or [])
        if known is None:
            raise RetrainError(
                f'sidecar "{name}" has neither script nor command, so it would run the entrypoint of its '
                f"image {sidecar.image!r}, a program only that image has (images are never pulled here); "
                "give the sidecar a command: or script: that this machine can run"
            )
        argv = known
    # Its own volumeMounts first; then the workspaces, as Tekton's workspace.Apply: a shared workspace goes to
    # every sidecar, an isolated one (listed by some step or sidecar) only to those listing it, and neither
    # where the sidecar already mounts something at that path (AddSidecarVolumeMount).
    mounts += container_mounts(sidecar.volume_mounts, volumes, field_prefix=f"{field_path}.volumeMounts")
    listed = {u.name: u for u in sidecar.workspaces or []}
    for ws_name, bound in workspaces.items():
        if ws_name in isolated and ws_name not in listed:
            continue
        usage = listed.get(ws_name)
        target = (usage.mount_path if usage else None) or bound.target
        if not any(m.target.rstrip("/") == target.rstrip("/") for m in mounts):
            mounts.append(Mount(bound.host, target, bound.read_only))
    if applets is not None:
        mounts.append(applets)
    ports = {
        str(p["name"]): int(p["containerPort"])
        for p in sidecar.ports or []
        if isinstance(p, Mapping) and p.get("name") and str(p.get("containerPort", "")).isdigit()
    }
    probes = {
        key: parse_probe(doc, f"{field_path}.{key}", ports) if isinstance(doc, Mapping) else None
        for key, doc in (("startupProbe", sidecar.startup_probe), ("readinessProbe", sidecar.readiness_probe))
    }
    launch = StepLaunch(
        argv=argv,
        env=dict(env),
        working_dir=sidecar.working_dir or "/",  # no /workspace in a sidecar: the image's (root) directory
        mounts=tuple(mounts),
        log_path=log_path,
        timeout_s=None,
        name=f"sidecar-{name}",
    )
    return SidecarPlan(name, sidecar.image or "", launch, probes["startupProbe"], probes["readinessProbe"])


def sidecar_env(pod: Try, sidecar: Sidecar, at: str) -> dict[str, str]:
    """envFrom, then env with valueFrom resolved, as for a step (pod.step_env; the same pod fields)."""
    fields = {
        "metadata.name": f"{pod.req.name}-pod",
        "metadata.namespace": "default",
        "spec.serviceAccountName": pod.req.pod.service_account or "default",
    }
    container = Step.model_construct(env=sidecar.env, env_from=sidecar.env_from)
    return step_env(container, pod.req.pod.objects, fields, at)
