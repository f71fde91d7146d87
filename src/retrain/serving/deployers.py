"""Deployers: change which version serves (in the registry, atomically) and tell the serving target.

A `Deployer` is the seam between the `deploy`/`rollback` verbs and a serving target. `LocalDeployer` serves
through the local inference server (`retrain serve`): it promotes or rolls back in the registry, then asks
the server to load the new serving version now through its reload hook
(`POST /v2/repository/models/NAME/load`). The server also follows the registry on its own, so a server that
is not running (or not reachable) is a warning, never a failure: the registry change stands and a server
started later serves that version. Checking the live endpoint is `retrain verify`'s job.

The one failure after a promotion is a server that answers and refuses the version (its load fails: the
bytes do not load, predict raises, ...). Deploy then undoes its promotion, so the registry never names a
version that the running server cannot serve (a restart would leave the model unserved).

`--target kserve` is `retrain.cluster.kserve.KServeDeployer`; `retrain.app.deploy.deployer_for` chooses
between them (this package never imports the cluster support).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from retrain.errors import Conflict
from retrain.registry import Promotion, Registry
from retrain.registry.layout import SERVING

Outcome = Literal[
    "serving",
    "not-told",
    "unreachable",
    "refused",
    "unknown-model",
    "other-version",
    "no-answer",
    "unexpected",
]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class NotifyPolicy:
    """How hard to try the reload hook: connection failures are retried `attempts` times with backoff."""

    attempts: int = 3
    backoff_s: float = 0.25  # doubled after each failed attempt
    request_timeout_s: float = 60.0  # the hook answers after the load, which can take a while


@dataclass(frozen=True)
class Notice:
    """What the serving target said when told about a change."""

    outcome: Outcome
    endpoint: str | None
    detail: str
    served_version: int | None = None


@dataclass(frozen=True)
class DeployResult:
    """The outcome of `deploy` or `rollback`: the registry change and what the serving target said."""

    action: Literal["deploy", "rollback"]
    model: str
    version: int  # the version the registry serves after this action
    replaced: int | None  # the version that served before
    previous: int | None  # the registry's `previous` alias afterwards
    changed: bool
    target: str
    notice: Notice
    ok: bool = True
    messages: tuple[str, ...] = ()  # what happened, one line each
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "replaced": self.replaced,
            "previous": self.previous,
            "changed": self.changed,
            "target": self.target,
            "ok": self.ok,
            "endpoint": self.notice.endpoint,
            "server": self.notice.outcome,
            "served_version": self.notice.served_version,
            "messages": list(self.messages),
            "warnings": list(self.warnings),
        }


class Deployer(Protocol):
    """A serving target. Both calls change the registry atomically first, then tell the target."""

    @property
    def target(self) -> str: ...

    def deploy(self, model: str, version: int, *, reason: str = "", run: str | None = None) -> DeployResult:
        """Serve `version`; the version serving until now becomes `previous`."""
        ...

    def rollback(self, model: str, *, reason: str = "", run: str | None = None) -> DeployResult:
        """Serve `previous` again (Conflict when there is none)."""
        ...


def notify_local_server(
    url: str,
    model: str,
    expected: int,
    policy: NotifyPolicy = NotifyPolicy(),
    *,
    sleep: Sleep = time.sleep,
    token: str | None = None,
) -> Notice:
    """Ask the retrain server at `url` to load `model`'s serving version now, and say what it answered."""
    import httpx

    hook = f"{url.rstrip('/')}/v2/repository/models/{model}/load"
    failures: list[str] = []
    for attempt in range(max(1, policy.attempts)):
        if attempt:
            sleep(policy.backoff_s * 2 ** (attempt - 1))  # a server that is just starting gets a moment
        try:
            # The hook is a mutating endpoint: a server with an API token refuses it without the token.
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = httpx.post(hook, timeout=policy.request_timeout_s, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            failures.append(f"{type(err).__name__}: {err}")
            continue
        except httpx.TimeoutException:
            return Notice(
                "no-answer",
                url,
                f"the server at {url} did not answer the reload of {model} within "
                f"{policy.request_timeout_s:g} s; it may still be loading version {expected}",
            )
        except httpx.HTTPError as err:
            failures.append(f"{type(err).__name__}: {err}")
            continue
        notice = _answer(url, model, expected, response)
        if notice is not None:
            return notice
        failures.append(f"HTTP {response.status_code}: {_short(response.text)}")
    return Notice(
        "unreachable",
        url,
        f"no inference server answered at {url} ({failures[-1] if failures else 'no attempt'}; "
        f"{len(failures)} attempt(s))",
    )


def _answer(url: str, model: str, expected: int, response: Any) -> Notice | None:
    """The notice for one answer of the hook; None for an answer worth another try (a 5xx not from us)."""
    status, body, text = response.status_code, _json(response), response.text
    served = _int(body.get("model_version"))
    if status == 200:
        if served == expected:
            return Notice("serving", url, f"the server at {url} serves version {expected} now", served)
        return Notice(
            "other-version",
            url,
            f"the server at {url} loaded version {served}, not {expected} "
            "(did another deploy or rollback of this model run at the same time?)",
            served,
        )
    if status == 503 and "error" in body:  # our server: the version was loaded and refused
        return Notice("refused", url, str(body["error"]), served)
    if status == 404:
        return Notice(
            "unknown-model",
            url,
            f"the server at {url} does not serve {model!r} ({body.get('error') or _short(text)}); "
            "is it serving another registry directory?",
        )
    if status >= 500:
        return None
    return Notice(
        "unexpected",
        url,
        f"the server at {url} answered the reload hook with HTTP {status}: {_short(text)} "
        "(is it a retrain inference server?)",
    )


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class LocalDeployer:
    """Deploys through the registry and the local retrain inference server at `serving_url` (may be empty)."""

    registry: Registry
    serving_url: str = ""
    inference_service: str = ""  # KServe's name; the local server names models by their registry name
    policy: NotifyPolicy = field(default_factory=NotifyPolicy)
    sleep: Sleep = time.sleep
    token: str | None = field(default=None, repr=False)  # the server's API token, for its reload hook

    @property
    def target(self) -> str:
        return "local"

    def deploy(self, model: str, version: int, *, reason: str = "", run: str | None = None) -> DeployResult:
        why = reason or (f"deploy by run {run}" if run else "deploy")
        promotion = self.registry.promote(model, version, reason=why, run=run)
        replaced = promotion.event.previous if promotion.event is not None else version
        result = self._told("deploy", promotion, replaced)
        if result.notice.outcome != "refused":
            return result
        return self._undo(result, promotion, run)

    def rollback(self, model: str, *, reason: str = "", run: str | None = None) -> DeployResult:
        promotion = self.registry.rollback(model, reason=reason or "rollback", run=run)
        replaced = promotion.event.previous if promotion.event is not None else None
        result = self._told("rollback", promotion, replaced)
        if result.notice.outcome == "refused":
            return replace(
                result,
                ok=False,
                messages=(
                    *result.messages,
                    f"the registry serves version {promotion.serving} again, but the server cannot load it: "
                    f"{result.notice.detail}",
                ),
            )
        return result

    # -- internals -----------------------------------------------------------------------------------------

    def _told(
        self, action: Literal["deploy", "rollback"], promotion: Promotion, replaced: int | None
    ) -> DeployResult:
        model, version = promotion.model, promotion.serving
        if promotion.changed:
            was = f"was {replaced}" if replaced is not None else "nothing served before"
            done = f"{model}: version {version} serves in the registry at {self.registry.root} ({was})"
        else:
            done = f"{model}: version {version} already serves in the registry at {self.registry.root}"
        messages, warnings = [done], []
        if self.inference_service and self.inference_service != model:
            messages.append(
                f"the local server serves it as {model!r} (--inference-service {self.inference_service!r} "
                "names a KServe InferenceService; it matters for --target kserve)"
            )
        if not self.serving_url:
            notice = Notice(
                "not-told",
                None,
                "no --serving-url: no server was told; a running `retrain serve` follows the registry "
                "within its poll interval",
            )
        else:
            notice = notify_local_server(
                self.serving_url, model, version, self.policy, sleep=self.sleep, token=self.token
            )
        if notice.outcome == "unreachable":
            warnings.append(
                f"{notice.detail}. The registry change stands: a server started later serves version "
                f"{version}. The endpoint was not checked (run `retrain verify`)."
            )
        elif notice.outcome in ("serving", "not-told"):
            messages.append(notice.detail)
        elif notice.outcome != "refused":
            warnings.append(
                f"{notice.detail}. The registry change stands; `retrain verify` checks the endpoint."
            )
        return DeployResult(
            action,
            model,
            version,
            replaced,
            promotion.previous,
            promotion.changed,
            self.target,
            notice,
            messages=tuple(messages),
            warnings=tuple(warnings),
        )

    def _undo(self, result: DeployResult, promotion: Promotion, run: str | None) -> DeployResult:
        """The server refused the version we promoted: restore what served before, when we can."""
        model, version = promotion.model, promotion.serving
        refused = f"the server at {self.serving_url} refused version {version}: {result.notice.detail}"
        if not promotion.changed:
            return replace(result, ok=False, messages=(*result.messages, refused))
        if self.registry.aliases(model).get(SERVING) != version:
            undo = "the registry serves another version by now (someone else changed it); nothing undone"
        elif promotion.previous is None:
            undo = (
                f"no version served before, so there is nothing to restore: the registry still names "
                f"version {version}; fix or replace it (retrain models promote {model} VERSION)"
            )
        else:
            try:
                back = self.registry.rollback(model, reason=f"deploy undone: {refused}", run=run)
            except Conflict as err:
                undo = f"could not restore the previous version: {err}"
            else:
                undo = f"deploy undone: the registry serves version {back.serving} again"
                return replace(
                    result,
                    ok=False,
                    version=back.serving,
                    previous=back.previous,
                    messages=(*result.messages, refused, undo),
                )
        return replace(result, ok=False, messages=(*result.messages, refused, undo))
