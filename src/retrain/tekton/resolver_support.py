"""Which resolver refs the local engine refuses when the files are loaded (tekton/local_support.py).

Locally only two resolvers work (engine/resolvers.py): `git` with a repository on this machine (an
absolute path or a file:// url) and `cluster` (the objects given with -f and the built-in catalog). A git
url that needs the network, the git resolver's SCM API mode (`repo`/`org`), and the `hub`, `bundles` and
`http` resolvers (and any other) need the network or a cluster: refused here, with the field's path, so
nothing starts. A param written as `$(params.x)` is checked when the run is created, once substituted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrain.tekton.model import Ref
from retrain.tekton.problems import FieldPath

__all__ = ["LOCAL_RESOLVERS", "network_url_reason", "resolver_problems"]

LOCAL_RESOLVERS = ("git", "cluster")
_NETWORK_URL = re.compile(r"^([^@/]+@[^:/]+:|(git|ssh|ftps?|https?)://)")  # Tekton's validateRepoURL forms
_HINT = "pass the YAML with another -f FILE and refer to it by name, or use git with a local repository"

Problem = tuple[FieldPath, str, str, str | None]


def network_url_reason(url: str) -> str | None:
    """Why a git `url` cannot be resolved on this machine, when it needs the network."""
    if _NETWORK_URL.match(url):
        return f"url {url!r} needs the network (Tekton clones it); locally only a repository on this machine"
    return None


def resolver_problems(path: FieldPath, ref: Ref, what: str) -> Iterator[Problem]:
    """`ref` (at `path`, the ref's field) when its resolver cannot run here; `what` is "a Task", ..."""
    resolver = ref.resolver or ""
    feature = f'remote resolution ("{resolver}" resolver) of {what}'
    if resolver not in LOCAL_RESOLVERS:
        why = "it needs the network (locally: git with a repository on this machine, and cluster)"
        yield (*path, "resolver"), feature, why, _HINT
        return
    if resolver != "git":
        return
    for i, param in enumerate(ref.params):
        value = param.value if isinstance(param.value, str) else ""
        if param.name == "url" and "$(" not in value:
            network = network_url_reason(value)
            if network:
                yield (*path, "params", i), feature, network, "clone it, then give its path or a file:// url"
        elif param.name in ("repo", "org"):
            why = "the SCM API mode (repo and org) needs the network and an API token"
            yield (*path, "params", i), feature, why, "clone the repository and give its path as url"
