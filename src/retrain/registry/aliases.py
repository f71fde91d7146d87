"""`aliases.json`: which version is serving, which served before it, and user-chosen names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retrain.errors import Location
from retrain.registry.atomic import write_bytes
from retrain.registry.errors import IntegrityError
from retrain.registry.metadata import Aliases


def read_aliases(path: Path) -> Aliases:
    """The aliases of a model; {} when it has none yet."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise IntegrityError(
            f"aliases file is not valid JSON: {err}",
            location=Location(file=str(path)),
            hint="it is only ever replaced atomically, so something else changed it; "
            "restore it or promote a version again",
        ) from None
    if not isinstance(raw, dict) or not all(_is_version(v) for v in raw.values()):
        raise IntegrityError(
            'aliases file must map alias names to version numbers, e.g. {"serving": 3, "previous": 2}',
            location=Location(file=str(path)),
        )
    return dict(raw)


def write_aliases(path: Path, aliases: Aliases) -> None:
    """Replace the aliases atomically. Call only while holding the model lock."""
    ordered = dict(sorted(aliases.items(), key=lambda kv: (kv[0] not in ("serving", "previous"), kv[0])))
    write_bytes(path, (json.dumps(ordered, indent=2) + "\n").encode())


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
