"""The `git` resolver, locally: a file of a local repository at a revision, read with the `git` binary.

Tekton's git resolver (pkg/resolution/resolver/git, docs/git-resolver.md) takes `url` (clone mode) or
`repo` + `org` (SCM API mode), `revision` (branch, tag or commit; the config's `default-revision`, "main")
and `pathInRepo` (leading slashes stripped, `..` refused). Tekton clones `url`; here `url` must name a
repository on this machine (an absolute path or a `file://` url) and the file is read with
`git cat-file blob <commit>:<path>`: no checkout, no network. A network url (https, ssh, git@host:...)
and the SCM API mode need the network and are refused with that reason.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from retrain.engine.resolver_keys import ResolutionError
from retrain.tekton.resolver_support import network_url_reason

__all__ = ["GitFile", "read_git_file"]

DEFAULT_REVISION = "main"  # config/resolvers/git-resolver-config.yaml default-revision
_TIMEOUT_S = 60  # Tekton's fetch-timeout


@dataclass(frozen=True)
class GitFile:
    text: str
    url: str
    revision: str
    commit: str
    path: str

    @property
    def label(self) -> str:
        """Where errors inside the file point: `<url>/<path>@<revision>` (then `:line`)."""
        return f"{self.url.rstrip('/')}/{self.path}@{self.revision}"


def _repository(url: str) -> Path:
    why = network_url_reason(url)
    if why:
        raise ResolutionError(why, "clone it first and give its path or a file:// url as url")
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise ResolutionError(f"url {url!r} names another host ({parsed.netloc})", "use file:///PATH")
        path = Path(unquote(parsed.path))
    elif url.startswith("/"):
        path = Path(url)
    else:
        raise ResolutionError(
            f"url {url!r} is neither an absolute path nor a file:// url",
            "give the repository's absolute path, e.g. /home/me/tasks or file:///home/me/tasks",
        )
    if not path.is_dir():
        raise ResolutionError(f"url {url!r}: no such directory {path}")
    return path


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise ResolutionError(
            "the git binary is not installed", "install git (Debian: apt install git)"
        ) from None


def _refs(repo: Path) -> list[str]:
    done = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags")
    return done.stdout.split() if done.returncode == 0 else []


def _commit(repo: Path, url: str, revision: str) -> str:
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise ResolutionError(f"url {url!r}: {repo} is not a git repository")
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if done.returncode != 0:
        known = _refs(repo)
        close = difflib.get_close_matches(revision, known, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"branches and tags: {', '.join(known) or 'none'}"
        raise ResolutionError(f"revision {revision!r} not found in {url}", hint)
    return done.stdout.strip()


def read_git_file(params: Mapping[str, str]) -> GitFile:
    """The file `pathInRepo` of `url` at `revision` (Tekton's PopulateDefaultParams rules first)."""
    if params.get("repo") or params.get("org"):
        raise ResolutionError(
            "the SCM API mode (repo and org) needs the network and an API token",
            "clone the repository and give its path as url instead of repo/org",
        )
    if "pathInRepo" not in params:
        raise ResolutionError("missing required git resolver params: pathInRepo")
    url = params.get("url", "")
    if not url:
        raise ResolutionError(
            "must specify one of 'url' or 'repo' (Tekton's default-url, "
            "https://github.com/tektoncd/catalog.git, needs the network)",
            "give url: the repository's absolute path or file:// url",
        )
    revision = params.get("revision", DEFAULT_REVISION)
    if revision.startswith("-") or not revision:
        raise ResolutionError(f"invalid revision {revision!r}: must not be empty or begin with '-'")
    path = params["pathInRepo"].lstrip("/")
    if ".." in path.split("/"):
        raise ResolutionError(f"invalid path {path!r}: must not contain '..' components")
    repo = _repository(url)
    commit = _commit(repo, url, revision)
    kind = _git(repo, "cat-file", "-t", f"{commit}:{path}").stdout.strip()
    done = _git(repo, "cat-file", "blob", f"{commit}:{path}") if kind == "blob" else None
    if done is None or done.returncode != 0:
        files = _git(repo, "ls-tree", "-r", "--name-only", commit).stdout.split()
        close = difflib.get_close_matches(path, files, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"files there: {', '.join(files[:10]) or 'none'}"
        raise ResolutionError(
            f"no file {path!r} in {url} at revision {revision!r} (commit {commit[:12]})", hint
        )
    return GitFile(text=done.stdout, url=url, revision=revision, commit=commit, path=path)
