"""What a step without `command` or `script` runs: the image's entrypoint, for images we know.

On a cluster Tekton looks the entrypoint up in the registry (the image's ENTRYPOINT, else its CMD). Locally
nothing is pulled, so the entrypoints of common base images are written down here; a step on any other image
must say `command:` or `script:`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence

# repository (last path component, no tag/digest) -> (entrypoint, runs args as a command when it is one)
_KNOWN: dict[str, tuple[tuple[str, ...], bool]] = {
    "busybox": (("sh",), False),
    "alpine": (("/bin/sh",), False),
    "ubuntu": (("/bin/bash",), False),
    "debian": (("bash",), False),
    "bash": (("bash",), True),  # docker-entrypoint.sh: exec "$@" when $1 is a command, else bash "$@"
    "python": (("python3",), False),
    "node": (("node",), True),
}

# Tekton's own nop image (ghcr.io/tektoncd/pipeline/nop-<hash>, built by ko from cmd/nop): its whole program
# logs "Exiting..." and exits 0, or with the argument tekton_run_indefinitely waits for SIGINT/SIGTERM first.
# That is small enough to state here exactly, so a step on it runs rather than being refused.
_TEKTON_NOP = re.compile(r"(^|/)tektoncd/pipeline/(cmd/)?nop(-[0-9a-f]+)?(:[\w.-]+)?$")
_NOP_SCRIPT = (
    'if [ "${1:-}" = tekton_run_indefinitely ]; then '
    'trap \'echo "received signal" >&2; echo "Exiting..." >&2; exit 0\' INT TERM; '
    'echo "Waiting indefinitely..." >&2; while :; do sleep 1; done; fi; '
    'echo "Exiting..." >&2'
)
_KNOWN["tektoncd/pipeline nop"] = (("sh", "-c", _NOP_SCRIPT, "nop"), False)


def _known(image: str) -> tuple[tuple[str, ...], bool] | None:
    if _TEKTON_NOP.search(image.split("@", 1)[0]):
        return _KNOWN["tektoncd/pipeline nop"]
    return _KNOWN.get(repository(image))


def repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def entrypoint_argv(image: str | None, args: Sequence[str]) -> list[str] | None:
    """The argv a command-less step runs, or None when the image's entrypoint is unknown."""
    known = _known(image or "")
    if known is None:
        return None
    entrypoint, exec_commands = known
    if exec_commands and args and not args[0].startswith("-") and shutil.which(args[0]):
        return list(args)
    return [*entrypoint, *args]


def known_images() -> list[str]:
    return sorted(_KNOWN)
