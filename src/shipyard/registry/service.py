"""Registering and loading model versions: the one place that ties formats, lineage, the
artifact store and the registry database together.

Order of a registration, so that a crash never leaves a row pointing at nothing:
check the name → save/detect the format → refuse what needs trust nobody gave → load it and
predict on the sample (a version that cannot answer is never registered) → work out the
signature and lineage → compile it (``shipyard.compile``; a failure is recorded, never fatal)
→ write the blobs (atomic) → commit the row.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shipyard.compile import (
    COMPILED,
    COMPILED_FILENAME,
    NATIVE,
    ONNXRUNTIME,
    RUNTIMES,
    Outcome,
    compile_model,
    runtime_statement,
)
from shipyard.compile.rows import batch_from_data, batch_from_example, batch_from_profile
from shipyard.errors import Conflict, InvalidRequest, ModelLoadError, ModelRejected, ShipyardError, UnsafeFormat
from shipyard.flavors import catalog
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions, SavedModel
from shipyard.fs.scratch import scratch_directory
from shipyard.governance.policy import check_tier
from shipyard.lineage.environment import code_version, environment
from shipyard.lineage.fingerprint import fingerprint
from shipyard.lineage.profile import profile
from shipyard.registry import provenance
from shipyard.registry.archiving import Archiver
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.lifecycle import gone
from shipyard.registry.pii_marks import check_fields, check_marks, merge_marks, refuse_loosening
from shipyard.registry.provenance import Provenance
from shipyard.registry.refs import ModelRef, check_model_name, parse_ref
from shipyard.registry.sql.store import RegistryStore
from shipyard.registry.types import RETIRED, ArtifactRef, CompiledArtifact, Lineage, ModelVersion, VersionDraft
from shipyard.schema.batch import Batch, misshapen_output
from shipyard.schema.examples import example_from_sample, raw_inputs_from_example
from shipyard.schema.signature import Signature, infer_signature
from shipyard.schema.validate import validate_inputs

logger = logging.getLogger(__name__)

STAGES = ("loading", "checking", "profiling", "compiling", "verifying", "storing")
"""What ``register(stage=...)`` reports, in order: loading the model, checking it on its sample,
profiling the training data, compiling, verifying the compiled form (``done``/``total`` rows),
storing the artifacts (hashing while copying: ``done``/``total`` bytes)."""
StageProgress = Callable[[str, int, "int | None"], None]
"""``stage(name, done, total)``: ``name`` one of ``STAGES``; ``total`` None when unknown."""

EXAMPLE_ROWS = 5
COMPILE_MAX_ROWS = 10_000
"""Rows of training (or caller) data a compiled form is checked on, at most."""


@dataclass(frozen=True)
class VerifyResult:
    model: str
    version: int
    artifact: ArtifactRef
    ok: bool
    error: str | None = None
    kind: str = "model"
    """``model`` (the registered artifact) or ``compiled`` (its ONNX form)."""


def current_user() -> str:
    try:
        return os.environ.get("SHIPYARD_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def load_options(version: ModelVersion, *, scratch: Path | None = None) -> LoadOptions:
    """What the registrant trusted for ``version``, as the flavor needs it."""
    return LoadOptions(
        trusted_types=version.trusted_types,
        trust_pickle=version.unsafe_format,
        trust_code=version.trust_code,
        metadata=version.flavor_metadata,
        scratch=scratch,
    )


class RegistryService:
    """Register, resolve, load and verify model versions."""

    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        *,
        scratch: Path | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.archiver = Archiver(store, artifacts)
        """Moves retired versions' artifacts to archive storage and back (``registry/archiving.py``)."""
        self.provenance = provenance
        """Signs versions at registration and checks them on load (``registry/provenance.py``);
        None: neither (a bare service in tests)."""
        self.scratch = scratch
        """``$SHIPYARD_HOME/tmp``: where registrations and loads make their scratch directories
        (``fs/scratch.py``); the system temp dir when None."""

    def scratch_directory(self, kind: str) -> AbstractContextManager[Path]:
        """A scratch directory ``<scratch>/<kind>-<pid>-<random>`` removed after the block."""
        return scratch_directory(self.scratch, kind)

    # -- registration -------------------------------------------------------------------
    def register(
        self,
        name: str,
        source: Any,
        *,
        flavor: str | None = None,
        sample: Any = None,
        signature: Signature | None = None,
        training_data: Any = None,
        target: Any = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        trust_pickle: bool = False,
        trusted_types: Sequence[str] = (),
        trust_code: bool = False,
        entry: str | None = None,
        parent_version: int | None = None,
        created_by: str | None = None,
        progress: Callable[[int], None] | None = None,
        stage: StageProgress | None = None,
        compile: bool = True,
        actor: str | None = None,
        source_address: str = "local",
        reason: str | None = None,
        tier: str | None = None,
        pii: Mapping[str, str] | None = None,
        output_names: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register ``source`` (a file, a directory of Python code, or a live model object)
        as the next version of model ``name``; with ``compile``, also its verified compiled form.

        ``tier``: the model's risk tier (set on a new model; on an existing one it must be the
        tier in force: only an admin changes it). ``pii``: ``{field: drop|hash|keep}`` marks
        on signature fields, merged into the model's serving controls (``registry/pii_marks.py``).
        ``output_names``: ``{graph output: name}`` for an ONNX model (the usual classifier
        pairs answer as ``predict``/``predict_proba`` without it). ``progress(bytes_done)``:
        storing the artifact; ``stage(name, done, total)``: every step (``STAGES``)."""
        report: StageProgress = stage or (lambda name, done, total: None)
        check_model_name(name)
        metric_values = _check_metrics(metrics or {})
        if tier is not None:
            check_tier(tier)
        marks = check_marks(pii or {})
        if marks:
            refuse_loosening(self.store, name, marks)
        with scratch_directory(self.scratch, "register", lease=True) as tmp:
            saved = self._materialize(source, Path(tmp), flavor=flavor, trusted_types=tuple(trusted_types), entry=entry)
            fmt = catalog.get(saved.flavor)
            named = fmt.output_metadata(saved.path, _check_output_names(output_names))
            if named:
                saved = replace(saved, metadata={**saved.metadata, **named})
            if fmt.unsafe and not trust_pickle:
                raise UnsafeFormat(
                    f"{saved.path.name} is a {fmt.name} file: loading it runs arbitrary code",
                    hint="save the model with skops (sklearn) or its native format; register with --trust-pickle "
                    "only if you trust where the file came from",
                )
            trusted = tuple(dict.fromkeys((*saved.trusted_types, *trusted_types)))
            try:
                needed = [t for t in fmt.required_trust(saved.path) if t not in trusted]
            except ModelLoadError as exc:
                raise _rejected(exc) from exc
            if needed:
                shown = ", ".join(needed[:5]) + (f" and {len(needed) - 5} more" if len(needed) > 5 else "")
                raise UnsafeFormat(
                    f"the model file contains types that are not trusted by default: {shown}",
                    hint="if you trust them, name each with --trust-type TYPE (trusted_types=[...] in Python)",
                )
            options = LoadOptions(
                trusted_types=trusted,
                trust_pickle=trust_pickle and fmt.unsafe,
                trust_code=trust_code,
                metadata=saved.metadata,
            )
            report("loading", 0, None)
            try:
                loaded = fmt.load(saved.path, options)
            except ModelLoadError as exc:
                # A registration refused for what it holds is the registrant's to fix (422);
                # ModelLoadError (503) stays for registered versions that fail to load.
                raise _rejected(exc) from exc
            report("checking", 0, None)
            sig = self._signature(loaded, signature, sample)
            check_fields(sig, marks)
            example = example_from_sample(sig, sample, EXAMPLE_ROWS) if sample is not None else None
            if example is not None:
                self._check_answers(loaded, sig, example)
            if training_data is not None:
                report("profiling", 0, None)
            lineage = Lineage(
                training_data=fingerprint(training_data, target) if training_data is not None else None,
                profile=profile(training_data, target) if training_data is not None else None,
                metrics=metric_values,
                params=dict(params or {}),
                code_version=code_version(),
                environment=environment(),
                drift_reference=self._put_drift_reference(training_data, target) if training_data is not None else None,
            )
            outcome = None
            if compile:
                checks, data = [], []
                if example is not None:
                    checks.append(batch_from_example(sig, example))
                    data.append(f"input example ({checks[-1].n_rows} rows)")
                if training_data is not None:
                    try:
                        checks.append(batch_from_data(sig, training_data, max_rows=COMPILE_MAX_ROWS))
                        data.append(f"training data ({checks[-1].n_rows} rows, at most {COMPILE_MAX_ROWS})")
                    except ShipyardError as exc:
                        # Rows a request could not send are no check of serving; compiling is
                        # never fatal, so the check goes on without them, and says so.
                        data.append(f"not the training data ({exc.message})")
                report("compiling", 0, None)
                outcome = compile_model(
                    loaded,
                    sig,
                    checks,
                    data=" + ".join(data) or "no rows",
                    progress=lambda done, total: report("verifying", done, total),
                )
            size = saved.path.stat().st_size

            def stored(done: int) -> None:
                report("storing", done, size)
                if progress is not None:
                    progress(done)

            report("storing", 0, size)
            artifact = self.artifacts.put(saved.path, filename=_artifact_filename(saved.path), progress=stored)
            compiled = self._put_compiled(outcome, Path(tmp)) if outcome is not None else None
            draft = VersionDraft(
                flavor=fmt.name,
                artifact=artifact,
                signature=sig,
                lineage=lineage,
                description=description,
                created_by=created_by or current_user(),
                parent_version=parent_version,
                trusted_types=trusted,
                unsafe_format=fmt.unsafe,
                trust_code=trust_code,
                tags=dict(tags or {}),
                input_example=example,
                flavor_metadata=dict(saved.metadata),
                compiled=compiled,
                serving_runtime=outcome.serving_runtime if outcome is not None else NATIVE,
                compile_error=outcome.error if outcome is not None else None,
            )
            version = self.store.add_version(
                name, draft, owner=draft.created_by, actor=actor, source=source_address, reason=reason,
                within=self.provenance.signing_hook() if self.provenance is not None else None, tier=tier,
            )  # fmt: skip
            if marks:
                merge_marks(self.store, name, marks, actor=actor, source=source_address)
        logger.info(
            "registered %s (flavor %s, sha256 %s), serving %s",
            version.ref,
            version.flavor,
            artifact.sha256[:12],
            runtime_statement(version.serving_runtime, version.compile_error, _report_of(version)),
        )
        return version

    def compile_version(
        self,
        ref: str | ModelRef,
        *,
        force: bool = False,
        max_rows: int = COMPILE_MAX_ROWS,
        progress: Callable[[int, int], None] | None = None,
        data: Any = None,
    ) -> ModelVersion:
        """Compile an existing version and record the outcome (an addition to the version).

        The compiled form is checked on the input example plus ``data`` (up to ``max_rows``
        rows) when given, else plus synthetic rows drawn from the stored training-data
        profile; the report says which.
        """
        version = self.resolve(ref)
        if not force and (version.compiled is not None or version.compile_error is not None):
            raise Conflict(
                f"{version.ref} was compiled already (serving {version.serving_runtime})",
                hint="pass --force (force=True) to compile it again",
            )
        native = self.load_version(version, runtime=NATIVE)
        checks, described = [], []
        if version.input_example is not None:
            checks.append(batch_from_example(version.signature, version.input_example))
            described.append(f"input example ({checks[-1].n_rows} rows)")
        if data is not None:
            checks.append(batch_from_data(version.signature, data, max_rows=max_rows))
            described.append(f"caller data ({checks[-1].n_rows} rows, at most {max_rows})")
        elif version.lineage.profile is not None:
            checks.append(batch_from_profile(version.signature, version.lineage.profile, rows=min(max_rows, 2_000)))
            described.append(f"synthetic rows from the training-data profile ({checks[-1].n_rows} rows)")
        outcome = compile_model(
            native, version.signature, checks, data=" + ".join(described) or "no rows", progress=progress
        )
        with scratch_directory(self.scratch, "compile", lease=True) as tmp:
            compiled = self._put_compiled(outcome, Path(tmp))
        return self.store.set_compiled(
            version.model,
            version.version,
            compiled,
            serving_runtime=outcome.serving_runtime,
            compile_error=outcome.error,
            within=self.provenance.signing_hook((provenance.COMPILED,)) if self.provenance is not None else None,
        )

    def _put_drift_reference(self, training_data: Any, target: Any) -> ArtifactRef:
        """Summarise the training data for drift once (``shipyard.monitoring.drift``) and store the
        summary as a content-addressed blob, so drift never re-reads the training data. (What the
        fingerprint accepts, numbers, strings, booleans, missing values, the summary takes.)"""
        from shipyard.monitoring.drift.training import REFERENCE_FILENAME, summarize_training_data  # pandas: lazily

        summary = summarize_training_data(training_data, target)
        return self.artifacts.put_bytes(summary.to_bytes(), filename=REFERENCE_FILENAME)

    def _put_compiled(self, outcome: Outcome, tmp: Path) -> CompiledArtifact | None:
        """Store the compiled model's bytes (content-addressed, like every artifact)."""
        if outcome.model_bytes is None:
            return None
        path = tmp / COMPILED_FILENAME
        path.write_bytes(outcome.model_bytes)
        ref = self.artifacts.put(path, filename=COMPILED_FILENAME)
        return CompiledArtifact(artifact=ref, runtime=ONNXRUNTIME, report=outcome.report)

    def _materialize(
        self, source: Any, tmp: Path, *, flavor: str | None, trusted_types: tuple[str, ...], entry: str | None
    ) -> SavedModel:
        """The artifact file to store for ``source``, in its format."""
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.exists():
                raise InvalidRequest(f"no such file or directory: {path}")
            if path.is_dir() or path.suffix == ".py" or flavor == "python":
                from shipyard.flavors.pyclass import PyClassFlavor

                return PyClassFlavor().package(path, tmp, entry)
            fmt: Flavor = catalog.get(flavor) if flavor else catalog.detect(path)
            if flavor and not fmt.sniff(_head(path), path):
                raise InvalidRequest(f"{path.name} is not a {flavor} file", hint="drop --flavor to detect the format")
            return SavedModel(path=path, flavor=fmt.name)
        fmt = catalog.get(flavor) if flavor else catalog.for_object(source)
        return fmt.save(source, tmp, trusted_types=trusted_types)

    @staticmethod
    def _signature(loaded: LoadedModel, declared: Signature | None, sample: Any) -> Signature:
        from_model = loaded.input_signature()
        if declared is not None:
            sig = declared
        elif sample is not None:
            sig = infer_signature(sample)
            if from_model is not None:
                sig = _reconcile(sig, from_model)
        elif from_model is not None:
            sig = from_model
        else:
            raise InvalidRequest(
                "cannot work out the model's input signature",
                hint="pass a sample of the training inputs (--sample FILE, sample=X[:5])",
            )
        return sig.with_outputs(loaded.outputs)

    @staticmethod
    def _check_answers(loaded: LoadedModel, sig: Signature, example: Mapping[str, Any]) -> None:
        batch = validate_inputs(sig, raw_inputs_from_example(example, sig), max_rows=EXAMPLE_ROWS)
        try:
            outputs = loaded.predict(batch)
        except ShipyardError:
            raise
        except Exception as exc:
            raise ModelRejected(
                f"the model fails on its own sample: {type(exc).__name__}: {exc}"[:300],
                hint="check that the sample has the columns and types the model was trained on",
            ) from exc
        misshapen = misshapen_output((spec.name for spec in loaded.outputs), outputs, batch.n_rows)
        if misshapen is not None:
            raise ModelRejected(f"the model's output {misshapen!r} does not have one row per input row")

    # -- reading ------------------------------------------------------------------------
    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        return self.store.resolve(parse_ref(ref) if isinstance(ref, str) else ref)

    def load(self, ref: str | ModelRef) -> tuple[ModelVersion, LoadedModel]:
        version = self.resolve(ref)
        return version, self.load_version(version)

    def load_version(self, version: ModelVersion, *, runtime: str = "auto", allow_retired: bool = False) -> LoadedModel:
        """Fetch (digest checked) and load ``version`` with exactly the trust it was registered with.

        ``runtime``: ``auto`` loads the form the version serves with, ``native`` the
        registered artifact, ``compiled`` its verified compiled form (``ModelLoadError`` if none).
        A retired version is refused (``Gone``, naming its successor) unless ``allow_retired``
        (checking it); an archived one always (``Conflict``: restore it first).
        """
        if runtime not in RUNTIMES:
            raise InvalidRequest(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        check_loadable(version, allow_retired=allow_retired)
        chosen = version.serving_runtime if runtime == "auto" else runtime
        # The registered artifact is digest-checked whichever form serves: a version whose
        # original bytes were tampered with must not keep serving through its compiled form.
        path = self.artifacts.fetch(version.artifact)
        self.check_signatures(version, compiled=chosen == COMPILED)
        if chosen != COMPILED:
            return catalog.get(version.flavor).load(path, load_options(version, scratch=self.scratch))
        compiled = version.compiled
        if compiled is None:
            raise ModelLoadError(
                f"{version.ref} has no compiled form" + (f": {version.compile_error}" if version.compile_error else ""),
                hint=f"compile it with `shipyard models compile {version.ref}`, or serve it with --runtime native",
            )
        if not compiled.agreed:
            raise ModelLoadError(
                f"the compiled form of {version.ref} does not answer like the native model: "
                f"{compiled.report.get('reason') or version.compile_error}",
                hint="serve it with --runtime native",
            )
        from shipyard.compile.runtime import load_compiled

        return load_compiled(self.artifacts.fetch(compiled.artifact).read_bytes(), version.signature)

    def signature_statuses(self, version: ModelVersion) -> list[provenance.SignatureStatus]:
        """Whether each of ``version``'s artifacts is signed by a trusted key (empty without provenance)."""
        if self.provenance is None:
            return []
        stored = self.store.signatures(version.model, version.version)
        kinds = [provenance.MODEL] + ([provenance.COMPILED] if version.compiled is not None else [])
        return [self.provenance.status(version, stored, kind) for kind in kinds]

    def check_signatures(self, version: ModelVersion, *, compiled: bool = False) -> None:
        """Refuse (``signing = strict``) or warn and audit a load whose artifacts are not signed right."""
        if self.provenance is None:
            return
        wanted = {provenance.MODEL, provenance.COMPILED} if compiled else {provenance.MODEL}
        for status in self.signature_statuses(version):
            if status.kind in wanted:
                self.provenance.enforce(status, audit=self.store.audit.append)

    def artifact_path(self, name: str, version: int) -> tuple[ModelVersion, Path]:
        record = self.store.get_version(name, version)
        check_loadable(record, allow_retired=True)
        return record, self.artifacts.fetch(record.artifact)

    def verify(self) -> Iterator[VerifyResult]:
        """Re-hash every version's artifacts in the store: the registered one, then its
        compiled form when it has one."""
        for model, number, ref in self.store.iter_artifacts():
            record = self.store.get_version(model, number)
            archived = record.archived_at is not None
            yield self._verify_one(model, number, ref, "model", archived=archived)
            if record.compiled is not None:
                yield self._verify_one(model, number, record.compiled.artifact, "compiled", archived=archived)

    def _verify_one(self, model: str, number: int, ref: ArtifactRef, kind: str, *, archived: bool) -> VerifyResult:
        """Re-hash one artifact, in archive storage for an archived version."""
        try:
            if archived:
                self.artifacts.verify_archived(ref)
            else:
                self.artifacts.verify(ref)
        except ShipyardError as exc:
            return VerifyResult(model, number, ref, ok=False, error=str(exc), kind=kind)
        return VerifyResult(model, number, ref, ok=True, kind=kind)


def check_loadable(version: ModelVersion, *, allow_retired: bool = False) -> None:
    """Refuse to load an archived version (its bytes are in archive storage) and, unless
    ``allow_retired``, a retired one (``Gone``, naming its successor)."""
    if version.lifecycle == RETIRED and not allow_retired:
        raise gone(version.ref, version.successor, archived=version.archived_at is not None)
    if version.archived_at is not None:
        raise Conflict(
            f"{version.ref} is archived: its artifacts are in archive storage",
            hint=f"shipyard models restore {version.ref}",
        )


def warm_up(loaded: LoadedModel, version: ModelVersion) -> Batch | None:
    """Run the version's input example through the model once (first-call costs paid here)."""
    if version.input_example is None:
        return None
    batch = validate_inputs(
        version.signature, raw_inputs_from_example(version.input_example, version.signature), max_rows=EXAMPLE_ROWS
    )
    loaded.predict(batch)
    return batch


def _reconcile(from_sample: Signature, from_model: Signature) -> Signature:
    """Names and types from the sample; whether the model wants a DataFrame from the model."""
    if from_model.kind == "tensors":
        return from_model
    if len(from_sample.inputs) != len(from_model.inputs):
        raise InvalidRequest(
            f"the sample has {len(from_sample.inputs)} columns but the model expects {len(from_model.inputs)}"
        )
    if from_model.frame:
        missing = [n for n in from_model.input_names if n not in from_sample.input_names]
        if missing:
            raise InvalidRequest(
                f"the model was fitted on columns the sample lacks: {', '.join(missing[:5])}",
                hint="pass a sample with the training column names",
            )
        by_name = {f.name: f for f in from_sample.inputs}
        return Signature(kind="columns", inputs=tuple(by_name[n] for n in from_model.input_names), frame=True)
    return Signature(kind="columns", inputs=from_sample.inputs, frame=False)


def _check_output_names(names: Mapping[str, str] | None) -> dict[str, str] | None:
    if names is None:
        return None
    if not isinstance(names, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise InvalidRequest("output names must map each output's name to the name it answers as")
    return dict(names)


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"metric {key!r} must be a number, got {value!r}") from exc
        if not math.isfinite(number):
            raise InvalidRequest(f"metric {key!r} must be finite, got {value!r}")
        out[str(key)] = number
    return out


def _report_of(version: ModelVersion) -> Mapping[str, Any] | None:
    return version.compiled.report if version.compiled is not None else None


def _artifact_filename(path: Path) -> str:
    return path.name[:200] or "model"


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


__all__ = ["RegistryService", "VerifyResult", "check_loadable", "current_user", "load_options", "warm_up"]


def _rejected(exc: ModelLoadError) -> ModelRejected:
    return ModelRejected(exc.message, hint=exc.hint or "the file cannot be loaded as the format it claims to be")
