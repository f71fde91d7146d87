"""Which version of each model answers now, and how that changes when the registry's `serving` alias moves.

A request reads one `ModelState` reference and uses that `LoadedModel` to the end, so a swap never affects a
request in flight. A reload loads the new version completely (digest, unpickle, probe predictions) in a
background thread and only then replaces the reference: a version that fails to load is reported and the
old one keeps answering. Changes are noticed by a cheap `stat` of each `aliases.json` (every write to it is
an atomic rename, so its inode changes) every `poll_interval_s`, or at once through `reload(model)`.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.errors import NotFound, RetrainError
from retrain.registry import Registry
from retrain.registry.layout import ALIASES, SERVING
from retrain.serving.loader import LoadedModel, load_version

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.2
Signature = tuple[int, int, int] | None


@dataclass(frozen=True)
class ModelState:
    """One served model: the version answering (if any) and the registry's wish, with any load error."""

    name: str
    model: LoadedModel | None
    wanted: int | None  # the version the registry names as serving (or the pinned one)
    error: str | None = None  # why `wanted` is not the one answering
    loading: bool = False

    @property
    def ready(self) -> bool:
        return self.model is not None

    def detail(self) -> dict[str, Any]:
        """Readiness detail for people and the deploy step (no paths to secrets: only registry facts)."""
        out: dict[str, Any] = {
            "name": self.name,
            "ready": self.ready,
            "model_version": self.model.version_text if self.model else None,
            "wanted_version": str(self.wanted) if self.wanted is not None else None,
            "state": "READY" if self.ready else ("LOADING" if self.loading else "UNAVAILABLE"),
        }
        if self.model is not None:
            out["engine"] = self.model.engine
            out["sha256"] = self.model.info.sha256
        if self.error:
            out["reason"] = self.error
        return out


@dataclass
class Counters:
    loads: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def bump(self, table: dict[str, int], name: str) -> None:
        table[name] = table.get(name, 0) + 1


class ModelRepository:
    """The models one server answers for: every model with a `serving` version, or exactly `pinned` ones."""

    def __init__(
        self,
        registry: Registry | Path,
        *,
        pinned: Mapping[str, int] | None = None,
        poll_interval_s: float | None = DEFAULT_POLL_S,
        fast_path: bool = True,
    ) -> None:
        self.registry = registry if isinstance(registry, Registry) else Registry(Path(registry))
        self.pinned = dict(pinned) if pinned is not None else None
        self.poll_interval_s = poll_interval_s
        self.fast_path = fast_path
        self.counters = Counters()
        # Replaced as a whole (copy on write), so readers in other threads never see it change under them.
        self._states: dict[str, ModelState] = {}
        self._signatures: dict[str, Signature] = {}
        self._scanned = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading (any thread, no lock) ---------------------------------------------------------------------

    def state(self, name: str) -> ModelState | None:
        return self._states.get(name)

    def states(self) -> dict[str, ModelState]:
        return self._states

    def ready(self) -> bool:
        """True once the registry was read and every served model has a version answering."""
        return self._scanned and all(state.ready for state in self._states.values())

    # -- changing ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Name the models to serve at once (they answer 503 while loading), then load and watch them."""
        if self._thread is not None:
            return
        self._announce()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="retrain-serving-reload", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def refresh(self) -> list[str]:
        """One poll: load what changed in the registry; return the names whose state changed."""
        with self._lock:
            return self._refresh(force=None)

    def reload(self, name: str) -> ModelState:
        """Re-read `name`'s serving alias now and load it if it is not the version answering (or failed)."""
        with self._lock:
            self._refresh(force=name)
            state = self._states.get(name)
        if state is None:
            known = self._names()
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            if name in known:
                hint = f"promote one: retrain models promote {name} VERSION"
            else:
                hint = f"did you mean {close[0]!r}?" if close else f"models: {', '.join(known) or 'none'}"
            raise NotFound(
                f"model {name!r} has no serving version in the registry at {self.registry.root}", hint=hint
            )
        return state

    # -- internals -----------------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return sorted(self.pinned) if self.pinned is not None else self.registry.models()

    def _announce(self) -> None:
        with self._lock:
            states = dict(self._states)
            for name in self._names():
                wanted = self._wanted(name)
                if isinstance(wanted, int) and name not in states:
                    states[name] = ModelState(name, None, wanted, loading=True)
            self._states = states

    def _watch(self) -> None:
        first = True
        while first or not self._stop.wait(self.poll_interval_s or 3600.0):
            first = False
            try:
                self.refresh()
            except Exception:  # the watcher must outlive anything one poll meets
                log.exception("serving: polling the registry at %s failed", self.registry.root)
            if self.poll_interval_s is None:
                return

    def _signature(self, name: str) -> Signature:
        if self.pinned is not None:
            return (self.pinned[name], 0, 0)
        try:
            st = (self.registry.root / name / ALIASES).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _wanted(self, name: str) -> int | str | None:
        """The version to serve; None when there is none; the error text when the aliases are unreadable."""
        if self.pinned is not None:
            return self.pinned[name]
        try:
            return self.registry.aliases(name).get(SERVING)
        except RetrainError as err:
            return str(err)

    def _refresh(self, force: str | None) -> list[str]:
        changed: list[str] = []
        names = self._names()
        for gone in sorted(set(self._states) - set(names)):
            log.warning("serving: model %s left the registry; no longer serving it", gone)
            self._signatures.pop(gone, None)
            self._publish(gone, None)
            changed.append(gone)
        for name in names:
            signature = self._signature(name)
            if name != force and name in self._signatures and self._signatures[name] == signature:
                continue
            self._signatures[name] = signature
            before = self._states.get(name)
            state = self._update(name, before, retry=name == force)
            if state != before:
                self._publish(name, state)  # at once: one model's slow load never delays another's swap
                changed.append(name)
        self._scanned = True
        return changed

    def _publish(self, name: str, state: ModelState | None) -> None:
        states = dict(self._states)
        if state is None:
            states.pop(name, None)
        else:
            states[name] = state
        self._states = states  # one reference assignment: readers see the old dict or the new one

    def _update(self, name: str, current: ModelState | None, *, retry: bool) -> ModelState | None:
        wanted = self._wanted(name)
        answering = current.model if current else None
        if isinstance(wanted, str):
            log.error("serving: %s: cannot read its aliases: %s", name, wanted)
            return ModelState(name, answering, None, error=wanted) if answering else None
        if wanted is None:
            return None  # no serving version: not served (404 with a hint)
        if answering is not None and answering.version == wanted:
            return ModelState(name, answering, wanted)
        if current is not None and current.wanted == wanted and current.error and not retry:
            return current  # this version already failed; try again only when asked or when aliases move
        return self._load(name, wanted, answering)

    def _load(self, name: str, version: int, answering: LoadedModel | None) -> ModelState:
        try:
            loaded = load_version(self.registry, name, version, fast_path=self.fast_path)
        except Exception as err:  # anything a bad artefact does must leave the old version answering
            self.counters.bump(self.counters.failures, name)
            text = str(err) if isinstance(err, RetrainError) else f"{type(err).__name__}: {err}"
            still = f"still serving version {answering.version}" if answering else "nothing is serving"
            log.error("serving: %s: cannot load version %d (%s): %s", name, version, still, text)
            return ModelState(name, answering, version, error=f"cannot load version {version}: {text}")
        self.counters.bump(self.counters.loads, name)
        log.info(
            "serving: %s: version %d answers now (was %s; sha256 %s; %s predictor: %s; loaded in %.3f s)",
            name,
            version,
            answering.version if answering else "none",
            loaded.info.sha256,
            loaded.engine,
            loaded.engine_reason,
            loaded.load_seconds,
        )
        return ModelState(name, loaded, version)
