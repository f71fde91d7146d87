"""Preflight for `-p NAME=VALUE` and `-w NAME=DIR`: each names something the run declares.

Tekton itself lets a PipelineRun carry params the Pipeline does not declare (they are ignored); on the
command line that is almost always a typo, and a silently ignored `-w` would run against an empty directory.
So both are errors here, before anything is recorded, with the declared names and a "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from retrain.errors import InvalidInput, InvalidInputs, Location


def check_names(given: Iterable[str], declared: Iterable[str], *, flag: str, what: str, owner: str) -> None:
    """InvalidInput (one per unknown name) when a `flag NAME=...` names nothing `owner` declares."""
    _raise(unknown_names(given, declared, flag=flag, what=what, owner=owner))


def unknown_names(
    given: Iterable[str], declared: Iterable[str], *, flag: str, what: str, owner: str
) -> list[InvalidInput]:
    known = sorted(set(declared))
    problems = []
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f'did you mean "{close[0]}"?' if close else None
        listed = ", ".join(known) if known else "none"
        problems.append(
            InvalidInput(
                f"no {what} {name!r} is declared by {owner} (declared: {listed})",
                location=Location(field=f"{flag} {name}"),
                hint=hint or f"use one of the declared {what}s",
            )
        )
    return problems


def _raise(problems: list[InvalidInput]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInputs(problems)


def check_bindings(
    params: Mapping[str, object],
    workspaces: Mapping[str, object],
    *,
    declared_params: Iterable[str],
    declared_workspaces: Iterable[str],
    owner: str,
) -> None:
    """`-p` and `-w` both name what `owner` (e.g. 'Pipeline "x"') declares."""
    _raise(
        unknown_names(params, declared_params, flag="-p", what="param", owner=owner)
        + unknown_names(workspaces, declared_workspaces, flag="-w", what="workspace", owner=owner)
    )
