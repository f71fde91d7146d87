"""What of a container's securityContext the local engine refuses at creation (local_support turns each into
a refusal with its field path).

The engine runs every container in an unprivileged sandbox that shares this machine's kernel and network
(engine/sandbox.py). It honours runAsUser/runAsGroup/runAsNonRoot, readOnlyRootFilesystem,
allowPrivilegeEscalation: false and capabilities.drop (engine/security_context.py). Two fields ask for more
than a container of its own: `privileged: true` (the node's devices and mount rights, e.g. a Docker daemon
or buildah) and a capability beyond a container runtime's default set (NET_ADMIN, SYS_ADMIN, ...): granted
here, it would act on this machine's network and mounts rather than on a container's. A run that asks for
either is refused, as a privileged sidecar is (sidecar_support.py): running it without the privilege would
either fail half-way or succeed without doing what it says.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from retrain.tekton.model import Sidecar, Step, StepTemplate
from retrain.tekton.problems import FieldPath

__all__ = ["CONTAINER_FIELDS", "DEFAULT_CAPABILITIES", "POD_FIELDS", "canonical", "capability_name"]
__all__ += ["security_problems"]

SecurityProblem = tuple[FieldPath, str, str, str | None]
"""(field path, feature, why not here, hint)"""

DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE",
    "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP",
)  # fmt: skip
"""What a container runtime grants a root container by default (containerd/CRI-O/Docker)."""

CONTAINER_FIELDS = frozenset(
    {
        "allowPrivilegeEscalation", "appArmorProfile", "capabilities", "privileged", "procMount",
        "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot", "runAsUser", "seLinuxOptions",
        "seccompProfile", "windowsOptions",
    }
)  # fmt: skip
"""Kubernetes' SecurityContext (a container's)."""
POD_FIELDS = frozenset(
    {
        "appArmorProfile", "fsGroup", "fsGroupChangePolicy", "runAsGroup", "runAsNonRoot", "runAsUser",
        "seLinuxChangePolicy", "seLinuxOptions", "seccompProfile", "supplementalGroups",
        "supplementalGroupsPolicy", "sysctls", "windowsOptions",
    }
)  # fmt: skip
"""Kubernetes' PodSecurityContext (a podTemplate's)."""

_PRIVILEGED_WHY = (
    "it needs the node's full privileges (devices, mounts, a container runtime such as a Docker daemon), "
    "which an unprivileged local sandbox cannot give"
)


def capability_name(value: Any) -> str:
    """`NET_ADMIN` and `CAP_NET_ADMIN` name the same capability (container runtimes accept both)."""
    name = str(value).strip().upper()
    return name[4:] if name.startswith("CAP_") else name


def canonical(context: Mapping[str, Any] | None, known: frozenset[str]) -> dict[str, Any]:
    """The context with each key spelled as Kubernetes spells it: Go's decoder (Tekton's webhook) pairs a
    key with a field case-insensitively (`RunAsUser` is runAsUser). Unknown keys are kept as they are."""
    by_lower = {k.lower(): k for k in known}
    return {(k if k in known else by_lower.get(k.lower(), k)): v for k, v in (context or {}).items()}


def security_problems(prefix: FieldPath, c: Step | StepTemplate | Sidecar) -> Iterator[SecurityProblem]:
    """The securityContext fields of one container that the local sandbox cannot grant, or that no
    container has (Tekton's webhook rejects unknown fields; a typo would otherwise be dropped)."""
    if not c.security_context:
        return
    at = (*prefix, "securityContext")
    for key in c.security_context:
        if key.lower() not in {k.lower() for k in CONTAINER_FIELDS}:
            close = difflib.get_close_matches(key, sorted(CONTAINER_FIELDS), n=1)
            yield (
                (*at, key),
                f"the securityContext field {key!r}",
                "a container's SecurityContext has no such field (Tekton's webhook rejects it)",
                f'did you mean "{close[0]}"?' if close else f"known: {', '.join(sorted(CONTAINER_FIELDS))}",
            )
    context = canonical(c.security_context, CONTAINER_FIELDS)
    if context.get("privileged") is True and not isinstance(c, Sidecar):  # sidecars: sidecar_support
        what = "the stepTemplate" if isinstance(c, StepTemplate) else f"step {c.name or 'unnamed'!r}"
        yield (
            (*at, "privileged"),
            f"a privileged container ({what})",
            _PRIVILEGED_WHY,
            "remove privileged: true if the step does not need it, or run the Task on a cluster",
        )
    capabilities = context.get("capabilities")
    added = capabilities.get("add") if isinstance(capabilities, dict) else None
    for j, cap in enumerate(added or []):
        if capability_name(cap) not in DEFAULT_CAPABILITIES:
            yield (
                (*at, "capabilities", "add", j),
                f"the capability {capability_name(cap)}",
                "the local sandbox shares this machine's kernel and network, so the capability would act on "
                f"this machine rather than on a container; only a container's default set "
                f"({', '.join(DEFAULT_CAPABILITIES)}) is available",
                "drop it from capabilities.add, or run the Task on a cluster",
            )
