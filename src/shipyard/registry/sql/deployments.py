"""Deployments in the registry database (tables ``deployments`` and ``deployment_revisions``).

A deployment is a named endpoint; each apply that changes its spec adds the next immutable
revision (1, 2, 3, ...), numbered like model versions: inside the writing transaction as
``max(revision) + 1``, the deployment row locked ``FOR UPDATE`` on PostgreSQL (SQLite's
write transaction began IMMEDIATE and holds the only write lock), the unique constraint on
(deployment_id, revision) the final guard, retried rather than reported.

The store compares specs by their canonical JSON only (it never parses them: that is
``shipyard.rollout``'s work): applying the text of the current revision again adds nothing.

Deleting keeps the row, marked ``deleted``, and every revision. Applying a deleted name
again revives it and continues its numbering, so a name's history is one sequence.

Every change appends its audit entry (``deployment.apply``, ``deployment.delete``,
``deployment.pause``, ``deployment.resume``, and the rollout's ``deployment.step``,
``deployment.promote``, ``deployment.rollback``) in the same transaction.

Progressive delivery keeps its state on the deployment row: ``rollout_status``,
``step_started_at`` (the bake clock: a restarted server resumes it) and the last verdict.
Its moves are compare-and-set (:meth:`DeploymentStore.transition`): a transition names the
revision it was decided on and does nothing if another worker moved first.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from shipyard.errors import InvalidRequest, NotFound
from shipyard.governance.chain import AuditEvent
from shipyard.registry.deployment_types import Applied, Deployment, DeploymentRevision
from shipyard.registry.refs import check_model_name
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.engine import insert_ignore
from shipyard.registry.sql.rows import check_description, check_short_text
from shipyard.registry.sql.tables import deployment_revisions, deployments

T = TypeVar("T")

MAX_SPEC_CHARS = 256 * 1024
MAX_REVISION = 2**31 - 1
LIVE_STATES = ("active", "paused")


def deployment_not_found(name: str) -> NotFound:
    return NotFound(f"deployment {name!r} not found", hint="`shipyard deploy list` shows deployments")


class DeploymentStore:
    """Apply, read, list and delete deployments; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    # -- writes ---------------------------------------------------------------------------

    def apply(
        self,
        name: str,
        spec_json: str,
        spec_yaml: str,
        *,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
        rollout_status: str | None = None,
    ) -> Applied:
        """Make ``spec_json`` the current spec of ``name`` (created, or revived if deleted).

        A new revision only when it differs from the current one (``changed``); a paused
        deployment stays paused. A new revision sets ``rollout_status`` (``progressing``
        for a spec with an analysis, else None) and starts the step's clock."""
        who = actor or local_actor()
        check_model_name(name)
        _check_spec_text("spec_json", spec_json)
        _check_spec_text("spec_yaml", spec_yaml)
        check_short_text("actor", who)
        check_short_text("source", source)
        if reason is not None:
            check_description(reason)

        def work(conn: Connection) -> Applied:
            now = queries.now()
            values = {"name": name, "current_revision": 0, "state": "active", "created_at": now, "updated_at": now}
            insert_ignore(conn, deployments, values, ["name"])
            row = _row(conn, name, for_update=True)
            previous = int(row["current_revision"])
            if previous > 0 and row["state"] != "deleted":
                current = _revision(conn, row, previous)
                if current.spec_json == spec_json:
                    return Applied(_deployment(row), current, changed=False)
            top = conn.execute(
                sa.select(sa.func.max(deployment_revisions.c.revision)).where(
                    deployment_revisions.c.deployment_id == row["id"]
                )
            ).scalar()
            number = int(top or 0) + 1
            conn.execute(
                sa.insert(deployment_revisions).values(
                    deployment_id=row["id"],
                    revision=number,
                    spec_json=spec_json,
                    spec_yaml=spec_yaml,
                    created_by=who,
                    created_at=now,
                    reason=reason,
                    source=source,
                )
            )
            state = "active" if row["state"] == "deleted" else row["state"]
            conn.execute(
                sa.update(deployments)
                .where(deployments.c.id == row["id"])
                .values(
                    current_revision=number,
                    state=state,
                    updated_at=now,
                    rollout_status=rollout_status,
                    step_started_at=now,
                    rollout_verdict=None,
                )
            )
            details: dict[str, Any] = {"revision": number, "previous": previous or None}
            if row["state"] == "deleted":
                details["revived"] = True
            event = AuditEvent(who, source, "deployment.apply", _resource(name), reason=reason, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            fresh = _row(conn, name)
            return Applied(_deployment(fresh), _revision(conn, fresh, number), changed=True)

        return self._write(work, f"applying deployment {name!r}", retry_unique=True)

    def set_state(
        self, name: str, state: str, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> Deployment:
        """Pause (``paused``) or resume (``active``) a live deployment; audited."""
        if state not in LIVE_STATES:
            raise InvalidRequest(f"a deployment's state is set to one of {', '.join(LIVE_STATES)}, not {state!r}")
        who = actor or local_actor()
        check_model_name(name)

        def work(conn: Connection) -> Deployment:
            row = _row(conn, name, for_update=True)
            if row["state"] == "deleted":
                raise deployment_not_found(name)
            if row["state"] == state:
                return _deployment(row)
            now = queries.now()
            values: dict[str, Any] = {"state": state, "updated_at": now}
            if state == "active":
                values["step_started_at"] = now  # a resumed step bakes again from now
            conn.execute(sa.update(deployments).where(deployments.c.id == row["id"]).values(**values))
            action = "deployment.pause" if state == "paused" else "deployment.resume"
            details = {"state": state, "previous": row["state"], "revision": row["current_revision"]}
            append_in(conn, AuditEvent(who, source, action, _resource(name), reason=reason, details=details),
                      hmac_key=self._hmac_key)  # fmt: skip
            return _deployment(_row(conn, name))

        return self._write(work, f"setting the state of deployment {name!r}")

    def transition(
        self,
        name: str,
        *,
        expected_revision: int,
        rollout_status: str | None,
        verdict: dict[str, Any] | None,
        spec_json: str | None = None,
        spec_yaml: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        source: str = "rollout",
        reason: str | None = None,
        require_active: bool = True,
        within: Callable[[Connection], Mapping[str, Any]] | None = None,
    ) -> Applied | None:
        """Compare-and-set: if ``name`` is still at ``expected_revision`` (and active, when
        ``require_active``), record the rollout's status and verdict and, with ``spec_json``,
        make it the next revision (the step's clock restarts). ``action`` (e.g.
        ``deployment.rollback``) appends an audit entry. None when another writer moved first.
        ``within`` runs in the same transaction before the audit entry (an emergency rollback
        raises its governance flag there); what it returns is added to the entry's details."""
        who = actor or local_actor()
        check_model_name(name)
        if spec_json is not None:
            _check_spec_text("spec_json", spec_json)
            _check_spec_text("spec_yaml", spec_yaml or "")
        if reason is not None:
            check_description(reason)
        verdict_json = json.dumps(verdict, separators=(",", ":"), allow_nan=False) if verdict is not None else None

        def work(conn: Connection) -> Applied | None:
            row = _row(conn, name, for_update=True)
            current = int(row["current_revision"])
            if current != expected_revision or row["state"] == "deleted":
                return None
            if require_active and row["state"] != "active":
                return None
            now = queries.now()
            values: dict[str, Any] = {"rollout_status": rollout_status, "rollout_verdict": verdict_json}
            number = current
            changed = False
            if spec_json is not None and spec_json != _revision(conn, row, current).spec_json:
                number = current + 1
                conn.execute(
                    sa.insert(deployment_revisions).values(
                        deployment_id=row["id"],
                        revision=number,
                        spec_json=spec_json,
                        spec_yaml=spec_yaml,
                        created_by=who,
                        created_at=now,
                        reason=reason,
                        source=source,
                    )
                )
                values.update(current_revision=number, updated_at=now, step_started_at=now)
                changed = True
            conn.execute(sa.update(deployments).where(deployments.c.id == row["id"]).values(**values))
            if action is not None:
                details: dict[str, Any] = {"revision": number, "previous": current, "status": rollout_status}
                if verdict is not None:
                    details["verdict"] = verdict
                if within is not None:
                    details.update(within(conn))
                event = AuditEvent(who, source, action, _resource(name), reason=reason, details=details)
                append_in(conn, event, hmac_key=self._hmac_key)
            fresh = _row(conn, name)
            return Applied(_deployment(fresh), _revision(conn, fresh, number), changed=changed)

        return self._write(work, f"moving the rollout of deployment {name!r}", retry_unique=True)

    def delete(
        self, name: str, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> Deployment:
        """Mark ``name`` deleted, keeping its revisions (``NotFound`` if it is not live)."""
        who = actor or local_actor()
        check_model_name(name)

        def work(conn: Connection) -> Deployment:
            row = _row(conn, name, for_update=True)
            if row["state"] == "deleted":
                raise deployment_not_found(name)
            now = queries.now()
            conn.execute(
                sa.update(deployments).where(deployments.c.id == row["id"]).values(state="deleted", updated_at=now)
            )
            details = {"revision": row["current_revision"], "previous_state": row["state"]}
            event = AuditEvent(who, source, "deployment.delete", _resource(name), reason=reason, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return _deployment(_row(conn, name))

        return self._write(work, f"deleting deployment {name!r}")

    # -- reads ----------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        """The deployment ``name`` (also when deleted: its state says so)."""
        check_model_name(name)
        return self._read(lambda conn: _deployment(_row(conn, name)), f"reading deployment {name!r}")

    def current(self, name: str) -> tuple[Deployment, DeploymentRevision]:
        """The deployment and its current revision, read together."""
        check_model_name(name)

        def work(conn: Connection) -> tuple[Deployment, DeploymentRevision]:
            row = _row(conn, name)
            return _deployment(row), _revision(conn, row, int(row["current_revision"]))

        return self._read(work, f"reading deployment {name!r}")

    def list(self, *, include_deleted: bool = False) -> list[Deployment]:
        """Deployments by name (live ones unless ``include_deleted``)."""
        query = sa.select(deployments).order_by(deployments.c.name)
        if not include_deleted:
            query = query.where(deployments.c.state != "deleted")

        def work(conn: Connection) -> list[Deployment]:
            return [_deployment(r) for r in conn.execute(query).mappings() if r["current_revision"] > 0]

        return self._read(work, "listing deployments")

    def history(self, name: str) -> builtins.list[DeploymentRevision]:
        """Every revision of ``name``, oldest first."""
        check_model_name(name)

        def work(conn: Connection) -> builtins.list[DeploymentRevision]:
            row = _row(conn, name)
            query = sa.select(deployment_revisions).where(deployment_revisions.c.deployment_id == row["id"])
            rows = conn.execute(query.order_by(deployment_revisions.c.revision)).mappings()
            return [_revision_record(name, r) for r in rows]

        return self._read(work, f"reading the history of deployment {name!r}")

    def revision(self, name: str, number: int) -> DeploymentRevision:
        """Revision ``number`` of ``name`` (``NotFound`` if there is none)."""
        check_model_name(name)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidRequest(f"a revision is a positive integer, got {str(number)[:20]!r}")
        if number > MAX_REVISION:
            raise NotFound(f"deployment {name!r} has no revision {number}")

        def work(conn: Connection) -> DeploymentRevision:
            return _revision(conn, _row(conn, name), number)

        return self._read(work, f"reading revision {number} of deployment {name!r}")

    # -- inside a transaction -------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str, *, retry_unique: bool = False) -> T:
        return transactions.run(self._engine, work, write=True, retry_unique=retry_unique, what=what)


def _resource(name: str) -> str:
    return f"deployment:{name}"


def _check_spec_text(what: str, text: str) -> None:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_SPEC_CHARS or "\x00" in text:
        raise InvalidRequest(f"{what} must be non-empty text of at most {MAX_SPEC_CHARS} characters without NUL")


def _row(conn: Connection, name: str, *, for_update: bool = False) -> RowMapping:
    query = sa.select(deployments).where(deployments.c.name == name)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    # A row with no revision yet exists only inside a failed apply's transaction.
    if row is None or (row["current_revision"] == 0 and not for_update):
        raise deployment_not_found(name)
    return row


def _revision(conn: Connection, row: RowMapping, number: int) -> DeploymentRevision:
    query = sa.select(deployment_revisions).where(
        deployment_revisions.c.deployment_id == row["id"], deployment_revisions.c.revision == number
    )
    found = conn.execute(query).mappings().first()
    if found is None:
        raise NotFound(
            f"deployment {row['name']!r} has no revision {number}",
            hint=f"`shipyard deploy history {row['name']}` lists its revisions",
        )
    return _revision_record(row["name"], found)


def _revision_record(name: str, row: RowMapping) -> DeploymentRevision:
    return DeploymentRevision(
        deployment=name,
        revision=int(row["revision"]),
        spec_json=row["spec_json"],
        spec_yaml=row["spec_yaml"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        source=row["source"],
        reason=row["reason"],
    )


def _deployment(row: RowMapping) -> Deployment:
    verdict = row["rollout_verdict"]
    return Deployment(
        name=row["name"],
        state=row["state"],
        current_revision=int(row["current_revision"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        rollout_status=row["rollout_status"],
        step_started_at=row["step_started_at"],
        rollout_verdict=json.loads(verdict) if verdict else None,
    )
