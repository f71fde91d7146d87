"""Run any notebook with papermill: parameters, the contract's environment, timeouts, per-cell timing.

- Parameters go into papermill's injected cell, but only those the notebook's `parameters`-tagged cell
  declares (a custom notebook that declares none gets none, and no warning; the environment variables of
  the contract reach it anyway). `NotebookJob.strict` names parameters that must be passed regardless.
- Timeouts: `cell_timeout_s` for any one cell and `timeout_s` for the whole notebook; each cell's limit is
  the smaller of its own and what is left of the whole (nbclient's `timeout_func`).
- The executed notebook is always written to `output` (after every cell, so a crash leaves it too), and
  the kernel's own stdout/stderr go to `<output>.kernel.log`.
- A failure raises `NotebookFailed` with the failing cell's index (0-based, in the input notebook; the
  injected parameters cell is not counted), a source excerpt and the exception's name and message.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.errors import Location, RunFailed
from retrain.training.kernel import KERNEL_NAME, kernel_manager_class
from retrain.training.nbfile import (
    INJECTED_TAG,
    CellTiming,
    cell_tags,
    cell_timings,
    declared_parameters,
    first_line,
    read_notebook,
)

__all__ = [
    "CellTiming",
    "NotebookFailed",
    "NotebookJob",
    "NotebookResult",
    "declared_parameters",
    "read_notebook",
    "run_notebook",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXCERPT_LINES = 8

CellCallback = Callable[
    [int, int, str], None
]  # (code cells done, code cells in all, the next one's first line)


@dataclass(frozen=True)
class NotebookJob:
    notebook: Path
    output: Path  # the executed notebook (kept)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # added to the kernel's environment
    cwd: Path | None = None  # default: the notebook's directory (Jupyter's convention)
    timeout_s: float | None = 3600.0
    cell_timeout_s: float | None = None
    start_timeout_s: float = 60.0
    strict: frozenset[str] = frozenset()  # parameters passed even when the notebook does not declare them
    runtime_dir: Path | None = None  # where the kernel's connection file goes; None: a private temp dir


@dataclass(frozen=True)
class NotebookResult:
    executed: Path
    kernel_log: Path
    duration_s: float
    parameters: dict[str, Any]  # what was injected
    cells: tuple[CellTiming, ...]


class NotebookFailed(RunFailed):
    """A notebook raised, timed out or lost its kernel. Carries where and what, for people and tests."""

    def __init__(
        self,
        message: str,
        *,
        notebook: Path,
        executed: Path,
        cell_index: int | None = None,
        excerpt: str = "",
        ename: str = "",
        evalue: str = "",
        hint: str | None = None,
    ) -> None:
        lines = [message, *(f"  | {line}" for line in excerpt.splitlines()), f"executed notebook: {executed}"]
        super().__init__("\n".join(lines), location=Location(file=str(notebook)), hint=hint)
        self.headline, self.notebook, self.executed = message, notebook, executed
        self.cell_index, self.excerpt, self.ename, self.evalue = cell_index, excerpt, ename, evalue

    def kept_at(self, executed: Path) -> NotebookFailed:
        """The same failure, naming where the executed notebook was kept (the scratch copy is removed)."""
        return NotebookFailed(
            self.headline,
            notebook=self.notebook,
            executed=executed,
            cell_index=self.cell_index,
            excerpt=self.excerpt,
            ename=self.ename,
            evalue=self.evalue,
            hint=self.hint,
        )


def _excerpt(source: str, traceback: list[str] | None = None) -> str:
    lines = source.splitlines()
    text = "\n".join(lines[:_EXCERPT_LINES]) + (
        f"\n... ({len(lines)} lines)" if len(lines) > _EXCERPT_LINES else ""
    )
    arrows = [ln.strip() for tb in traceback or [] for ln in _ANSI.sub("", tb).splitlines() if "---->" in ln]
    return text + (f"\nfailed at: {arrows[-1]}" if arrows else "")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _runtime(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="retrain-kernel-") as runtime:
        yield Path(runtime)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)  # our child: reap it


def run_notebook(job: NotebookJob, *, on_cell: CellCallback | None = None) -> NotebookResult:
    """Execute `job.notebook` into `job.output`; raise NotebookFailed on any failure."""
    nb = read_notebook(job.notebook)
    declared = set(declared_parameters(nb))
    parameters = {k: v for k, v in job.parameters.items() if k in declared or k in job.strict}
    code_cells = sum(c.cell_type == "code" for c in nb.cells) + (1 if parameters else 0)

    import papermill  # type: ignore[import-untyped]
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError  # type: ignore[import-untyped]

    job.output.parent.mkdir(parents=True, exist_ok=True)
    kernel_log = job.output.with_name(job.output.name + ".kernel.log")
    started = time.monotonic()
    deadline = None if job.timeout_s is None else started + job.timeout_s

    def timeout_for(cell: Any) -> float | None:
        limits = [job.cell_timeout_s] if job.cell_timeout_s else []
        if deadline is not None:
            limits.append(max(0.01, deadline - time.monotonic()))  # 0 would mean "no limit" to nbclient
        return min(limits) if limits else None

    started_cells = 0
    injected_seen = 0
    current: tuple[int | None, str] = (None, "")  # the cell running now: input index, source

    def cell_started(cell: Any, cell_index: int) -> None:
        nonlocal started_cells, injected_seen, current
        injected = INJECTED_TAG in cell_tags(cell)
        current = (None if injected else cell_index - injected_seen, cell.source)
        injected_seen += injected
        if cell.cell_type == "code" and on_cell is not None:
            on_cell(started_cells, code_cells, first_line(cell.source))
            started_cells += 1

    def failed(message: str, **kw: Any) -> NotebookFailed:
        return NotebookFailed(message, notebook=job.notebook, executed=job.output, **kw)

    kernels: list[int] = []  # the kernel's pid, killed if this process is interrupted mid-notebook
    with _runtime(job.runtime_dir) as runtime, kernel_log.open("wb") as log:
        manager = kernel_manager_class(
            job.env, log, job.cwd or job.notebook.parent, runtime / "kernel.json", pids=kernels
        )
        try:
            executed = papermill.execute_notebook(
                str(job.notebook),
                str(job.output),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                language="python",
                progress_bar=False,
                start_timeout=int(job.start_timeout_s),
                kernel_manager_class=manager,
                timeout_func=timeout_for,
                on_cell_start=cell_started,
                shutdown_kernel="immediate",
            )
        except PapermillExecutionError as err:
            index = current[0]  # execution stops at the failing cell: it is the last one started
            raise failed(
                f"failed in cell {index} (In [{err.exec_count}]): {err.ename}: {err.evalue}",
                cell_index=index,
                excerpt=_excerpt(err.source, err.traceback),
                ename=err.ename,
                evalue=err.evalue,
                hint="open the executed notebook to see the full traceback",
            ) from None
        except CellTimeoutError:
            index, source = current
            overall = deadline is not None and time.monotonic() >= deadline - 0.05
            limit = (
                f"the notebook's timeout of {job.timeout_s:g} s"
                if overall
                else f"the cell timeout of {job.cell_timeout_s:g} s"
            )
            raise failed(
                f"cell {index} did not finish within {limit}",
                cell_index=index,
                excerpt=_excerpt(source),
                ename="Timeout",
                evalue=limit,
                hint="raise the timeout (--timeout / --cell-timeout) or train on a shorter window",
            ) from None
        except DeadKernelError as err:
            index, source = current
            raise failed(
                f"the kernel died in cell {index} ({err}); kernel log tail:\n{_tail(kernel_log)}",
                cell_index=index,
                excerpt=_excerpt(source),
                ename="DeadKernelError",
                evalue=str(err),
                hint="the process was killed (out of memory?) or called os._exit",
            ) from None
        except RuntimeError as err:  # the kernel never started (jupyter_client raises RuntimeError)
            raise failed(
                f"the kernel did not start: {err}; kernel log tail:\n{_tail(kernel_log)}",
                ename=type(err).__name__,
                evalue=str(err),
                hint="check that ipykernel is installed in this Python environment",
            ) from None
        except BaseException:
            # SIGTERM/SIGINT (raised by the caller's handlers) leaves papermill no chance to stop the
            # kernel: stop it here, so nothing keeps writing into a scratch directory about to go.
            _kill(kernels)
            raise
    return NotebookResult(
        executed=job.output,
        kernel_log=kernel_log,
        duration_s=time.monotonic() - started,
        parameters=parameters,
        cells=cell_timings(executed),
    )
