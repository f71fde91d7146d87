"""`Registry`: versions, aliases, promotion, rollback, retention and the audit log of models on disk.

Readers take no lock: every file they read is replaced atomically and a version directory appears only when
complete. Writers take the per-model lock, first tidy what a killed writer may have left (scratch entries, a
stale legacy `model.pkl`), then change one file at a time; `aliases.json` is the commit point of a promotion.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from retrain.errors import Conflict, InvalidInput, Location, NotFound, RetrainError
from retrain.registry import atomic
from retrain.registry.aliases import read_aliases, write_aliases
from retrain.registry.digest import sha256_file
from retrain.registry.errors import IntegrityError
from retrain.registry.events import Event, append_event, read_events
from retrain.registry.layout import (
    ARTEFACT,
    EXECUTED_NOTEBOOK,
    METADATA,
    PREVIOUS,
    RESERVED_ALIASES,
    SERVING,
    ModelPaths,
    check_alias_name,
    check_model_name,
    check_version,
)
from retrain.registry.lineage import git_commit, library_versions
from retrain.registry.lock import DEFAULT_TIMEOUT_S, model_lock
from retrain.registry.metadata import Aliases, EventKind, NewVersionMetadata, draft_metadata
from retrain.registry.stamps import default_actor, iso, utcnow
from retrain.registry.versions import VersionInfo, check_digest, read_version, read_versions, version_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """The outcome of promote/rollback. `changed` is False when the version was already serving."""

    model: str
    serving: int
    previous: int | None
    changed: bool
    event: Event | None


class Registry:
    def __init__(
        self,
        root: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        actor: str | None = None,
        lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.root = Path(root)
        self._clock = clock
        self.actor = actor or default_actor()
        self._lock_timeout_s = lock_timeout_s

    # -- reading (no lock) ---------------------------------------------------------------------------------

    def models(self) -> list[str]:
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if not e.name.startswith(".") and (e / "versions").is_dir())

    def versions(self, model: str) -> list[VersionInfo]:
        return read_versions(self._existing(model))

    def get(self, model: str, version: int | None = None) -> VersionInfo:
        """A version of `model`; with no version, the serving one."""
        paths = self._existing(model)
        if version is None:
            serving = read_aliases(paths.aliases).get(SERVING)
            if serving is None:
                raise NotFound(
                    f"model {model!r} has no serving version",
                    hint=f"promote one: retrain models promote {model} VERSION",
                )
            version = serving
        return read_version(paths, check_version(version))

    def aliases(self, model: str) -> Aliases:
        return read_aliases(self._existing(model).aliases)

    def history(self, model: str) -> list[Event]:
        return read_events(self._existing(model).events)

    def artefact_path(self, model: str, version: int) -> Path:
        return self.get(model, version).artefact

    def verify(self, model: str, version: int | None = None) -> VersionInfo:
        """Check the artefact against its recorded digest; IntegrityError naming the version if it differs."""
        info = self.get(model, version)
        try:
            sha256, size = sha256_file(info.artefact)
        except FileNotFoundError:
            sha256, size = "(file missing)", 0
        check_digest(info, sha256, size)
        return info

    # -- writing (under the model lock) --------------------------------------------------------------------

    def register(
        self,
        model: str,
        artefact: Path,
        metadata: NewVersionMetadata,
        *,
        executed_notebook: Path | None = None,
        expected_sha256: str | None = None,
    ) -> VersionInfo:
        """Store `artefact` as the next version of `model`. Never changes an alias.

        `executed_notebook` (the notebook as it ran) is stored beside the artefact, in the same atomic step,
        and named with its digest in metadata.json. `expected_sha256`: the digest of the bytes the caller
        checked; a copy that differs (the file changed since) is refused with IntegrityError.
        """
        check_model_name(model)
        artefact = Path(artefact)
        if not artefact.is_file():
            raise NotFound(
                f"artefact {artefact} does not exist or is not a file",
                location=Location(file=str(artefact)),
                hint="the training notebook must write model.pkl (joblib.dump) into MODEL_DIR",
            )
        if artefact.stat().st_size == 0:
            raise InvalidInput(
                f"artefact {artefact} is empty",
                location=Location(file=str(artefact)),
                hint="write the trained model with joblib.dump(model, path)",
            )
        # Everything slow and side-effect free happens before the lock is taken.
        notebook = metadata.notebook_path
        draft = draft_metadata(
            model,
            metadata,
            git_commit=git_commit(notebook.resolve()) if notebook else None,
            libraries=library_versions(),
            iso=iso,
        )
        with self._locked(model) as paths:
            paths.versions.mkdir(parents=True, exist_ok=True)
            version = max(version_numbers(paths), default=0) + 1
            scratch = atomic.private_dir(paths.versions)
            try:
                sha256, size = atomic.copy_new_file(artefact, scratch / ARTEFACT)
                if expected_sha256 is not None and sha256 != expected_sha256:
                    raise IntegrityError(
                        f"{artefact} changed after it was checked: "
                        f"sha256 {sha256}, checked {expected_sha256}",
                        location=Location(file=str(artefact)),
                        hint="nothing may write the model file while it is registered; train again",
                    )
                meta = draft.copy()
                if executed_notebook is not None:
                    nb_sha256, nb_size = atomic.copy_new_file(executed_notebook, scratch / EXECUTED_NOTEBOOK)
                    meta["executed_notebook"] = {
                        "file": EXECUTED_NOTEBOOK,
                        "sha256": nb_sha256,
                        "size": nb_size,
                    }
                meta["version"] = version
                meta["created_at"] = iso(self._clock())
                meta["artefact"] = {"file": ARTEFACT, "sha256": sha256, "size": size}
                text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"
                atomic.write_new_file(scratch / METADATA, text.encode())
                atomic.publish_dir(scratch, paths.version_dir(version))
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            self._append(paths, "registered", version, run=metadata.run, sha256=sha256)
        return read_version(paths, version)

    def promote(self, model: str, version: int, *, reason: str = "", run: str | None = None) -> Promotion:
        """Serve `version`: the serving one becomes `previous`, and the legacy model.pkl is refreshed."""
        check_version(version)
        with self._locked(model, must_exist=True) as paths:
            info = read_version(paths, version)
            aliases = read_aliases(paths.aliases)
            current = aliases.get(SERVING)
            if current == version:
                return Promotion(model, version, aliases.get(PREVIOUS), changed=False, event=None)
            updated = dict(aliases)
            updated[SERVING] = version
            if current is not None:
                updated[PREVIOUS] = current
            self._switch(paths, info, updated)
            event = self._append(paths, "promoted", version, previous=current, reason=reason, run=run)
            return Promotion(model, version, updated.get(PREVIOUS), changed=True, event=event)

    def rollback(self, model: str, *, reason: str = "", run: str | None = None) -> Promotion:
        """Serve `previous` again. `previous` is cleared, so a second rollback never re-serves the bad one."""
        with self._locked(model, must_exist=True) as paths:
            aliases = read_aliases(paths.aliases)
            current, target = aliases.get(SERVING), aliases.get(PREVIOUS)
            if target is None:
                serving = f"version {current} is serving" if current else "nothing is serving"
                raise Conflict(
                    f"cannot roll back model {model!r}: there is no previous version ({serving})",
                    hint=f"promote a version explicitly: retrain models promote {model} VERSION",
                )
            info = read_version(paths, target)
            updated = {k: v for k, v in aliases.items() if k != PREVIOUS}
            updated[SERVING] = target
            self._switch(paths, info, updated)
            event = self._append(paths, "rolled_back", target, previous=current, reason=reason, run=run)
            return Promotion(model, target, None, changed=True, event=event)

    def reject(self, model: str, version: int, *, reasons: list[str], run: str | None = None) -> Event:
        """Record that the gate refused `version` (audit only; nothing else changes)."""
        check_version(version)
        if not reasons:
            raise InvalidInput("a rejection needs at least one reason", location=Location(field="reasons"))
        with self._locked(model, must_exist=True) as paths:
            read_version(paths, version)
            return self._append(
                paths, "rejected", version, reason="; ".join(reasons), run=run, reasons=tuple(reasons)
            )

    def set_alias(self, model: str, alias: str, version: int, *, reason: str = "") -> Event:
        check_version(version)
        self._check_user_alias(alias)
        with self._locked(model, must_exist=True) as paths:
            read_version(paths, version)
            aliases = read_aliases(paths.aliases)
            write_aliases(paths.aliases, {**aliases, alias: version})
            return self._append(paths, "alias_set", version, reason=reason, alias=alias)

    def remove_alias(self, model: str, alias: str, *, reason: str = "") -> Event:
        self._check_user_alias(alias)
        with self._locked(model, must_exist=True) as paths:
            aliases = read_aliases(paths.aliases)
            if alias not in aliases:
                raise NotFound(f"model {model!r} has no alias {alias!r}", hint=f"aliases: {sorted(aliases)}")
            version = aliases.pop(alias)
            write_aliases(paths.aliases, aliases)
            return self._append(paths, "alias_removed", version, reason=reason, alias=alias)

    def prune(self, model: str, *, keep: int, reason: str = "") -> list[int]:
        """Delete all but the newest `keep` versions; serving, previous and aliased versions always stay."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise InvalidInput(
                f"--keep must be at least 1, got {keep!r}",
                location=Location(field="keep"),
                hint="the newest version is always kept, so version numbers are never reused",
            )
        with self._locked(model, must_exist=True) as paths:
            numbers = version_numbers(paths)
            kept = set(numbers[-keep:]) | set(read_aliases(paths.aliases).values())
            doomed = [n for n in numbers if n not in kept]
            for number in doomed:
                atomic.remove_dir(paths.version_dir(number))
            if doomed:
                self._append(paths, "pruned", None, reason=reason, versions=tuple(doomed))
            return doomed

    def repair(self, model: str) -> None:
        """Take the lock and tidy what a killed writer left (done before every write anyway)."""
        with self._locked(model, must_exist=True):
            pass

    # -- internals -----------------------------------------------------------------------------------------

    def _existing(self, model: str) -> ModelPaths:
        paths = ModelPaths(self.root, check_model_name(model))
        if not paths.versions.is_dir():
            known = self.models()
            close = difflib.get_close_matches(model, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known models: {', '.join(known) or 'none'}"
            raise NotFound(f"model {model!r} is not in the registry at {self.root}", hint=hint)
        return paths

    @contextlib.contextmanager
    def _locked(self, model: str, *, must_exist: bool = False) -> Iterator[ModelPaths]:
        paths = self._existing(model) if must_exist else ModelPaths(self.root, check_model_name(model))
        with model_lock(paths.lock, timeout_s=self._lock_timeout_s):
            self._tidy(paths)
            yield paths

    def _tidy(self, paths: ModelPaths) -> None:
        # Under the lock no other writer is active, so every scratch entry belongs to a dead process.
        atomic.remove_scratch(paths.versions)
        atomic.remove_scratch(paths.dir)
        try:
            serving = read_aliases(paths.aliases).get(SERVING)
            if serving is None:
                return
            info = read_version(paths, serving)
            legacy = paths.legacy_artefact
            if legacy.is_file() and sha256_file(legacy) == (info.sha256, info.size):
                return
            log.warning("%s: refreshing the legacy copy of serving version %d", legacy, serving)
            self._switch(paths, info, None)
        except RetrainError as err:
            # A damaged registry must still accept the promote or rollback that fixes it.
            log.warning("registry %s: cannot refresh the legacy model.pkl: %s", paths.dir, err)

    def _switch(self, paths: ModelPaths, info: VersionInfo, aliases: Aliases | None) -> None:
        """Serve `info`: stage a verified copy, commit aliases.json (the commit point), install the copy.

        A kill between the two renames leaves a stale legacy copy, which the next writer's `_tidy` refreshes.
        """
        staged, sha256, size = atomic.stage_copy(info.artefact, paths.legacy_artefact)
        try:
            check_digest(info, sha256, size)
            if aliases is not None:
                write_aliases(paths.aliases, aliases)
        except BaseException:
            atomic.discard(staged)
            raise
        atomic.install(staged, paths.legacy_artefact)

    def _append(
        self,
        paths: ModelPaths,
        kind: EventKind,
        version: int | None,
        *,
        reason: str = "",
        run: str | None = None,
        previous: int | None = None,
        versions: tuple[int, ...] = (),
        reasons: tuple[str, ...] = (),
        alias: str | None = None,
        sha256: str | None = None,
    ) -> Event:
        event = Event(
            event=kind,
            at=iso(self._clock()),
            model=paths.model,
            version=version,
            actor=self.actor,
            reason=reason,
            run=run,
            previous=previous,
            versions=versions,
            reasons=reasons,
            alias=alias,
            sha256=sha256,
        )
        append_event(paths.events, event)
        return event

    @staticmethod
    def _check_user_alias(alias: str) -> None:
        check_alias_name(alias)
        if alias in RESERVED_ALIASES:
            raise InvalidInput(
                f"alias {alias!r} is moved only by promote and rollback",
                location=Location(field="alias"),
                hint="use retrain models promote / retrain models rollback",
            )
