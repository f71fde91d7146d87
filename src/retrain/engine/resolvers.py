"""Remote resolution, done locally when a run is created: the `git` and `cluster` resolvers.

Tekton resolves a `taskRef`/`pipelineRef`/step `ref` with `resolver:` + `params` through a
ResolutionRequest before the run's work starts. Here `resolve_refs` does it in `Engine.submit`, before
anything is recorded, so a bad ref never starts a run; it fails with Tekton's reasons (CouldntGetPipeline,
CouldntGetTask, TaskRunResolutionFailed). What was resolved is kept in the run's catalog under the ref's key
(resolver_keys.py), which `Catalog.task`, the pipelineRef lookup and the StepAction expansion use, and is
saved in resolved.json so that `runs rerun` runs the same objects (resolved.py), never a newer commit.

Resolver params may use `$(params.x)`: a run's taskRef/pipelineRef none (Tekton substitutes none there),
a pipeline task's taskRef the PipelineRun's params, a step ref the Task's params. Values known only later
(task results) cannot be used: the ref is resolved at creation. `hub`, `bundles` and `http` need the
network (tekton/resolver_support.py refuses them when the files are loaded).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from retrain.engine.cluster_resolver import KINDS, find_object
from retrain.engine.git_resolver import read_git_file
from retrain.engine.params import param_replacements, resolve_params
from retrain.engine.reasons import RunRejected
from retrain.engine.resolver_keys import ResolutionError, ref_key, step_action_key
from retrain.engine.stepactions import TR_RESOLUTION_FAILED
from retrain.errors import InvalidInput, Location
from retrain.tekton.loader import load_text
from retrain.tekton.local_support import local_support_problems
from retrain.tekton.model import (
    Param,
    ParamValue,
    Pipeline,
    PipelineRun,
    Ref,
    StepAction,
    Task,
    TaskRun,
    TaskSpec,
)
from retrain.tekton.substitution import Replacements, substitute_model
from retrain.tekton.validation import validate_object

if TYPE_CHECKING:
    from retrain.engine.prepare import Catalog

__all__ = ["RESOLVED_REF_ANNOTATION", "resolve_refs"]

log = logging.getLogger(__name__)

RESOLVED_REF_ANNOTATION = "retrain.dev/resolved-ref"  # in resolved.json: the key a kept object answers
RESOLVED_FROM_ANNOTATION = "retrain.dev/resolved-from"  # where it came from (git: url, commit and path)
Kind = Literal["Task", "Pipeline", "StepAction"]
Resolved = Task | Pipeline | StepAction
EMPTY = Replacements()


def has_resolver_steps(spec: TaskSpec | None) -> bool:
    return spec is not None and any(s.ref is not None and s.ref.resolver for s in spec.steps)


def _values(params: Sequence[Param]) -> dict[str, str]:
    values: dict[str, str] = {}
    for p in params:
        if not isinstance(p.value, str):
            raise ResolutionError(f"resolver param {p.name!r} must be a string")
        if "$(" in p.value:
            raise ResolutionError(
                f"resolver param {p.name!r} is {p.value!r}, which is not known when the run is "
                "created (locally a ref is resolved then)",
                "use the run's params (a pipeline task's taskRef) or the Task's params (a step ref)",
            )
        values[p.name] = p.value
    return values


def _parse(text: str, label: str, want: Kind) -> Resolved:
    """The one object of a resolved file, checked as a file given with -f is (file:line inside it)."""
    loaded = load_text(text, label)
    found: list[str] = [d.obj.kind for d in loaded.documents] + [i.kind for i in loaded.ignored]
    found += [o.kind for o in loaded.objects]
    if len(found) != 1:
        raise ResolutionError(
            f"{label} holds {len(found)} documents ({', '.join(found) or 'none'})",
            f"a resolved file must hold exactly one {want}",
        )
    doc = loaded.documents[0] if loaded.documents else None
    if doc is None or doc.obj.kind != want:
        raise ResolutionError(f"{label} holds a {found[0]}, but the ref needs a {want}")
    problems = validate_object(doc.obj, where=doc.source) + local_support_problems(doc.obj, where=doc.source)
    if problems:
        raise problems[0]
    assert isinstance(doc.obj, Task | Pipeline | StepAction)
    return doc.obj


class Resolution:
    def __init__(self, catalog: Catalog) -> None:
        self.base = catalog
        self.catalog: Catalog | None = None  # a copy, made on the first resolution

    def get(
        self, ref: Ref, key: str, values: Mapping[str, str], want: Kind, *, reason: str, where: str
    ) -> Resolved:
        current = self.catalog or self.base
        kept = current.resolved.get(key)  # a re-run: what the original run resolved
        if kept is None:
            try:
                kept = self._fetch(ref.resolver or "", values, want, current)
            except ResolutionError as exc:
                raise RunRejected(
                    reason,
                    f'remote resolution ("{ref.resolver}" resolver) failed: {exc.message}',
                    location=Location(field=where),
                    hint=exc.hint,
                ) from None
            except InvalidInput as exc:  # a problem inside the resolved file (its file:line)
                raise RunRejected(
                    reason,
                    f'{where}: the {want} the "{ref.resolver}" resolver returned is invalid: {exc.message}',
                    location=exc.location,
                    hint=exc.hint,
                ) from None
            if self.catalog is None:
                self.catalog = replace(
                    self.base, resolved=dict(self.base.resolved), step_actions=dict(self.base.step_actions)
                )
            self.catalog.resolved[key] = kept
            if isinstance(kept, StepAction):
                self.catalog.step_actions[key] = kept.spec
        if kept.kind != want:
            raise RunRejected(
                reason, f"the resolved object is a {kept.kind}, not a {want}", location=Location(field=where)
            )
        return kept

    def _fetch(self, resolver: str, values: Mapping[str, str], want: Kind, catalog: Catalog) -> Resolved:
        if resolver == "cluster":
            found = find_object(values, catalog)
            if found.kind != want:
                raise ResolutionError(
                    f"kind {values.get('kind', 'task')!r} names a {found.kind}, the ref needs a {want}",
                    f"set kind to {next(k for k, v in KINDS.items() if v == want)}",
                )
            return found
        if resolver != "git":  # hub, bundles, http (refused at load time too) and unknown resolvers
            raise ResolutionError(
                "it needs the network and a cluster's resolvers", "use the git or cluster resolver"
            )
        file = read_git_file(values)
        obj = _parse(file.text, file.label, want)
        source = f"git {file.url} {file.path} at {file.revision} (commit {file.commit})"
        log.info("resolved %s %s from %s", want, obj.metadata.name, source)
        meta = obj.metadata.model_copy(
            update={"annotations": {**obj.metadata.annotations, RESOLVED_FROM_ANNOTATION: source}}
        )
        return obj.model_copy(update={"metadata": meta})

    def ref(self, ref: Ref, want: Kind, reason: str, where: str, replacements: Replacements) -> Resolved:
        """A taskRef/pipelineRef: keyed by its params as written, resolved with them substituted."""
        try:
            values = _values(substitute_model(ref, replacements).params)
        except ResolutionError as exc:
            raise RunRejected(reason, exc.message, location=Location(field=where), hint=exc.hint) from None
        return self.get(
            ref, ref_key(ref.resolver or "", ref.params), values, want, reason=reason, where=where
        )

    def steps(self, spec: TaskSpec | None, params: Mapping[str, ParamValue], reason: str, where: str) -> None:
        if spec is None or not has_resolver_steps(spec):
            return
        replacements = param_replacements(params)
        for i, step in enumerate(spec.steps):
            if step.ref is None or not step.ref.resolver:
                continue
            at = f"{where}.steps[{i}].ref"
            try:
                values = _values(substitute_model(step.ref, replacements).params)
            except ResolutionError as exc:
                raise RunRejected(reason, exc.message, location=Location(field=at), hint=exc.hint) from None
            self.get(
                step.ref,
                step_action_key(step.ref, replacements),
                values,
                "StepAction",
                reason=reason,
                where=at,
            )


def resolve_refs(run: PipelineRun | TaskRun, catalog: Catalog) -> Catalog:
    """`catalog`, or a copy holding what the run's resolver refs resolve to (RunRejected when one fails)."""
    resolution = Resolution(catalog)
    if isinstance(run, TaskRun):
        _taskrun(run, catalog, resolution)
    else:
        from retrain.engine.pipeline_refs import resolve_pipelinerun_refs  # it builds on this module

        resolve_pipelinerun_refs(run, catalog, resolution)
    return resolution.catalog or catalog


def _taskrun(run: TaskRun, catalog: Catalog, resolution: Resolution) -> None:
    ref, spec, where = run.spec.task_ref, run.spec.task_spec, "spec.taskSpec"
    if ref is not None and ref.resolver:
        task = resolution.ref(ref, "Task", TR_RESOLUTION_FAILED, "spec.taskRef", EMPTY)
        assert isinstance(task, Task)
        spec, where = task.spec, f'Task "{task.metadata.name}" spec'
    elif ref is not None:
        named = catalog.tasks.get(ref.name or "")
        spec, where = (named.spec if named is not None else None), f'Task "{ref.name}" spec'
    if spec is not None and has_resolver_steps(spec):
        inline = run.spec.task_spec is not None
        params = resolve_params(spec.params, run.spec.params, owner="TaskRun", propagate_undeclared=inline)
        resolution.steps(spec, params, TR_RESOLUTION_FAILED, where)
