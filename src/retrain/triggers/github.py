"""GitHub push events: which models a push retrains, and starting them (the signature is checked before,
by the HTTP layer, over the raw body).

A model is retrained when a push to a configured branch changes (adds, modifies or removes):
- its notebook in the repository: the model entry's `notebook`, by default `<path_prefix><model>.ipynb`;
- anything under `<path_prefix><model>/`;
- anything under one of the entry's `paths` prefixes.
`path_prefix` defaults to `notebooks/`. Changed files are read from `commits[].added/modified/removed` and
`head_commit` (GitHub lists at most 20 commits in a push event).

Each delivery is handled once: its `X-GitHub-Delivery` id is claimed in the delivery log before anything
starts, and released when nothing could start (refused by the concurrency policy, service stopping), so a
redelivery from GitHub's settings may try again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retrain.errors import InvalidInput, InvalidInputs, RetrainError
from retrain.tekton.loader import SourceMap
from retrain.tekton.problems import validation_problems
from retrain.triggers.answers import recorded
from retrain.triggers.config import RetrainConfig, known_models, training_request
from retrain.triggers.dedupe import DeliveryLog
from retrain.triggers.launcher import HookResult, Launch, LaunchFn

_DELIVERY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class Commit(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    added: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class PushEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str
    after: str = ""
    deleted: bool = False
    commits: list[Commit] = Field(default_factory=list)
    head_commit: Commit | None = None


def parse_push(payload: Any) -> PushEvent:
    if not isinstance(payload, dict):
        raise InvalidInput("the push event must be a JSON object")
    try:
        return PushEvent.model_validate(payload)
    except ValidationError as exc:
        problems = validation_problems(exc, payload, PushEvent, SourceMap("push event"))
        raise (problems[0] if len(problems) == 1 else InvalidInputs(problems)) from None


def branch_of(ref: str) -> str | None:
    """`refs/heads/main` -> `main`; tags and other refs -> None."""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def changed_files(push: PushEvent) -> set[str]:
    commits = [*push.commits, *([push.head_commit] if push.head_commit else [])]
    return {p.lstrip("/") for c in commits for p in (*c.added, *c.modified, *c.removed)}


def models_for(changed: Iterable[str], config: RetrainConfig) -> dict[str, list[str]]:
    """model -> the changed files that retrain it (sorted), for every model something of changed."""
    prefix = config.hooks.github.path_prefix.lstrip("/")
    found: dict[str, list[str]] = {}
    for model in known_models(config):
        entry = config.model(model)
        notebook = (entry.notebook if entry and entry.notebook else f"{prefix}{model}.ipynb").lstrip("/")
        prefixes = (f"{prefix}{model}/", *(p.lstrip("/") for p in (entry.paths if entry else [])))
        hits = sorted(p for p in changed if p == notebook or p.startswith(prefixes))
        if hits:
            found[model] = hits
    return found


class GitHubHook:
    def __init__(
        self,
        config: RetrainConfig,
        launch: LaunchFn,
        deliveries: DeliveryLog,
        *,
        serving_url: Callable[[], str],
    ) -> None:
        self.config = config
        self.settings = config.hooks.github
        self._launch = launch
        self._deliveries = deliveries
        self._serving_url = serving_url

    async def handle(self, event: str, delivery: str, payload: Any) -> HookResult:
        """Handle the delivery and record the answer it gets (`retrain.app.hook_answers`)."""
        return await recorded(
            self._deliveries.path.parent, "github", f"{event[:40]} {delivery[:80]}",
            self._handle(event, delivery, payload),
        )  # fmt: skip

    async def _handle(self, event: str, delivery: str, payload: Any) -> HookResult:
        if event == "ping":
            return HookResult(
                (),
                "pong: the webhook reaches retrain (push events on "
                f"{', '.join(self.settings.branches)} retrain models)",
            )
        if event != "push":
            return HookResult((), f"GitHub event {event[:60]!r} is not handled (only push and ping)")
        if not _DELIVERY.match(delivery):
            raise InvalidInput(
                "the delivery has no usable X-GitHub-Delivery header (an id of letters, digits and '-')",
                hint="send GitHub's headers; the id makes each delivery count once",
            )
        push = parse_push(payload)
        key = f"github:{delivery}"
        if not self._deliveries.claim(key):
            return HookResult((), f"delivery {delivery} was already handled ({self._deliveries.seen(key)})")
        try:
            result = await self._act(delivery, push)
        except RetrainError:
            self._deliveries.release(key)
            raise
        if result.launches and all(x.outcome == "refused" for x in result.launches):
            self._deliveries.release(key)  # nothing started: a redelivery may try again
        else:
            self._deliveries.record(key, result.reason)
        return result

    async def _act(self, delivery: str, push: PushEvent) -> HookResult:
        branch = branch_of(push.ref)
        if branch is None or branch not in self.settings.branches:
            return HookResult(
                (), f"push to {push.ref!r} ignored: only branches {', '.join(self.settings.branches)} retrain"
            )
        if push.deleted:
            return HookResult((), f"branch {branch} was deleted: nothing to train")
        models = models_for(changed_files(push), self.config)
        if not models:
            return HookResult(
                (), f"push to {branch} changed no watched notebook (under {self.settings.path_prefix!r})"
            )
        labels = {"retrain.dev/github-delivery": delivery} if len(delivery) <= 63 else {}  # a label value
        if _SHA.match(push.after):
            labels["retrain.dev/git-commit"] = push.after
        launches: list[Launch] = []
        notes: list[str] = []
        for model, paths in models.items():
            req = training_request(
                self.config,
                model,
                "git-push",
                serving_url=self._serving_url(),
                labels=labels,
                policy=self.settings.concurrency_policy,
            )
            launch = await self._launch(req)
            launches.append(launch)
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            notes.append(f"{model} ({shown}): {launch.outcome} {launch.run or ''} - {launch.reason}")
        return HookResult(tuple(launches), f"push to {branch}: " + "; ".join(notes))
