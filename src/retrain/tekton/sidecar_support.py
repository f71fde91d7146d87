"""What of a sidecar the local engine cannot honour (local_support turns each into a refusal at creation).

The engine runs a sidecar as a process beside the steps (engine/sidecars.py) with its startup and readiness
probes (exec, tcpSocket, httpGet). It cannot restart a container (livenessProbe, restartPolicy), run
lifecycle hooks, attach a terminal, grant privileges, or run a program that only the sidecar's image has:
a script that runs `/usr/sbin/sshd` where this machine has none would leave the steps waiting for a server
that never comes, so it is refused up front, naming the program.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from retrain.tekton.model import Sidecar
from retrain.tekton.problems import FieldPath

__all__ = ["SidecarProblem", "sidecar_problems"]

SidecarProblem = tuple[FieldPath, str, str, str | None]
"""(field path, feature, why not here, hint)"""

_NOT_YET = "the local engine does not implement it yet"
# A command word that is an absolute path into the system's program directories: at the start of a line, or
# after ; & | ( ! or a shell keyword that starts a command.
_COMMAND = re.compile(
    r"(?:^|[;&|(!]|\b(?:then|do|else|elif|exec|time)\s)\s*(/(?:usr/(?:local/)?)?s?bin/[\w.+-]+)"
)


def foreign_programs(script: str) -> list[tuple[int, str]]:
    """(line number, path) of each absolute program path the script runs that this machine does not have."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(script.splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue  # comments and the shebang: `#!/usr/bin/env ash` names an interpreter, handled apart
        for match in _COMMAND.finditer(text):
            path = match.group(1)
            if not Path(path).exists() and (number, path) not in found:
                found.append((number, path))
    return found


def _probes(prefix: FieldPath, sidecar: Sidecar) -> Iterator[SidecarProblem]:
    for key, probe in (("startupProbe", sidecar.startup_probe), ("readinessProbe", sidecar.readiness_probe)):
        if isinstance(probe, dict) and probe.get("grpc") is not None:
            yield (
                (*prefix, key, "grpc"),
                "grpc probes",
                _NOT_YET,
                "use an exec, tcpSocket or httpGet probe",
            )


def sidecar_problems(prefix: FieldPath, sidecar: Sidecar) -> Iterator[SidecarProblem]:
    """Every field of one sidecar that the local engine would not honour."""
    name = sidecar.name or "unnamed"
    if sidecar.liveness_probe is not None:
        yield (
            (*prefix, "livenessProbe"),
            "a sidecar's livenessProbe",
            f"the engine does not restart a container whose liveness probe fails; {_NOT_YET}",
            "use a readinessProbe or startupProbe",
        )
    if sidecar.lifecycle is not None:
        yield ((*prefix, "lifecycle"), "container lifecycle hooks (postStart/preStop)", _NOT_YET, None)
    if sidecar.restart_policy not in (None, "Never"):
        yield (
            (*prefix, "restartPolicy"),
            f"restartPolicy {sidecar.restart_policy!r}",
            f"a sidecar that exits is not restarted; {_NOT_YET}",
            None,
        )
    for key in ("stdin", "stdinOnce", "tty"):
        if getattr(sidecar, {"stdinOnce": "stdin_once"}.get(key, key)):
            yield (
                (*prefix, key),
                f"{key} (an attached terminal)",
                "nothing attaches to a local sidecar",
                None,
            )
    context = sidecar.security_context or {}
    if context.get("privileged") is True:
        yield (
            (*prefix, "securityContext", "privileged"),
            f"a privileged container (sidecar {name!r})",
            "it needs the node's full privileges (devices, mounts, a container runtime such as a Docker "
            "daemon), which an unprivileged local sandbox cannot give",
            "run it on a cluster",
        )
    yield from _probes(prefix, sidecar)
    if sidecar.script is not None:
        for number, path in foreign_programs(sidecar.script):
            yield (
                (*prefix, "script"),
                f"sidecar {name!r} as written",
                f"its script runs {path} (script line {number}), which this machine does not have: a "
                f"program only the image {sidecar.image!r} provides, and images are never pulled here",
                "run it on a cluster, or install the program on this machine",
            )
