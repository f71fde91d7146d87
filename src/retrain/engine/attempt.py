"""One try of a TaskRun (one 'pod'): its directories and mounts, its replacements, its steps in order.

Launching one step is step_launch.py; reading the try's results is task_results.py; the retry loop around
the tries is taskrun.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from retrain.engine import reasons, security_context, step_hooks
from retrain.engine.breakpoints import DebugDir
from retrain.engine.mounts import attempt_dir, write_mounts
from retrain.engine.params import fill_params, param_replacements
from retrain.engine.pod import CONFIG_ERROR, start_pod
from retrain.engine.sandbox import Mount
from retrain.engine.sidecars import sidecar_ending, start_sidecars
from retrain.engine.step_launch import run_one_step
from retrain.engine.step_template import merge_step_template, step_names
from retrain.engine.taskrun_types import CancelSignal, ExecEnv, Phase, TaskRunRequest
from retrain.errors import InvalidInput
from retrain.runs.status import SidecarState, StepState
from retrain.tekton.durations import format_duration
from retrain.tekton.substitution import Replacements


class Attempt:
    """One try of a TaskRun: one 'pod'. Retries get a fresh one, as Tekton creates a fresh pod."""

    def __init__(self, req: TaskRunRequest, env: ExecEnv, retry: int, cancel: CancelSignal) -> None:
        self.req, self.env, self.retry, self.cancel = req, env, retry, cancel
        self.root = attempt_dir(env.run_dir, req.name, retry)
        self.dirs = {
            "/workspace": self.root / "workspace",
            "/tekton/home": self.root / "home",
            "/tekton/results": self.root / "results",
            "/tekton/scripts": self.root / "scripts",
            "/tekton/steps": self.root / "steps",
            "/tekton/run": self.root / "run",
            "/tekton/creds": self.root / "creds",  # creds-init's CredsDir, in every container as in a pod
        }
        for target, d in self.dirs.items():
            if target != "/tekton/creds":  # written (and so made) only when there are credentials
                d.mkdir(parents=True, exist_ok=True)
        self.mounts: list[Mount] = [
            Mount(host, target, fresh_when_absent=target == "/tekton/creds")
            for target, host in self.dirs.items()
        ]
        decls = {d.name: d for d in req.spec.workspaces}
        self.workspace_targets: dict[str, str] = {}
        for name, ws in req.workspaces.items():
            decl = decls.get(name)
            target = (decl.mount_path if decl and decl.mount_path else None) or f"/workspace/{name}"
            self.workspace_targets[name] = target
            if ws.host is not None:
                self.mounts.append(Mount(ws.host, target, read_only=ws.read_only))
        self.debug = DebugDir(self.root, self.dirs["/tekton/run"]) if req.breakpoints else None
        if self.debug is not None:  # /tekton/debug: Tekton's debug scripts (breakpoints.py)
            self.mounts.append(self.debug.mount())
            self.debug.write_scripts(len(req.spec.steps), self.visible)
        self.on_pause: Callable[[str | None], None] = lambda message: None  # taskrun.py: Running's message
        write_mounts(self.root, self.mounts)  # so that reports can show host paths for this try's paths
        self.sidecar_states: tuple[SidecarState, ...] = ()

    def visible(self, target: str) -> str:
        """The path the step must be told for a container path under one of the mounts."""
        best = max(
            (m for m in self.mounts if target == m.target or target.startswith(m.target + "/")),
            key=lambda m: len(m.target),
            default=None,
        )
        if best is None:
            return target
        return self.env.sandbox.visible_path(best) + target[len(best.target) :]

    def replacements(self) -> Replacements:
        strings: dict[str, str] = dict(self.req.context)
        strings["context.task.retry-count"] = str(self.retry)
        strings["context.taskRun.retry-count"] = str(self.retry)
        strings["credentials.path"] = self.visible("/tekton/creds")
        for name, ws in self.req.workspaces.items():
            target = self.workspace_targets[name]
            strings[f"workspaces.{name}.path"] = self.visible(target) if ws.host else ""
            strings[f"workspaces.{name}.bound"] = "true" if ws.bound else "false"
            strings[f"workspaces.{name}.claim"] = ws.claim
            strings[f"workspaces.{name}.volume"] = ws.volume
        for result in self.req.spec.results:
            strings[f"results.{result.name}.path"] = self.visible(f"/tekton/results/{result.name}")
        for index, name in enumerate(step_names(self.req.spec)):
            exit_file = self.visible(f"/tekton/steps/step-{name}/exitCode")
            strings[f"steps.step-{name}.exitCode.path"] = exit_file
            strings[f"steps.{name}.exitCode.path"] = exit_file
            (self.dirs["/tekton/steps"] / f"step-{name}").mkdir(exist_ok=True)
            alias = self.dirs["/tekton/steps"] / str(index)  # Tekton links /tekton/steps/<index> too
            if not alias.is_symlink():
                alias.symlink_to(f"step-{name}")
        others = Replacements(strings=strings)
        # Tekton applies params first, then contexts, results, step exit codes and workspaces, so a param
        # value (a default such as "$(context.taskRun.name)" or "$(workspaces.src.path)/x") gets them too.
        return param_replacements(fill_params(self.req.params, others)).merged(others)

    async def run(self, deadline: float | None) -> tuple[Phase, str, str, list[StepState]]:
        replacements = self.replacements()
        names = step_names(self.req.spec)
        try:  # StepActions expanded, the stepTemplate merged, each step's own result and workspace paths
            spec, steps = step_hooks.expanded_steps(
                self.req.spec, self.req.step_actions, self.req.params, replacements, merge_step_template,
                names=names, visible=self.visible, bwrap=self.env.sandbox.mode == "bwrap",
                workspace_targets=self.workspace_targets, steps_dir=self.dirs["/tekton/steps"],
            )  # fmt: skip
        except step_hooks.StepActionError as exc:
            skipped = [StepState.skipped(n, "") for n in names]
            return "failed", step_hooks.TR_RESOLUTION_FAILED, str(exc), skipped
        states: list[StepState] = []
        try:  # pod volumes, env from objects, credentials: a config error stops the pod before any step
            home = self.dirs["/tekton/home"]
            self.pod = start_pod(
                self.req.pod, self.req.spec, steps, replacements, root=self.root, run_dir=self.env.run_dir,
                home=home, pod_name=f"{self.req.name}-pod",
            )  # fmt: skip
            self.run_as = security_context.identities_for_try(  # runAsUser, ...: checked, warned once
                steps, self.req.spec.sidecars or [], self.req.pod.security_context, replacements,
                taskrun=self.req.name, sandbox=self.env.sandbox, warn=self.retry == 0,
            )  # fmt: skip
        except InvalidInput as exc:
            skipped = [StepState.skipped(n, s.image or "") for s, n in zip(steps, names, strict=True)]
            return "failed", CONFIG_ERROR, str(exc), skipped
        self.mounts += self.pod.mounts  # /tekton/creds, in every container
        outcome: tuple[Phase, str, str] = (
            "succeeded",
            reasons.TR_SUCCEEDED,
            "All Steps have completed executing",
        )
        pod = start_sidecars(self, replacements) if self.req.spec.sidecars else None
        try:
            if pod is not None:  # the steps wait until every sidecar is ready
                not_ready = await pod.wait_ready(deadline, self.cancel.event)
                if not_ready is not None:
                    timeout = format_duration(self.req.timeout or timedelta(0))
                    outcome = sidecar_ending(*not_ready, self.req.name, timeout, self.cancel)
            for index, (step, name) in enumerate(zip(steps, names, strict=True)):
                if outcome[0] != "succeeded":
                    states.append(StepState.skipped(name, step.image or ""))
                    continue
                ready = step_hooks.runtime_step_references(step, self.dirs["/tekton/steps"])
                if ready.when and not step_hooks.when_allows(ready):
                    step_dir = self.dirs["/tekton/steps"] / f"step-{name}"
                    states.append(step_hooks.skipped_by_when(name, ready, step_dir, self.env.clock.now()))
                    continue
                phase, reason, message, state = await run_one_step(self, index, name, ready, deadline)
                state = step_hooks.with_step_results(state, ready, self.dirs["/tekton/steps"])
                states.append(state)
                if phase != "succeeded":
                    outcome = (phase, reason, message)
        finally:
            if pod is not None:  # whatever ended the steps, no sidecar outlives its TaskRun
                self.sidecar_states = await pod.stop()
        step_hooks.task_results_from_steps(spec, self.dirs["/tekton/steps"], self.dirs["/tekton/results"])
        return (*outcome, states)
