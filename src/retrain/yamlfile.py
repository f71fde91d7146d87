"""Reading one YAML file for a settings section: its data and its node tree (for file:line errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrain.errors import InvalidInput, Location


def read_yaml(path: Path, *, what: str, hint: str) -> tuple[Any, Any]:
    """(data, root node) of `path`; InvalidInput naming `what` ("thresholds file", ...) when unreadable or
    malformed, with the line of the YAML problem."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(
            f"cannot read the {what}: {err.strerror or err}", location=Location(file=str(path)), hint=hint
        ) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InvalidInput(
            f"the {what} is not valid YAML: {getattr(err, 'problem', None) or err}",
            location=Location(file=str(path), line=mark.line + 1 if mark else None),
        ) from None
    return data, node
