"""Run every file of Tekton's upstream example suite through `retrain run` and record each outcome.

    .venv/bin/python bench/upstream_suite.py [--jobs 2] [--timeout 120] [--out upstream.tsv] [FILE_OR_DIR...]

Each file runs in its own temporary run store (`--home`), `-q -o json`, with a per-file timeout. Every file
under ../shared/conformance/tekton-examples-upstream outside `no-ci/` is run (Tekton's CI runs the same set);
files under an `alpha/` folder run with the feature flags of Tekton's alpha CI (test/e2e-tests-kind-alpha.env:
enable-api-fields=alpha, results-from=sidecar-logs, CEL when expressions and artifacts on), `beta/` ones with
its beta CI's (enable-api-fields=beta, results-from=sidecar-logs), the others with Tekton's defaults.
One TSV row per file: path, outcome (Succeeded, Failed, Refused = exit 2 at creation, Timeout, Error),
seconds and the first line of the reason. The counts are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT.parent / "shared" / "conformance" / "tekton-examples-upstream"


def suite_files(root: Path = SUITE) -> list[Path]:
    return sorted(p for p in root.rglob("*.yaml") if "no-ci" not in p.relative_to(root).parts)


def feature_flags(path: Path) -> list[str]:
    """The `--feature-flag` options Tekton's CI uses for the folder `path` is in (see the module doc)."""
    parts = path.parts
    if "alpha" in parts:
        flags = ["enable-api-fields=alpha", "results-from=sidecar-logs"]
        flags += ["enable-cel-in-whenexpression=true", "enable-artifacts=true"]
    elif "beta" in parts:
        flags = ["enable-api-fields=beta", "results-from=sidecar-logs"]
    else:
        return []
    return [option for flag in flags for option in ("--feature-flag", flag)]


def run_one(path: Path, timeout: float) -> tuple[str, float, str]:
    """(outcome, seconds, first reason line) of `retrain run -f path`."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="upstream-") as home:
        cmd = [
            sys.executable,
            "-m",
            "retrain.cli.main",
            "run",
            "-q",
            "-o",
            "json",
            "-f",
            str(path),
            "--home",
            home,
            *feature_flags(path.relative_to(SUITE) if path.is_relative_to(SUITE) else path),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return "Timeout", time.monotonic() - start, f"did not finish within {timeout:.0f} s"
    outcome, reason = classify(done.returncode, done.stdout, done.stderr)
    return outcome, time.monotonic() - start, reason


def classify(rc: int, stdout: str, stderr: str) -> tuple[str, str]:
    """Outcome and reason of one `retrain run -o json` invocation."""
    if rc == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("error")]
        lines = errors or stderr.strip().splitlines()[-1:] or ["exit 2"]
        return "Refused", lines[0]
    try:
        runs = json.loads(stdout)
    except json.JSONDecodeError:
        tail = stderr.strip().splitlines()
        return "Error", f"exit {rc}: {tail[-1] if tail else 'no output'}"
    if rc == 0 and runs and all(r.get("succeeded") for r in runs):
        return "Succeeded", ""
    failed = [r for r in runs if not r.get("succeeded")] or runs or [{}]
    first = failed[0]
    failure = first.get("failure") or {}
    where = failure.get("step") or failure.get("task") or ""
    message = str(first.get("message") or failure.get("message") or f"exit {rc}").splitlines()[0]
    tail = failure.get("log_tail") or []
    detail = f" | {tail[-1]}" if tail else ""
    return "Failed", f"{first.get('reason')}: {where}: {message}{detail}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    files: list[Path] = []
    for p in args.paths or [SUITE]:
        files.extend(suite_files(p) if p.is_dir() else [p])
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda f: run_one(f, args.timeout), files))
    rows = []
    counts: dict[str, int] = {}
    for path, (outcome, took, reason) in zip(files, results, strict=True):
        name = str(path.relative_to(SUITE)) if path.is_relative_to(SUITE) else str(path)
        rows.append(f"{name}\t{outcome}\t{took:.1f}\t{reason}")
        counts[outcome] = counts.get(outcome, 0) + 1
    text = "\n".join(rows) + "\n"
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    print(
        f"# {len(files)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
