"""Version lifecycle in the registry database: deprecate, retire, reinstate, and the
archive marks (columns of ``model_versions``, migration 0005).

Each change runs in one transaction with the model row locked ``FOR UPDATE`` (PostgreSQL;
SQLite's IMMEDIATE transaction holds the only write lock), so it cannot cross an alias move
of the same model, and appends its audit entry (``version.deprecate``, ``version.retire``,
``version.reinstate``, ``version.archive``, ``version.restore``) in that transaction.

The artifacts themselves are moved by ``registry/archiving.py``; here only the marks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from shipyard.errors import Conflict, InvalidRequest
from shipyard.governance.chain import AuditEvent
from shipyard.registry.lifecycle import check_sunset, parse_successor
from shipyard.registry.refs import check_model_name, parse_version
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.rows import check_description, check_short_text, lifecycle_fields
from shipyard.registry.sql.tables import (
    aliases,
    compiled_versions,
    deployment_revisions,
    deployments,
    model_versions,
    models,
)
from shipyard.registry.types import ACTIVE, DEPRECATED, RETIRED, ModelVersion, VersionLifecycle

T = TypeVar("T")
Key = tuple[str, int]


def refuse_alias_to_retired(row: RowMapping, name: str, alias: str) -> None:
    """``Conflict`` when the version row ``row`` is retired (an alias may not point at it)."""
    if row["lifecycle"] != RETIRED:
        return
    successor = row["successor"]
    instead = f"; point it at its successor {successor}" if successor else ""
    raise Conflict(
        f"{name}/{row['version']} is retired: {name}@{alias} cannot point at it{instead}",
        hint=f"`shipyard models reinstate {name}/{row['version']}` brings it back first",
        successor=successor,
    )


class LifecycleStore:
    """Deprecate, retire and reinstate versions, mark them archived; shares the store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    # -- changes --------------------------------------------------------------------------

    def deprecate(
        self,
        name: str,
        version: int,
        *,
        sunset_at: datetime | None = None,
        successor: str | None = None,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> ModelVersion:
        """Mark ``name/version`` deprecated (again: a new sunset or successor replaces the old)."""
        number, who = self._check(name, version, actor, source, reason)
        if successor is not None:
            parse_successor(successor, name=name, version=number)
        sunset = check_sunset(sunset_at, queries.now())

        def work(conn: Connection) -> ModelVersion:
            model_id, row = _locked(conn, name, number)
            if row["lifecycle"] == RETIRED:
                raise Conflict(
                    f"{name}/{number} is retired already",
                    hint=f"`shipyard models reinstate {name}/{number}` first to make it answer again",
                )
            if successor is not None:
                _check_successor_exists(conn, successor, name, number)
            now = queries.now()
            values = {
                "lifecycle": DEPRECATED,
                "deprecated_at": row["deprecated_at"] or now,
                "sunset_at": sunset,
                "successor": successor,
                "lifecycle_reason": reason,
            }
            return self._change(
                conn, row, values, at=(model_id, name), event=("version.deprecate", who, source, reason)
            )

        return self._write(work, f"deprecating {name}/{number}")

    def retire(
        self,
        name: str,
        version: int,
        *,
        successor: str | None = None,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> ModelVersion:
        """Retire ``name/version``: it answers 410 naming ``successor`` (or the successor its
        deprecation named). Refused while an alias points at it."""
        number, who = self._check(name, version, actor, source, reason)
        if successor is not None:
            parse_successor(successor, name=name, version=number)

        def work(conn: Connection) -> ModelVersion:
            model_id, row = _locked(conn, name, number)
            if row["lifecycle"] == RETIRED:
                raise Conflict(f"{name}/{number} is retired already")
            pointing = sorted(
                conn.execute(
                    sa.select(aliases.c.alias).where(aliases.c.model_id == model_id, aliases.c.version == number)
                ).scalars()
            )
            if pointing:
                shown = ", ".join(f"{name}@{a}" for a in pointing)
                raise Conflict(
                    f"{name}/{number} cannot be retired: {shown} points at it",
                    hint=f"move the alias first (shipyard models alias {name} {pointing[0]} VERSION)",
                    aliases=pointing,
                )
            using = _deployments_naming(conn, f"{name}/{number}")
            if using:
                raise Conflict(
                    f"{name}/{number} cannot be retired: deployment {', '.join(using)} serves it",
                    hint="apply the deployment a spec without it first (shipyard deploy apply)",
                    deployments=using,
                )
            chosen = successor if successor is not None else row["successor"]
            if chosen is not None:
                _check_successor_exists(conn, chosen, name, number)
            now = queries.now()
            values = {
                "lifecycle": RETIRED,
                "deprecated_at": row["deprecated_at"] or now,
                "retired_at": now,
                "successor": chosen,
                "lifecycle_reason": reason if reason is not None else row["lifecycle_reason"],
            }
            event = ("version.retire", who, source, reason)
            return self._change(conn, row, values, at=(model_id, name), event=event)

        return self._write(work, f"retiring {name}/{number}")

    def reinstate(
        self, name: str, version: int, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> ModelVersion:
        """Make a deprecated or retired version ``active`` again (refused while archived)."""
        number, who = self._check(name, version, actor, source, reason)

        def work(conn: Connection) -> ModelVersion:
            model_id, row = _locked(conn, name, number)
            if row["lifecycle"] == ACTIVE:
                raise Conflict(f"{name}/{number} is active already")
            if row["archived_at"] is not None:
                raise Conflict(
                    f"{name}/{number} is archived: restore its artifacts before reinstating it",
                    hint=f"shipyard models restore {name}/{number}",
                )
            values = {
                "lifecycle": ACTIVE,
                "deprecated_at": None,
                "sunset_at": None,
                "successor": None,
                "retired_at": None,
                "lifecycle_reason": reason,
            }
            return self._change(
                conn, row, values, at=(model_id, name), event=("version.reinstate", who, source, reason)
            )

        return self._write(work, f"reinstating {name}/{number}")

    def check_archivable(self, name: str, version: int) -> ModelVersion:
        """The record of ``name/version`` if it may be archived now (retired, not archived)."""
        number = parse_version(version)
        check_model_name(name)

        def work(conn: Connection) -> ModelVersion:
            model_id = queries.model_row(conn, name)["id"]
            _archivable(queries.version_row(conn, model_id, name, number), name)
            return queries.load_version(conn, name, model_id, number)

        return self._read(work, f"reading {name}/{number}")

    def check_restorable(self, name: str, version: int) -> ModelVersion:
        """The record of ``name/version`` if its artifacts are archived."""
        number = parse_version(version)
        check_model_name(name)

        def work(conn: Connection) -> ModelVersion:
            model_id = queries.model_row(conn, name)["id"]
            _restorable(queries.version_row(conn, model_id, name, number), name)
            return queries.load_version(conn, name, model_id, number)

        return self._read(work, f"reading {name}/{number}")

    def mark_archived(
        self,
        name: str,
        version: int,
        *,
        details: dict[str, Any],
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> ModelVersion:
        """Record that the artifacts of retired ``name/version`` are in archive storage."""
        number, who = self._check(name, version, actor, source, reason)

        def work(conn: Connection) -> ModelVersion:
            model_id, row = _locked(conn, name, number)
            _archivable(row, name)
            values = {"archived_at": queries.now()}
            return self._change(
                conn, row, values, at=(model_id, name), event=("version.archive", who, source, reason), extra=details
            )

        return self._write(work, f"archiving {name}/{number}")

    def mark_restored(
        self,
        name: str,
        version: int,
        *,
        details: dict[str, Any],
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> ModelVersion:
        """Record that the artifacts of ``name/version`` are back in the store (it stays retired)."""
        number, who = self._check(name, version, actor, source, reason)

        def work(conn: Connection) -> ModelVersion:
            model_id, row = _locked(conn, name, number)
            _restorable(row, name)
            values = {"archived_at": None}
            return self._change(
                conn, row, values, at=(model_id, name), event=("version.restore", who, source, reason), extra=details
            )

        return self._write(work, f"restoring {name}/{number}")

    # -- reads ----------------------------------------------------------------------------

    def states(self, names: Iterable[str]) -> dict[Key, VersionLifecycle]:
        """The lifecycle of every version of ``names`` that is not ``active``, in one query
        (servers poll this for the versions they serve)."""
        wanted = sorted({check_model_name(n) for n in names})
        if not wanted:
            return {}
        joined = model_versions.join(models, models.c.id == model_versions.c.model_id)
        query = (
            sa.select(models.c.name, model_versions)
            .select_from(joined)
            .where(models.c.name.in_(wanted), model_versions.c.lifecycle != ACTIVE)
        )

        def work(conn: Connection) -> dict[Key, VersionLifecycle]:
            return {(r["name"], int(r["version"])): _lifecycle(r["name"], r) for r in conn.execute(query).mappings()}

        return self._read(work, "reading version lifecycles")

    def digests_in_use(self, digests: Iterable[str], *, archived: bool, excluding: Key) -> set[str]:
        """Which of ``digests`` another version (than ``excluding``) references as its model or
        compiled artifact, among versions whose artifacts are archived (``archived``) or not."""
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        name, number = excluding
        joined = model_versions.join(models, models.c.id == model_versions.c.model_id).outerjoin(
            compiled_versions, compiled_versions.c.version_id == model_versions.c.id
        )
        is_archived = model_versions.c.archived_at.is_not(None) if archived else model_versions.c.archived_at.is_(None)
        query = (
            sa.select(model_versions.c.artifact_sha256, compiled_versions.c.artifact_sha256.label("compiled_sha256"))
            .select_from(joined)
            .where(
                is_archived,
                sa.not_(sa.and_(models.c.name == name, model_versions.c.version == number)),
                sa.or_(
                    model_versions.c.artifact_sha256.in_(wanted),
                    compiled_versions.c.artifact_sha256.in_(wanted),
                ),
            )
        )

        def work(conn: Connection) -> set[str]:
            found: set[str] = set()
            for row in conn.execute(query):
                found.update(d for d in row if d is not None)
            return found & set(wanted)

        return self._read(work, "reading artifact references")

    # -- inside a transaction -------------------------------------------------------------

    def _check(self, name: str, version: int, actor: str | None, source: str, reason: str | None) -> tuple[int, str]:
        who = actor or local_actor()
        check_model_name(name)
        number = parse_version(version)
        check_short_text("actor", who)
        check_short_text("source", source)
        if reason is not None:
            check_description(reason)
            if len(reason) > 4096:
                raise InvalidRequest("a reason has at most 4096 characters")
        return number, who

    def _change(
        self,
        conn: Connection,
        row: RowMapping,
        values: dict[str, Any],
        *,
        at: tuple[int, str],
        event: tuple[str, str, str, str | None],
        extra: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Update ``row`` with ``values`` and append the audit entry ``event`` (action, actor,
        source, reason) for the version of model ``at`` (id, name); the fresh record."""
        model_id, name = at
        action, who, source, reason = event
        number = int(row["version"])
        conn.execute(sa.update(model_versions).where(model_versions.c.id == row["id"]).values(**values))
        queries.touch(conn, model_id)
        record = queries.load_version(conn, name, model_id, number)
        state = record.lifecycle_state.to_dict()
        details = {
            "lifecycle": state["lifecycle"],
            "previous": row["lifecycle"],
            **{k: state[k] for k in ("sunset_at", "successor", "archived_at") if state[k] is not None},
            **(extra or {}),
        }
        append_in(conn, AuditEvent(who, source, action, record.ref, reason=reason, details=details),
                  hmac_key=self._hmac_key)  # fmt: skip
        return record

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=True, what=what)


def _locked(conn: Connection, name: str, number: int) -> tuple[int, RowMapping]:
    model_id = int(queries.model_row(conn, name, for_update=True)["id"])
    return model_id, queries.version_row(conn, model_id, name, number)


def _archivable(row: RowMapping, name: str) -> None:
    ref = f"{name}/{row['version']}"
    if row["lifecycle"] != RETIRED:
        raise Conflict(
            f"{ref} is {row['lifecycle']}: only a retired version's artifacts are archived",
            hint=f"retire it first (shipyard models retire {ref} --archive)",
        )
    if row["archived_at"] is not None:
        raise Conflict(f"{ref} is archived already")


def _restorable(row: RowMapping, name: str) -> None:
    if row["archived_at"] is None:
        raise Conflict(f"{name}/{row['version']} is not archived: there is nothing to restore")


def _check_successor_exists(conn: Connection, text: str, name: str, number: int) -> None:
    """The successor must be in the registry: its model, and the version when it names one
    (which must not be retired itself)."""
    ref = parse_successor(text, name=name, version=number)
    found = conn.execute(sa.select(models.c.id).where(models.c.name == ref.name)).scalar()
    if found is None:
        raise InvalidRequest(f"successor {text!r}: there is no model {ref.name!r}")
    if ref.version is None:
        return
    row = conn.execute(
        sa.select(model_versions.c.lifecycle).where(
            model_versions.c.model_id == found, model_versions.c.version == ref.version
        )
    ).first()
    if row is None:
        raise InvalidRequest(f"successor {text!r}: model {ref.name!r} has no version {ref.version}")
    if row.lifecycle == RETIRED:
        raise InvalidRequest(f"successor {text!r} is retired itself", hint="name a version that answers")


def _lifecycle(name: str, row: RowMapping) -> VersionLifecycle:
    fields = lifecycle_fields(row)
    return VersionLifecycle(
        model=name,
        version=int(row["version"]),
        state=fields["lifecycle"],
        deprecated_at=fields["deprecated_at"],
        sunset_at=fields["sunset_at"],
        successor=fields["successor"],
        retired_at=fields["retired_at"],
        archived_at=fields["archived_at"],
        reason=fields["lifecycle_reason"],
    )


def _deployments_naming(conn: Connection, ref: str) -> list[str]:
    """The live deployments whose current spec has a variant on exactly ``ref``
    (``name/version``; variants that follow an alias are covered by the alias check)."""
    query = (
        sa.select(deployments.c.name, deployment_revisions.c.spec_json)
        .join(
            deployment_revisions,
            sa.and_(
                deployment_revisions.c.deployment_id == deployments.c.id,
                deployment_revisions.c.revision == deployments.c.current_revision,
            ),
        )
        .where(deployments.c.state != "deleted")
    )
    found = []
    for deployment, spec_json in conn.execute(query):
        variants = json.loads(spec_json).get("variants", {})
        if any(isinstance(v, dict) and v.get("model") == ref for v in variants.values()):
            found.append(str(deployment))
    return sorted(found)
