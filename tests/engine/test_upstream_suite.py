"""Tekton's whole upstream example suite against a committed table of expected outcomes.

Every file of ../shared/conformance/tekton-examples-upstream outside `no-ci/` (the set Tekton's CI runs) has
one row in upstream_expectations.tsv: `path<TAB>expected<TAB>reason substring`. `expected` is `Succeeded`, or
`cannot-run: <category>` (what this machine cannot give: a remote resolver, a binary only the image has, a
cluster object), or `engine-gap: <feature>` (what the engine does not do yet). A file that is not expected to
succeed must stop with the reason substring in its output: an honest refusal or failure, never a vacuous
success. So a fix that makes a file succeed, a regression, and a file silently dropped all fail this test
(update the row with the fix). The files run two at a time, each through the real CLI in its own run store.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.engine_helpers import SHARED

SUITE = SHARED / "conformance" / "tekton-examples-upstream"
TABLE = Path(__file__).with_name("upstream_expectations.tsv")
FILE_TIMEOUT_S = 150.0

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.slow,
    pytest.mark.skipif(
        not SUITE.is_dir(),
        reason=f"LOUD SKIP: {SUITE} is not here, so Tekton's upstream example suite was not run",
    ),
]


@dataclass(frozen=True)
class Expectation:
    path: str
    expected: str  # "Succeeded", "cannot-run: <category>" or "engine-gap: <feature>"
    reason: str  # a substring of the output when the file does not succeed (alternatives: "a || b")


def read_table(table: Path = TABLE) -> dict[str, Expectation]:
    rows: dict[str, Expectation] = {}
    for number, line in enumerate(table.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        assert len(cells) == 3, f"{table.name}:{number}: want path<TAB>expected<TAB>reason, got {line!r}"
        path, expected, reason = cells
        assert expected == "Succeeded" or expected.startswith(("cannot-run: ", "engine-gap: ")), (
            f"{table.name}:{number}: unknown expectation {expected!r}"
        )
        assert (expected == "Succeeded") == (reason == ""), f"{table.name}:{number}: reason iff not Succeeded"
        assert path not in rows, f"{table.name}:{number}: {path} has two rows"
        rows[path] = Expectation(path, expected, reason)
    return rows


def suite_files() -> list[str]:
    return sorted(
        str(p.relative_to(SUITE)) for p in SUITE.rglob("*.yaml") if "no-ci" not in p.relative_to(SUITE).parts
    )


def feature_flags(path: str) -> list[str]:
    """Tekton's CI flags per folder (test/e2e-tests-kind-{alpha,beta}.env); the others run with defaults."""
    parts = Path(path).parts
    if "alpha" in parts:
        flags = ["enable-api-fields=alpha", "results-from=sidecar-logs"]
        flags += ["enable-cel-in-whenexpression=true", "enable-artifacts=true"]
    elif "beta" in parts:
        flags = ["enable-api-fields=beta", "results-from=sidecar-logs"]
    else:
        return []
    return [option for flag in flags for option in ("--feature-flag", flag)]


def run_file(row: Expectation, home: Path) -> str | None:
    """None when the file's outcome matches its row, else what differs."""
    cmd = [sys.executable, "-m", "retrain.cli.main", "run", "-q", "-o", "json"]
    cmd += ["-f", str(SUITE / row.path), "--home", str(home), *feature_flags(row.path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=FILE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish within {FILE_TIMEOUT_S:.0f} s"
    output = done.stdout + done.stderr
    got = f"got exit {done.returncode}: {output.strip()[-500:]}"
    succeeded = done.returncode == 0 and '"succeeded": true' in done.stdout
    if row.expected == "Succeeded":
        return (
            None if succeeded else f"expected Succeeded, got exit {done.returncode}: {output.strip()[-500:]}"
        )
    if succeeded or done.returncode == 0:
        return f"expected {row.expected} but it succeeded: update its row (and docs/ENGINE.md)"
    if not any(alternative in output for alternative in row.reason.split(" || ")):
        return f"expected {row.expected} with {row.reason!r}, {got}"
    return None


def test_the_table_covers_every_file_of_the_suite() -> None:
    rows, files = read_table(), suite_files()
    assert sorted(rows) == files, (
        f"not in the table: {sorted(set(files) - set(rows))}; no such file: {sorted(set(rows) - set(files))}"
    )
    assert len(files) >= 90  # the whole suite is here, not a stray subset


@pytest.mark.timeout(900)
def test_every_upstream_example_ends_as_its_row_says(tmp_path: Path) -> None:
    rows = [row for path, row in sorted(read_table().items()) if (SUITE / path).is_file()]
    homes = [tmp_path / f"home-{i}" for i in range(len(rows))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run_file, rows, homes))
    mismatches = {row.path: why for row, why in zip(rows, outcomes, strict=True) if why}
    assert mismatches == {}, "\n".join(f"{path}: {why}" for path, why in mismatches.items())
