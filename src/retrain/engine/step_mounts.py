"""What each step (or sidecar) of a try sees: isolated workspaces and the other steps' internal directories.

Isolated workspaces (Tekton's pkg/workspace/apply.go): a workspace that any step or sidecar lists under its
own `workspaces` is mounted only into the steps and sidecars that list it, at the usage's `mountPath` when
given (else where the Task declares it); every other workspace is mounted into all of them. Tekton also
gives `$(workspaces.<name>.path)` the usage's mountPath in that step.

Internal directories (Tekton's entrypoint): each step has /tekton/run/<index> and /tekton/steps/step-<name>
(also reachable as /tekton/steps/<index>); a step may write only its own, the others are read-only to it.
Bind mounts enforce that under bwrap; host mode cannot (see sandbox_limitations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from retrain.engine.sandbox import Mount, Sandbox
from retrain.tekton.model import Sidecar, Step, TaskSpec, WorkspaceUsage

__all__ = [
    "container_mounts",
    "internal_dir_mounts",
    "isolated_workspaces",
    "step_mounts",
    "workspace_path_strings",
]


def isolated_workspaces(spec: TaskSpec) -> frozenset[str]:
    """The workspaces some step or sidecar lists in its own `workspaces`."""
    names = {u.name for s in spec.steps for u in s.workspaces or []}
    names |= {u.name for s in spec.sidecars or [] for u in s.workspaces or []}
    return frozenset(names)


def container_mounts(
    mounts: Sequence[Mount],
    workspace_targets: Mapping[str, str],
    isolated: frozenset[str],
    usages: Sequence[WorkspaceUsage] | None,
) -> list[Mount]:
    """The try's mounts as one step or sidecar gets them: isolated workspaces it does not list left out,
    the ones it lists moved to the usage's mountPath. `workspace_targets` maps each workspace to the
    target it has in `mounts`."""
    if not isolated:
        return list(mounts)
    by_target = {workspace_targets[n]: n for n in isolated if n in workspace_targets}
    own = {u.name: u for u in usages or []}
    out: list[Mount] = []
    for mount in mounts:
        name = by_target.get(mount.target)
        if name is None:
            out.append(mount)
        elif name in own:
            out.append(Mount(mount.host, own[name].mount_path or mount.target, mount.read_only))
    return out


def workspace_path_strings(
    container: Step | Sidecar, mounts: Sequence[Mount], sandbox: Sandbox
) -> dict[str, str]:
    """`workspaces.<name>.path` for the usages of this step/sidecar that give their own mountPath."""
    strings: dict[str, str] = {}
    for usage in container.workspaces or []:
        if usage.mount_path:
            mount = next((m for m in mounts if m.target == usage.mount_path), None)
            if mount is not None:
                strings[f"workspaces.{usage.name}.path"] = sandbox.visible_path(mount)
    return strings


def internal_dir_mounts(root_dirs: Mapping[str, Path], names: Sequence[str], index: int) -> list[Mount]:
    """Binds that leave step `index` only its own /tekton/run/<i> and /tekton/steps/step-<name> writable."""
    mounts: list[Mount] = []
    for i, name in enumerate(names):
        mounts.append(Mount(root_dirs["/tekton/run"] / str(i), f"/tekton/run/{i}", read_only=i != index))
        steps = root_dirs["/tekton/steps"] / f"step-{name}"
        mounts.append(Mount(steps, f"/tekton/steps/step-{name}", read_only=i != index))
    return mounts


def step_mounts(
    mounts: Sequence[Mount],
    workspace_targets: Mapping[str, str],
    isolated: frozenset[str],
    step: Step,
    *,
    dirs: Mapping[str, Path],
    names: Sequence[str],
    index: int,
    sandbox: Sandbox,
) -> list[Mount]:
    """Everything step `index` gets mounted: its workspaces (isolated ones only where listed) and, under
    bwrap, the other steps' internal directories read-only."""
    own = container_mounts(mounts, workspace_targets, isolated, step.workspaces)
    if sandbox.mode != "bwrap":
        return own
    for i in range(len(names)):
        (dirs["/tekton/run"] / str(i)).mkdir(exist_ok=True)
    return [*own, *internal_dir_mounts(dirs, names, index)]
