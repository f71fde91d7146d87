"""Tekton's creds-init: the credentials of the run's ServiceAccount, written as Tekton writes them.

For each Secret the ServiceAccount lists, Tekton (pkg/pod/creds_init.go, pkg/credentials) looks at its type
and its `tekton.dev/git-*` / `tekton.dev/docker-*` annotations and writes, under /tekton/creds:
- kubernetes.io/ssh-auth + git annotation: `.ssh/id_<secret>` (the private key), `.ssh/config` (a Host entry
  per annotated host, with its port, IdentityFile lines) and `.ssh/known_hosts` (from the `known_hosts` key);
- kubernetes.io/basic-auth + git annotation: `.gitconfig` (credential helper store, a username per URL) and
  `.git-credentials` (https://user:pass@host per URL);
- kubernetes.io/basic-auth + docker annotation, dockercfg and dockerconfigjson: `.docker/config.json`.
Nothing is written for a credential that was not provided. Each step's HOME then gets a copy (directories
0700, files 0600), as the entrypoint's CopyCredsToHome does. Secret values are never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from retrain.errors import InvalidInput, Location
from retrain.tekton.kube import KubeObjects, Secret

__all__ = ["CREDS_TARGET", "copy_to_home", "write_credentials"]

log = logging.getLogger("retrain.engine")

CREDS_TARGET = "/tekton/creds"
_CREDS = (".docker", ".gitconfig", ".git-credentials", ".ssh")  # writer.CredsInitCredentials


def _annotated(secret: Secret, prefix: str) -> list[str]:
    """credwriter.SortAnnotations: the values of the annotations with this prefix, sorted."""
    return sorted(v for k, v in secret.annotations.items() if k.startswith(prefix))


def _text(secret: Secret, key: str, field_path: str) -> str:
    value = secret.data.get(key)
    if value is None:
        raise InvalidInput(
            f'Secret "{secret.name}" has no key "{key}", which creds-init reads for a {secret.type} '
            "credential",
            location=Location(field=field_path),
        )
    return value.decode("utf-8", errors="replace")


def _with_user(url: str, username: str, password: str) -> str:
    """Go's url.UserPassword(...) + URL.String(): user and password escaped as userinfo."""
    parts = urlsplit(url)
    userinfo = f"{quote(username, safe='$&+,;=')}:{quote(password, safe='$&+,;=')}"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment))


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(0o600)


class _Creds:
    def __init__(self) -> None:
        self.ssh: dict[str, list[tuple[str, str, str]]] = {}  # host -> [(secret, key, known_hosts)]
        self.git_basic: dict[str, tuple[str, str]] = {}  # url -> (username, password)
        self.docker: dict[str, dict[str, str]] = {}  # registry -> entry

    def add(self, secret: Secret, at: str) -> None:
        if secret.type == "kubernetes.io/ssh-auth":
            for host in _annotated(secret, "tekton.dev/git-"):
                known = secret.data.get("known_hosts", b"").decode("utf-8", errors="replace")
                key = _text(secret, "ssh-privatekey", at)
                self.ssh.setdefault(host, []).append((secret.name, key, known))
        elif secret.type == "kubernetes.io/basic-auth":
            user, password = _text(secret, "username", at), _text(secret, "password", at)
            for url in _annotated(secret, "tekton.dev/git-"):
                self._unique(url, self.git_basic, at)
                self.git_basic[url] = (user, password)
            for url in _annotated(secret, "tekton.dev/docker-"):
                self._unique(url, self.docker, at)
                auth = base64.b64encode(f"{user}:{password}".encode()).decode()
                self.docker[url] = {
                    "username": user,
                    "password": password,
                    "auth": auth,
                    "email": "not@val.id",
                }
        elif secret.type == "kubernetes.io/dockercfg":
            self.docker.update(_entries(json.loads(secret.data[".dockercfg"]), secret, at))
        elif secret.type == "kubernetes.io/dockerconfigjson":
            document = json.loads(secret.data[".dockerconfigjson"])
            auths = document.get("auths") if isinstance(document, dict) else None
            self.docker.update(_entries(auths or {}, secret, at))

    @staticmethod
    def _unique(url: str, seen: Mapping[str, Any], at: str) -> None:
        if url in seen:  # Tekton's flag parser fails the same way
            raise InvalidInput(f"multiple entries for url: {url}", location=Location(field=at))

    def write(self, root: Path) -> None:
        if self.ssh:
            ssh = root / ".ssh"
            config, known_hosts = "", []
            for host_port, entries in self.ssh.items():
                host, _, port = host_port.rpartition(":") if ":" in host_port else (host_port, "", "22")
                config += f"Host {host}\n    HostName {host}\n    Port {port or '22'}\n"
                for secret_name, key, known in entries:
                    _write(ssh / f"id_{secret_name}", key)
                    config += f"    IdentityFile {CREDS_TARGET}/.ssh/id_{secret_name}\n"
                    if known:
                        known_hosts.append(known)
            _write(ssh / "config", config)
            if known_hosts:
                _write(ssh / "known_hosts", "\n".join(known_hosts))
        if self.git_basic:
            config = "[credential]\n\thelper = store\n"
            for url, (user, _password) in self.git_basic.items():
                config += f'[credential "{url}"]\n\tusername = {user.replace(chr(92), chr(92) * 2)}\n'
            _write(root / ".gitconfig", config)
            lines = [_with_user(url, u, p) for url, (u, p) in self.git_basic.items()]
            _write(root / ".git-credentials", "\n".join([*lines, ""]))
        if self.docker:
            _write(
                root / ".docker" / "config.json", json.dumps({"auths": self.docker}, separators=(",", ":"))
            )


def _entries(auths: Any, secret: Secret, at: str) -> dict[str, dict[str, str]]:
    if not isinstance(auths, dict):
        raise InvalidInput(
            f'Secret "{secret.name}" holds no docker auths mapping', location=Location(field=at)
        )
    out: dict[str, dict[str, str]] = {}
    for registry, given in auths.items():
        entry = given if isinstance(given, dict) else {}
        kept = {k: str(entry[k]) for k in ("username", "password") if entry.get(k)}
        kept["auth"] = str(entry.get("auth", ""))
        if entry.get("email"):
            kept["email"] = str(entry["email"])
        out[str(registry)] = kept
    return out


def write_credentials(
    service_account: str | None, objects: KubeObjects, creds_dir: Path, *, field_path: str
) -> bool:
    """Write the ServiceAccount's credentials into `creds_dir` (made 0700); True when any was written."""
    if not service_account:
        return False
    account = objects.service_account(service_account)
    if account is None:
        if service_account != "default" and objects:
            log.warning(
                'ServiceAccount "%s" is not among the loaded objects: the steps get no credentials from it '
                "(pass it with -f to have its Secrets written as Tekton's creds-init writes them)",
                service_account,
            )
        return False
    creds = _Creds()
    for i, name in enumerate(account.secrets):
        at = f'ServiceAccount "{account.name}" secrets[{i}]'
        secret = objects.secret(name, field_path=at)
        if secret is not None:
            creds.add(secret, at)
    creds_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    creds.write(creds_dir)
    return any((creds_dir / c).exists() for c in _CREDS)


def copy_to_home(creds_dir: Path, home: Path) -> None:
    """The entrypoint's CopyCredsToHome: each credential that exists, recursively (dirs 0700, files 0600)."""
    for cred in _CREDS:
        source = creds_dir / cred
        if source.is_dir():
            shutil.copytree(source, home / cred, dirs_exist_ok=True, copy_function=_copy_private)
            for path in [home / cred, *(home / cred).rglob("*")]:
                if path.is_dir():
                    path.chmod(0o700)
        elif source.is_file():
            _copy_private(str(source), str(home / cred))


def _copy_private(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)
    Path(dst).chmod(0o600)
