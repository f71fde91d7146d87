"""What the gate demands of a model: metric thresholds, the held-out data, timeouts (per model, YAML).

Values are frozen dataclasses; the YAML file is validated with pydantic at the edge (`load_thresholds`).
The defaults of the two built-in models were measured, not guessed (docs/gate.md has the numbers): on
their own held-out rows (the training window's interleaved blocks, `retrain.training.heldout`), good models
trained on 24, 168 or 720 h reach anomaly F1 0.24-0.87 / ROC AUC 0.89-1.0 / flagged share <= 0.106 and
forecaster R^2 0.59-0.89 / skill +0.041..+0.242, while clearly worse models (contamination 0.3, a detector
trained on 2 h, "no change", the mean) fail at least one bound.

Semantics follow TFX/TFMA: a value threshold bounds the candidate's metric (`min`/`max`, inclusive); a
change threshold bounds how much worse than the baseline (the serving version, on the same rows) it may
be: at most `absolute` worse and at most `relative` x |baseline| worse, both when both are set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from retrain.errors import InvalidInput, Location

Direction = Literal["higher_is_better", "lower_is_better"]
HoldoutSource = Literal["synthetic", "prometheus", "hybrid"]

# Which way is better for the metrics the built-in evaluations report (a file may say otherwise).
DIRECTIONS: dict[str, Direction] = {
    **dict.fromkeys(
        ("f1", "precision", "recall", "roc_auc", "average_precision", "r2", "skill", "skill_rmse"),
        "higher_is_better",
    ),
    **dict.fromkeys(("mae", "rmse", "flagged_rate"), "lower_is_better"),
}


@dataclass(frozen=True)
class ChangeThreshold:
    """How much worse than the baseline a candidate may be (tolerances, not signed TFMA bounds)."""

    absolute: float | None = None
    relative: float | None = None


@dataclass(frozen=True)
class MetricThreshold:
    metric: str
    direction: Direction
    min: float | None = None
    max: float | None = None
    change: ChangeThreshold | None = None

    def describe_value(self) -> str:
        parts = ([f">= {self.min:g}"] if self.min is not None else []) + (
            [f"<= {self.max:g}"] if self.max is not None else []
        )
        return " and ".join(parts)

    def describe_change(self) -> str:
        if self.change is None:
            return ""
        worse = "lower" if self.direction == "higher_is_better" else "higher"
        parts = []
        if self.change.absolute is not None:
            parts.append(f"at most {self.change.absolute:g}")
        if self.change.relative is not None:
            parts.append(f"at most {self.change.relative:.0%}")
        return f"{' and '.join(parts)} {worse} than the baseline"


@dataclass(frozen=True)
class HoldoutConfig:
    """Where the held-out rows come from: the training window's held-out blocks (`retrain.training.heldout`).

    The window ends where the version's training window ended; `hours` None is the training window's
    length and `seed` None the training seed (the synthetic frame is then the training frame, and the rows
    are exactly those the trainer held out). Prometheus data is re-read over the same window.
    """

    source: HoldoutSource = "synthetic"
    hours: float | None = None  # None: the training window's hours (72 for versions that record none)
    seed: int | None = None  # None: the training seed
    infra_rows: int = 8


@dataclass(frozen=True)
class ModelGate:
    """Everything the gate needs to judge one model."""

    model: str
    metrics: tuple[MetricThreshold, ...] = ()
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)
    load_timeout_s: float = 30.0
    request_timeout_s: float = 60.0
    infra_timeout_s: float = 60.0
    min_artefact_bytes: int = 200
    origin: str = "built-in defaults"


def _metric(name: str, **values: Any) -> MetricThreshold:
    return MetricThreshold(name, values.pop("direction", DIRECTIONS.get(name, "higher_is_better")), **values)


BUILTIN_DEFAULTS: dict[str, ModelGate] = {
    "anomaly-detector": ModelGate(
        "anomaly-detector",
        (
            _metric("f1", min=0.15, change=ChangeThreshold(absolute=0.1)),
            _metric("roc_auc", min=0.8, change=ChangeThreshold(absolute=0.03)),
            _metric("flagged_rate", max=0.12),
        ),
    ),
    "predictive-analytics": ModelGate(
        "predictive-analytics",
        (
            _metric("r2", min=0.3, change=ChangeThreshold(absolute=0.05)),
            _metric("skill", min=0.01, change=ChangeThreshold(absolute=0.05)),
        ),
    ),
}


def default_gate(model: str) -> ModelGate:
    """The built-in defaults of a built-in model; for any other model no metric thresholds."""
    return BUILTIN_DEFAULTS.get(model, ModelGate(model))


def load_thresholds(path: Path, model: str) -> ModelGate:
    """`model`'s gate from a YAML file, merged over its defaults; InvalidInput with file:line otherwise."""
    from retrain.yamlfile import read_yaml

    data, node = read_yaml(path, what="thresholds file", hint="pass --thresholds with a readable YAML file")
    return parse_thresholds(data if data is not None else {}, model, file=str(path), node=node)


def parse_thresholds(data: Any, model: str, *, file: str = "<thresholds>", node: Any = None) -> ModelGate:
    from pydantic import ValidationError

    from retrain.gate._schema import ThresholdsFile

    try:
        parsed = ThresholdsFile.model_validate(data)
    except ValidationError as err:
        problems = [
            InvalidInput(
                f"{e['msg']}",
                location=Location(
                    file=file, line=_line_of(node, e["loc"]), field=".".join(str(p) for p in e["loc"])
                ),
                hint="see docs/gate.md for the thresholds file format",
            )
            for e in err.errors()
        ]
        if len(problems) == 1:
            raise problems[0] from None
        from retrain.errors import InvalidInputs

        raise InvalidInputs(problems) from None
    section = parsed.models.get(model)
    base = default_gate(model)
    if section is None:
        return base
    return section.merge(base, origin=f"{file}: models.{model}")


def _line_of(node: Any, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the YAML node at `path` (or of its deepest existing parent)."""
    line = None
    for key in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        value = getattr(node, "value", None)
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            node = next((v for k, v in value if getattr(k, "value", None) == str(key)), None)
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            node = value[key]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def merged_metrics(
    base: Sequence[MetricThreshold], overrides: Mapping[str, MetricThreshold | None]
) -> tuple[MetricThreshold, ...]:
    """Defaults with a file's metrics: a named metric replaces the default, `null` removes it."""
    out = {m.metric: m for m in base}
    for name, threshold in overrides.items():
        if threshold is None:
            out.pop(name, None)
        else:
            out[name] = threshold
    return tuple(out.values())


def with_overrides(gate: ModelGate, **changes: Any) -> ModelGate:
    """A copy with some fields replaced (CLI flags over the file)."""
    holdout = {k: v for k, v in changes.pop("holdout", {}).items() if v is not None}
    values = {k: v for k, v in changes.items() if v is not None}
    return replace(gate, holdout=replace(gate.holdout, **holdout), **values)
