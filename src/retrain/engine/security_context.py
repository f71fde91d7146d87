"""Which user, group and privileges a container (step, sidecar, probe) gets: Kubernetes' securityContext.

Pure but for `identities_for_try`, the try's hook (a warning, the sandbox's one-off trial). The kubelet's
rules (securitycontext.DetermineEffectiveSecurityContext): runAsUser, runAsGroup, runAsNonRoot,
seccompProfile, seLinuxOptions and appArmorProfile of the container win over the pod's
(`podTemplate.securityContext`); capabilities, privileged, readOnlyRootFilesystem, allowPrivilegeEscalation
and procMount are the container's own. A step's context is the stepTemplate's merged with its own, field by
field (Tekton merges the two containers with a strategic merge patch: `merge_contexts`).

Images are never pulled, so the image's USER is unknown: without runAsUser a container runs as the invoking
user, and runAsNonRoot holds exactly when that user is not root. runAsUser without runAsGroup gets the
primary group of that uid in the /etc/passwd the sandbox shows (the host's), else 0, as containerd and CRI-O
do with the image's /etc/passwd. The kubelet's runAsNonRoot check (verifyRunAsNonRoot) fails the pod with its
own message before any container starts (Tekton: CreateContainerConfigError).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrain.engine.sandbox import Sandbox, user_mapping_problem
from retrain.errors import InvalidInput, Location
from retrain.tekton.model import Sidecar, Step
from retrain.tekton.security_support import CONTAINER_FIELDS, POD_FIELDS, canonical, capability_name
from retrain.tekton.substitution import Replacements, substitute_model

__all__ = [
    "RunAs",
    "container_run_as",
    "identities_for_try",
    "merge_contexts",
    "not_honoured",
    "sidecar_run_as",
]

logger = logging.getLogger("retrain.engine")

_CONTAINER_WINS = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions", "appArmorProfile"}
)  # and windowsOptions, which a Linux node ignores
_MAX_ID = 2**31 - 1  # Kubernetes' IsValidUserID / IsValidGroupID


@dataclass(frozen=True)
class RunAs:
    """What the sandbox must give one container; the default (all None/False) changes nothing."""

    uid: int | None = None
    """The user id inside the sandbox; None: the invoking user's."""
    gid: int | None = None
    drop: frozenset[str] = frozenset()
    """capabilities.drop, names without CAP_; "ALL" drops every one."""
    read_only_root: bool = False


def merge_contexts(template: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The stepTemplate's securityContext patched by the step's: objects merge key by key, lists replace."""
    merged = dict(template)
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = merge_contexts(base, value)
        else:
            merged[key] = value
    return merged


def _effective(own: Mapping[str, Any] | None, pod: Mapping[str, Any] | None) -> dict[str, Any]:
    context = {k: v for k, v in (pod or {}).items() if k in _CONTAINER_WINS and v is not None}
    context.update((k, v) for k, v in (own or {}).items() if v is not None)
    return context


def _id(value: Any, field: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # after $(params.x) substitution
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        raise InvalidInput(
            f"{field} must be a user or group id from 0 to {_MAX_ID}, not {value!r}",
            location=Location(field=field),
        )
    return value


def _primary_group(uid: int) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return 0


def _source(key: str, own: Mapping[str, Any] | None, at: str) -> str:
    """The field path a value of the effective context came from: the container's, else the pod's."""
    return f"{at}.securityContext.{key}" if own and key in own else f"podTemplate.securityContext.{key}"


def container_run_as(
    container: str,
    own: Mapping[str, Any] | None,
    pod: Mapping[str, Any] | None,
    *,
    at: str,
    pod_name: str,
    invoking_uid: int,
) -> RunAs | None:
    """The identity of one container (`container`: step-x, sidecar-y); None when nothing is asked of it.

    InvalidInput (the kubelet's message, with the field at fault) when runAsNonRoot fails."""
    if not own and not pod:
        return None
    own, pod = canonical(own, CONTAINER_FIELDS), canonical(pod, POD_FIELDS)
    context = _effective(own, pod)
    uid = _id(context["runAsUser"], _source("runAsUser", own, at)) if "runAsUser" in context else None
    gid = _id(context["runAsGroup"], _source("runAsGroup", own, at)) if "runAsGroup" in context else None
    if gid is None and uid is not None:
        gid = _primary_group(uid)
    if context.get("runAsNonRoot") is True:
        pod_ref = f'(pod: "{pod_name}_default", container: {container})'
        where = Location(field=_source("runAsNonRoot", own, at))
        if uid == 0:
            raise InvalidInput(
                f"container's runAsUser breaks non-root policy {pod_ref}",
                location=where,
                hint="remove runAsNonRoot: true, or set runAsUser to a non-zero uid",
            )
        if uid is None and invoking_uid == 0:
            raise InvalidInput(
                f"container has runAsNonRoot and image will run as root {pod_ref}: without runAsUser a "
                "local container runs as the invoking user, root here (the image's USER is unknown: images "
                "are never pulled)",
                location=where,
                hint="set securityContext.runAsUser to a non-zero uid, or run retrain as a non-root user",
            )
    capabilities = (own or {}).get("capabilities")
    dropped = capabilities.get("drop") if isinstance(capabilities, dict) else None
    drop = frozenset(capability_name(c) for c in dropped or [])
    read_only = (own or {}).get("readOnlyRootFilesystem") is True
    if uid is None and gid is None and not drop and not read_only:
        return None
    return RunAs(uid, gid, drop, read_only)


def sidecar_run_as(
    index: int, name: str, sidecar: Sidecar, pod: Mapping[str, Any] | None, taskrun: str
) -> RunAs | None:
    """One (substituted) sidecar's identity, its exec probes' too."""
    if pod is None and not sidecar.security_context:
        return None
    return container_run_as(
        f"sidecar-{name}", sidecar.security_context, pod, at=f"sidecars[{index}]", pod_name=f"{taskrun}-pod",
        invoking_uid=os.geteuid(),
    )  # fmt: skip


# Fields neither mode honours, and why (pod-level ones first); each is named in one warning per TaskRun.
_NEVER = {
    "fsGroup": "the sandbox maps one group, so volumes are not given this group (the step's own user owns "
    "them and can write them anyway)",
    "fsGroupChangePolicy": "no volume is given an fsGroup",
    "supplementalGroups": "the sandbox maps one group: the step gets no supplementary groups",
    "supplementalGroupsPolicy": "the sandbox maps one group: the step gets no supplementary groups",
    "sysctls": "the sandbox shares this machine's kernel and network: no sysctl is set",
    "seLinuxOptions": "no SELinux label is applied",
}
_HOST_ONLY = {
    "runAsUser": "host mode cannot switch users: the step runs as the invoking user",
    "runAsGroup": "host mode cannot switch groups: the step runs with the invoking user's group",
    "readOnlyRootFilesystem": "host mode has no root filesystem of its own to make read-only",
    "capabilities.drop": "host mode keeps the invoking user's privileges",
}


def _why(key: str, value: Any, host: bool) -> str | None:
    if key in _NEVER:
        return _NEVER[key]
    if host and key in _HOST_ONLY and value not in (None, False, []):
        return _HOST_ONLY[key]
    if key == "allowPrivilegeEscalation":
        if value is True and not host:
            return "the sandbox always sets no_new_privs: setuid programs gain no privileges"
        if value is False and host:
            return "host mode does not set no_new_privs"
    if key in ("seccompProfile", "appArmorProfile"):
        kind = value.get("type") if isinstance(value, dict) else None
        return None if kind == "Unconfined" else f"the sandbox applies no {key[:-7]} profile"
    if key == "procMount" and value not in (None, "Default"):
        return "the sandbox's /proc is always the default (masked) one"
    return None


def _entries(context: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in context.items():
        if key == "capabilities" and isinstance(value, dict):
            yield from ((f"capabilities.{k}", v) for k, v in value.items())
        else:
            yield key, value


def not_honoured(
    containers: Sequence[tuple[str, Mapping[str, Any] | None]], pod: Mapping[str, Any] | None, *, host: bool
) -> list[str]:
    """`field path=value (why)` for each securityContext field this sandbox does not honour; `containers`
    are (field path prefix, securityContext) pairs, e.g. ("spec.steps[0]", {...})."""
    found: list[str] = []
    sources = [(prefix, c, CONTAINER_FIELDS) for prefix, c in containers] + [("podTemplate", pod, POD_FIELDS)]
    for prefix, context, known in sources:
        for key, value in _entries(canonical(context, known)):
            # An unknown container field is refused at creation (security_support); a pod's is named here.
            unknown = key not in known and not key.startswith("capabilities.")
            owner = "a pod's" if known is POD_FIELDS else "a container's"
            why = f"not a field of {owner} securityContext: ignored" if unknown else _why(key, value, host)
            if why is not None:
                found.append(f"{prefix}.securityContext.{key}={json.dumps(value)} ({why})")
    return found


def identities_for_try(
    steps: Sequence[Step],
    sidecars: Sequence[Sidecar],
    pod: Mapping[str, Any] | None,
    replacements: Replacements,
    *,
    taskrun: str,
    sandbox: Sandbox,
    warn: bool,
) -> list[RunAs | None]:
    """The try's hook: each step's identity (steps already merged and substituted); every sidecar is checked
    with them, as the kubelet checks a pod's containers before it starts any (sidecars.py then takes its
    own from `sidecar_run_as`). With `warn`, one warning line names what this sandbox does not honour.
    Nearly free for a Task without securityContext.

    InvalidInput (the pod's config error) for runAsNonRoot, or when bwrap cannot map a uid here."""
    if pod is None and not any(s.security_context for s in [*steps, *sidecars]):
        return [None] * len(steps)
    sidecars = [substitute_model(s, replacements) if s.security_context else s for s in sidecars]
    found = [
        container_run_as(
            f"step-{s.name or f'unnamed-{i}'}",
            s.security_context,
            pod,
            at=f"steps[{i}]",
            pod_name=f"{taskrun}-pod",
            invoking_uid=os.geteuid(),
        )
        for i, s in enumerate(steps)
    ]
    found_sidecars = [
        sidecar_run_as(i, s.name or f"unnamed-{i}", s, pod, taskrun) for i, s in enumerate(sidecars)
    ]
    if sandbox.mode == "bwrap" and any(
        r and (r.uid is not None or r.gid is not None) for r in [*found, *found_sidecars]
    ):
        why = user_mapping_problem(sandbox)
        if why is not None:
            raise InvalidInput(why, hint="allow unprivileged user namespaces, or remove runAsUser/runAsGroup")
    containers = [(f"steps[{i}]", s.security_context) for i, s in enumerate(steps)]
    containers += [(f"sidecars[{i}]", s.security_context) for i, s in enumerate(sidecars)]
    ignored = not_honoured(containers, pod, host=sandbox.mode == "host")
    if ignored and warn:
        line = "; ".join(ignored)
        logger.warning("TaskRun %s: securityContext fields not honoured here: %s", taskrun, line)
    return found
