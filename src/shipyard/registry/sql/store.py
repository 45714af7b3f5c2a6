"""The registry store: models, their immutable numbered versions, tags and aliases, in SQL.

Every public method validates names first (``shipyard.registry.refs``), runs as one
transaction through ``transactions.run`` (which retries lock contention and translates
driver errors), and hands back frozen records from ``shipyard.registry.types``.

Version numbers are assigned inside the writing transaction as ``max(version) + 1``. On
SQLite the transaction began IMMEDIATE, so it already holds the only write lock; on
PostgreSQL the model row is locked ``FOR UPDATE`` first, so writers to one model queue up
while other models proceed. The unique constraint on (model_id, version) stays as the
final guard, and a violation of it is retried rather than reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from shipyard.errors import AliasNotFound, Conflict, ModelNotFound
from shipyard.governance.chain import AuditEvent
from shipyard.governance.signing import Signature
from shipyard.registry.refs import ModelRef, check_alias, check_model_name, parse_ref, parse_version
from shipyard.registry.sql import audit as audit_sql
from shipyard.registry.sql import compiled as compiled_sql
from shipyard.registry.sql import governed, migrate, queries, signatures, transactions
from shipyard.registry.sql.alerts import AlertStore
from shipyard.registry.sql.approvals import ApprovalStore
from shipyard.registry.sql.audit import AuditLog, append_in, local_actor
from shipyard.registry.sql.cards import CardStore
from shipyard.registry.sql.controls import ControlsStore
from shipyard.registry.sql.deployments import DeploymentStore
from shipyard.registry.sql.engine import create_engine, insert_ignore, mask_url, parse_url, upsert
from shipyard.registry.sql.feedback import FeedbackStore
from shipyard.registry.sql.flags import FlagStore
from shipyard.registry.sql.keys import KeyStore
from shipyard.registry.sql.lifecycle import LifecycleStore, refuse_alias_to_retired
from shipyard.registry.sql.policies import PolicyStore, current_in
from shipyard.registry.sql.privacy import PrivacyStore
from shipyard.registry.sql.reviews import ReviewStore
from shipyard.registry.sql.rollouts import RolloutStore
from shipyard.registry.sql.rows import (
    artifact_ref,
    check_description,
    check_short_text,
    check_tag,
    model_record,
    version_values,
)
from shipyard.registry.sql.tables import aliases, model_tags, model_versions, models, version_tags
from shipyard.registry.types import ArtifactRef, CompiledArtifact, Model, ModelVersion, VersionDraft

logger = logging.getLogger(__name__)

T = TypeVar("T")
VersionStep = Callable[[Connection, int, ModelVersion], None]
"""Extra work in a version's write transaction (``registry.provenance`` signs there)."""
ARTIFACT_PAGE = 500


class RegistryStore:
    """Registry metadata in SQLite (a file, the default) or PostgreSQL, chosen by URL."""

    def __init__(self, url: str, *, audit_hmac_key: bytes | None = None) -> None:
        parsed = parse_url(url)
        self.url = mask_url(parsed)
        """The database URL with any password masked; safe to log."""
        self._engine = create_engine(parsed)
        try:
            migrate.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self.audit = AuditLog(self._engine, hmac_key=audit_hmac_key)
        """The audit trail (``registry/sql/audit.py``)."""
        self.keys = KeyStore(self._engine, hmac_key=audit_hmac_key)
        """API keys (``registry/sql/keys.py``)."""
        self.deployments = DeploymentStore(self._engine, hmac_key=audit_hmac_key)
        """Deployments and their revisions (``registry/sql/deployments.py``)."""
        self.rollouts = RolloutStore(self._engine)
        """Rollout telemetry windows, assignments and outcomes (``registry/sql/rollouts.py``)."""
        self.feedback = FeedbackStore(self._engine)
        """Labels, values, outcomes and attributes of logged predictions (``registry/sql/feedback.py``)."""
        self.alerts = AlertStore(self._engine)
        """Alert states, events and deliveries (``registry/sql/alerts.py``)."""
        self.lifecycle = LifecycleStore(self._engine, hmac_key=audit_hmac_key)
        """Deprecate, retire, reinstate versions; archive marks (``registry/sql/lifecycle.py``)."""
        self.controls = ControlsStore(self._engine, hmac_key=audit_hmac_key)
        """Per-target serving controls: review, guardrails, fallback, PII, retention (``registry/sql/controls.py``)."""
        self.reviews = ReviewStore(self._engine, self.feedback, hmac_key=audit_hmac_key)
        """The human review queue: held predictions and their decisions (``registry/sql/reviews.py``)."""
        self.cards = CardStore(self._engine, hmac_key=audit_hmac_key)
        """Model card revisions: narrative fields and fairness figures (``registry/sql/cards.py``)."""
        self.policies = PolicyStore(self._engine, hmac_key=audit_hmac_key)
        """The governance policy and its revisions (``registry/sql/policies.py``)."""
        self.approvals = ApprovalStore(self._engine, hmac_key=audit_hmac_key)
        """Approval requests and the gate's status of a version (``registry/sql/approvals.py``)."""
        self.flags = FlagStore(self._engine, hmac_key=audit_hmac_key)
        """Governance flags: emergency rollbacks to review afterwards (``registry/sql/flags.py``)."""
        self.privacy = PrivacyStore(self._engine, hmac_key=audit_hmac_key)
        """Retention and erasure of feedback and review tickets (``registry/sql/privacy.py``)."""
        logger.debug("registry store open at %s", self.url)

    def __repr__(self) -> str:
        return f"RegistryStore({self.url!r})"

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    # -- models ---------------------------------------------------------------------------

    def ensure_model(self, name: str, *, description: str = "", owner: str = "") -> Model:
        """The model called ``name``, created (with these fields) if it does not exist yet."""
        check_model_name(name)
        _check_model_fields(description, owner)
        existing = self._read(lambda conn: queries.find_model(conn, name), f"reading model {name!r}")
        if existing is not None:
            return existing

        def work(conn: Connection) -> Model:
            now = queries.now()
            values = {"name": name, "description": description, "owner": owner, "created_at": now, "updated_at": now}
            insert_ignore(conn, models, values, ["name"])
            return queries.load_model(conn, queries.model_row(conn, name))

        return self._write(work, f"creating model {name!r}")

    def create_model(
        self, name: str, *, description: str = "", owner: str = "", tags: Mapping[str, str] | None = None
    ) -> Model:
        """Create the model ``name``; ``Conflict`` if it exists already."""
        check_model_name(name)
        _check_model_fields(description, owner)
        for key, value in (tags or {}).items():
            check_tag(key, value)

        def work(conn: Connection) -> Model:
            if conn.execute(sa.select(models.c.id).where(models.c.name == name)).first() is not None:
                raise Conflict(f"model {name!r} already exists")
            now = queries.now()
            values = {"name": name, "description": description, "owner": owner, "created_at": now, "updated_at": now}
            model_id = conn.execute(sa.insert(models).values(**values).returning(models.c.id)).scalar_one()
            if tags:
                conn.execute(
                    sa.insert(model_tags), [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()]
                )
            return queries.load_model(conn, queries.model_row(conn, name))

        return self._write(work, f"creating model {name!r}")

    def get_model(self, name: str) -> Model:
        check_model_name(name)
        return self._read(
            lambda conn: queries.load_model(conn, queries.model_row(conn, name)), f"reading model {name!r}"
        )

    def list_models(self) -> list[Model]:
        """Every model, by name."""

        def work(conn: Connection) -> list[Model]:
            tags: dict[int, dict[str, str]] = {}
            for row in conn.execute(sa.select(model_tags)).mappings():
                tags.setdefault(row["model_id"], {})[row["key"]] = row["value"]
            alias_map: dict[int, dict[str, int]] = {}
            for row in conn.execute(sa.select(aliases.c.model_id, aliases.c.alias, aliases.c.version)).mappings():
                alias_map.setdefault(row["model_id"], {})[row["alias"]] = row["version"]
            latest_q = sa.select(model_versions.c.model_id, sa.func.max(model_versions.c.version).label("latest"))
            latest = {r.model_id: r.latest for r in conn.execute(latest_q.group_by(model_versions.c.model_id))}
            rows = conn.execute(sa.select(models).order_by(models.c.name)).mappings()
            default_tier = current_in(conn).policy.default_tier
            return [
                model_record(
                    r,
                    tags=tags.get(r["id"], {}),
                    aliases=alias_map.get(r["id"], {}),
                    latest=latest.get(r["id"]),
                    default_tier=default_tier,
                )
                for r in rows
            ]

        return self._read(work, "listing models")

    def update_model(self, name: str, *, description: str | None = None, owner: str | None = None) -> Model:
        """Change a model's description and/or owner (None leaves a field as it is)."""
        check_model_name(name)
        _check_model_fields(description or "", owner or "")
        changes: dict[str, object] = {"updated_at": queries.now()}
        if description is not None:
            changes["description"] = description
        if owner is not None:
            changes["owner"] = owner

        def work(conn: Connection) -> Model:
            row = queries.model_row(conn, name)
            conn.execute(sa.update(models).where(models.c.id == row["id"]).values(**changes))
            return queries.load_model(conn, queries.model_row(conn, name))

        return self._write(work, f"updating model {name!r}")

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        check_model_name(name)
        check_tag(key, value)

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, name)["id"]
            upsert(conn, model_tags, {"model_id": model_id, "key": key, "value": value}, ["model_id", "key"])
            queries.touch(conn, model_id)

        self._write(work, f"tagging model {name!r}")

    def delete_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from a model; removing a tag that is not there is not an error."""
        check_model_name(name)
        check_tag(key, "")

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, name)["id"]
            conn.execute(sa.delete(model_tags).where(model_tags.c.model_id == model_id, model_tags.c.key == key))
            queries.touch(conn, model_id)

        self._write(work, f"untagging model {name!r}")

    # -- versions -------------------------------------------------------------------------

    def add_version(
        self,
        name: str,
        draft: VersionDraft,
        *,
        owner: str = "",
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
        within: VersionStep | None = None,
        tier: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` (creating the model, owned by ``owner``, if needed).

        Its audit entries (registration, trust granted) and ``within`` (signing) commit with it;
        ``actor`` defaults to the local OS user. ``tier``: the model's risk tier, set when the
        model has no version yet, else it must be the tier in force (``Forbidden``)."""
        who = actor or local_actor()
        check_model_name(name)
        _check_model_fields("", owner)
        parent = parse_version(draft.parent_version) if draft.parent_version is not None else None
        compiled_row = compiled_sql.draft_values(draft)

        def work(conn: Connection) -> ModelVersion:
            now = queries.now()
            values = {"name": name, "description": "", "owner": owner, "created_at": now, "updated_at": now}
            insert_ignore(conn, models, values, ["name"])
            model_row = queries.model_row(conn, name, for_update=True)
            model_id = model_row["id"]
            if parent is not None:
                queries.version_row(conn, model_id, name, parent)
            top = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.model_id == model_id)
            )
            number = (top.scalar() or 0) + 1
            if tier is not None:
                governed.tier_at_registration(conn, model_row, tier, has_versions=number > 1, actor=who,
                                              source=source, hmac_key=self.audit.hmac_key)  # fmt: skip
            row = {**version_values(draft, created_at=now), "model_id": model_id, "version": number}
            insert = sa.insert(model_versions).values(**row).returning(model_versions.c.id)
            version_id = conn.execute(insert).scalar_one()
            if draft.tags:
                tag_rows = [{"version_id": version_id, "key": k, "value": v} for k, v in draft.tags.items()]
                conn.execute(sa.insert(version_tags), tag_rows)
            if compiled_row is not None:
                compiled_sql.insert(conn, version_id, compiled_row)
            queries.touch(conn, model_id, now)
            record = queries.load_version(conn, name, model_id, number)
            if within is not None:
                within(conn, version_id, record)
            for event in audit_sql.registration_events(record, actor=who, source=source, reason=reason):
                append_in(conn, event, hmac_key=self.audit.hmac_key)
            return record

        version = self._write(work, f"registering a version of {name!r}", retry_unique=True)
        logger.info("registered %s (%s, sha256 %s)", version.ref, version.flavor, version.artifact.sha256[:12])
        return version

    def get_version(self, name: str, version: int) -> ModelVersion:
        check_model_name(name)
        number = parse_version(version)

        def work(conn: Connection) -> ModelVersion:
            model_id = queries.model_row(conn, name)["id"]
            return queries.load_version(conn, name, model_id, number)

        return self._read(work, f"reading {name}/{number}")

    def set_compiled(
        self,
        name: str,
        version: int,
        compiled: CompiledArtifact | None,
        *,
        serving_runtime: str,
        compile_error: str | None,
        within: VersionStep | None = None,
    ) -> ModelVersion:
        """Record (or replace) the compiled form of ``name/version`` and which form serves;
        the version's own row stays exactly as registered (``sql/compiled.py``)."""
        check_model_name(name)
        number = parse_version(version)
        work = compiled_sql.recorder(name, number, compiled, serving_runtime, compile_error, within=within)
        record = self._write(work, f"recording the compiled form of {name}/{number}")
        shown = f"sha256 {compiled.artifact.sha256[:12]}" if compiled is not None else "none"
        logger.info(
            "compiled form of %s: %s, serving %s (%s)", record.ref, shown, serving_runtime, compile_error or "ok"
        )
        return record

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        check_model_name(name)

        def work(conn: Connection) -> list[ModelVersion]:
            model_id = queries.model_row(conn, name)["id"]
            query = sa.select(model_versions).where(model_versions.c.model_id == model_id)
            rows = list(conn.execute(query.order_by(model_versions.c.version)).mappings())
            return queries.load_versions(conn, name, model_id, rows)

        return self._read(work, f"listing versions of {name!r}")

    def latest_version(self, name: str) -> ModelVersion:
        check_model_name(name)
        return self._read(lambda conn: queries.latest(conn, name), f"reading the latest version of {name!r}")

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        """The version ``ref`` names: ``name`` (latest), ``name@alias`` or ``name/version``."""
        if isinstance(ref, str):
            ref = parse_ref(ref)
        name = check_model_name(ref.name)
        if ref.alias is not None:
            alias = check_alias(ref.alias)

            def by_alias(conn: Connection) -> ModelVersion:
                model_id = queries.model_row(conn, name)["id"]
                query = sa.select(aliases.c.version).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
                number = conn.execute(query).scalar()
                if number is None:
                    raise AliasNotFound(f"model {name!r} has no alias {alias!r}")
                return queries.load_version(conn, name, model_id, number)

            return self._read(by_alias, f"resolving {ref}")
        if ref.version is not None:
            return self.get_version(name, ref.version)
        return self.latest_version(name)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        check_model_name(name)
        number = parse_version(version)
        check_tag(key, value)

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, name)["id"]
            version_id = queries.version_row(conn, model_id, name, number)["id"]
            upsert(conn, version_tags, {"version_id": version_id, "key": key, "value": value}, ["version_id", "key"])

        self._write(work, f"tagging {name}/{number}")

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        """Remove a tag from a version; removing a tag that is not there is not an error."""
        check_model_name(name)
        number = parse_version(version)
        check_tag(key, "")

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, name)["id"]
            version_id = queries.version_row(conn, model_id, name, number)["id"]
            conn.execute(
                sa.delete(version_tags).where(version_tags.c.version_id == version_id, version_tags.c.key == key)
            )

        self._write(work, f"untagging {name}/{number}")

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, source: str = "local",
        reason: str | None = None,
    ) -> None:  # fmt: skip
        """Point ``name@alias`` at ``version`` (which must exist and not be retired), moving the
        alias if it is set; audited as ``actor`` (default the local OS user). A protected alias
        (or one a live deployment sends traffic through) passes the governance gate first, in
        the same transaction (``PolicyRefused`` says what is missing)."""
        event = AuditEvent(actor or local_actor(), source, "alias.set", f"{name}@{alias}", reason=reason)
        check_model_name(name)
        check_alias(alias)
        number = parse_version(version)

        def work(conn: Connection) -> None:
            # Locked like a retirement, so the two never cross (an alias on a retired version).
            model_id = queries.model_row(conn, name, for_update=True)["id"]
            refuse_alias_to_retired(queries.version_row(conn, model_id, name, number), name, alias)
            now = queries.now()
            values = {"model_id": model_id, "alias": alias, "version": number, "updated_at": now}
            before = conn.execute(
                sa.select(aliases.c.version).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
            ).scalar()
            if before != number:
                governed.gate_alias(conn, name, alias, number)
            upsert(conn, aliases, values, ["model_id", "alias"])
            queries.touch(conn, model_id, now)
            moved = replace(event, details={"version": number, "previous": before})
            append_in(conn, moved, hmac_key=self.audit.hmac_key)

        self._write(work, f"setting {name}@{alias}", retry_unique=True)
        logger.info("alias %s@%s -> %s/%d", name, alias, name, number)

    def rollback_alias(
        self, name: str, alias: str, *, to: int | None = None, actor: str | None = None, source: str = "local",
        reason: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Emergency rollback: point ``name@alias`` back at the version it had before its last
        move (or ``to``), without the gate; audited ``alias.rollback`` (``emergency``) with an
        ``emergency_rollback`` governance flag, both in the move's transaction."""
        who = actor or local_actor()
        check_model_name(name)
        check_alias(alias)
        wanted = parse_version(to) if to is not None else None

        def work(conn: Connection) -> dict[str, Any]:
            model_id = queries.model_row(conn, name, for_update=True)["id"]
            before = conn.execute(
                sa.select(aliases.c.version).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
            ).scalar()
            number = governed.rollback_target(conn, name, alias, before, wanted)
            refuse_alias_to_retired(queries.version_row(conn, model_id, name, number), name, alias)
            now = queries.now()
            upsert(conn, aliases, {"model_id": model_id, "alias": alias, "version": number, "updated_at": now},
                   ["model_id", "alias"])  # fmt: skip
            queries.touch(conn, model_id, now)
            details: dict[str, Any] = {"version": number, "previous": before, "emergency": True}
            flag = governed.flag_emergency(conn, f"{name}@{alias}", {**details, "reason": reason}, actor=who)
            details["flag"] = flag
            event = AuditEvent(who, source, "alias.rollback", f"{name}@{alias}", reason=reason, details=details)
            append_in(conn, event, hmac_key=self.audit.hmac_key)
            return {"model": name, "alias": alias, **details}

        done = self._write(work, f"rolling back {name}@{alias}", retry_unique=True)
        logger.warning("emergency rollback %s@%s -> %s (was %s)", name, alias, done["version"], done["previous"])
        return done

    def set_tier(
        self, name: str, tier: str, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> Model:
        """Set model ``name``'s risk tier (admins only, at the edge); audited ``model.tier``."""
        check_model_name(name)
        who = actor or local_actor()

        def work(conn: Connection) -> Model:
            governed.set_tier_in(conn, name, tier, actor=who, source=source, reason=reason,
                                 hmac_key=self.audit.hmac_key)  # fmt: skip
            return queries.load_model(conn, queries.model_row(conn, name))

        return self._write(work, f"setting the tier of {name!r}")

    def delete_alias(
        self, name: str, alias: str, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> None:
        event = AuditEvent(actor or local_actor(), source, "alias.delete", f"{name}@{alias}", reason=reason)
        check_model_name(name)
        check_alias(alias)

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, name)["id"]
            gone = conn.execute(sa.delete(aliases).where(aliases.c.model_id == model_id, aliases.c.alias == alias))
            if gone.rowcount == 0:
                raise AliasNotFound(f"model {name!r} has no alias {alias!r}")
            queries.touch(conn, model_id)
            append_in(conn, event, hmac_key=self.audit.hmac_key)

        self._write(work, f"deleting {name}@{alias}")
        logger.info("alias %s@%s deleted", name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` for ``name``, in one indexed query (servers poll this)."""
        check_model_name(name)

        def work(conn: Connection) -> dict[str, int]:
            joined = models.outerjoin(aliases, aliases.c.model_id == models.c.id)
            query = sa.select(models.c.id, aliases.c.alias, aliases.c.version).select_from(joined)
            rows = conn.execute(query.where(models.c.name == name)).all()
            if not rows:
                raise ModelNotFound(f"model {name!r} not found")
            return {r.alias: r.version for r in sorted(rows, key=lambda r: r.alias or "") if r.alias is not None}

        return self._read(work, f"reading aliases of {name!r}")

    def signatures(self, name: str, version: int) -> dict[str, tuple[str, Signature]]:
        """``{kind: (sha256, signature)}`` recorded for ``name/version`` (``sql/signatures.py``)."""
        return self._read(lambda conn: signatures.for_version(conn, name, version), f"reading signatures of {name}")

    # -- artifacts ------------------------------------------------------------------------

    def iter_artifacts(self) -> Iterator[tuple[str, int, ArtifactRef]]:
        """``(model, version, artifact)`` for every version, in registration order.

        Read in pages, each its own short transaction, so a slow consumer (``shipyard
        verify`` hashing large files) never holds a connection or a snapshot open.
        """
        columns = [
            model_versions.c.id,
            models.c.name,
            model_versions.c.version,
            model_versions.c.artifact_sha256,
            model_versions.c.artifact_size,
            model_versions.c.artifact_filename,
        ]
        joined = model_versions.join(models, models.c.id == model_versions.c.model_id)
        last_id = 0
        while True:
            query = (
                sa.select(*columns)
                .select_from(joined)
                .where(model_versions.c.id > last_id)
                .order_by(model_versions.c.id)
                .limit(ARTIFACT_PAGE)
            )

            def fetch(conn: Connection, query: sa.Select[tuple[object, ...]] = query) -> list[RowMapping]:
                return list(conn.execute(query).mappings())

            page = self._read(fetch, "listing artifacts")
            for row in page:
                yield row["name"], int(row["version"]), artifact_ref(row)
            if len(page) < ARTIFACT_PAGE:
                return
            last_id = page[-1]["id"]

    # -- inside a transaction -------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str, *, retry_unique: bool = False) -> T:
        return transactions.run(self._engine, work, write=True, retry_unique=retry_unique, what=what)


def _check_model_fields(description: str, owner: str) -> None:
    check_description(description)
    check_short_text("owner", owner)
