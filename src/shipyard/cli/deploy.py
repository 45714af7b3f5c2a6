"""``shipyard deploy``: apply a deployment spec, read its history, and operate it.

Every apply that changes a spec is a new revision (who, when, why, from where); ``diff``
compares two revisions' canonical YAML. Operating a deployment (``status``, ``promote``,
``rollback``, ``pause``, ``resume``, ``shadow-report``, ``experiment-report``, ``outcome``)
goes through ``rollout/operations``, exactly as the management API does: everything reads
and writes the registry, so it sees every worker's traffic and a server applies a move at
its next poll.
"""

from __future__ import annotations

import difflib
import math
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from shipyard.cli.context import cli_state
from shipyard.cli.output import console, print_json, show, table, when
from shipyard.errors import InvalidRequest
from shipyard.registry.deployment_types import Applied, Deployment, DeploymentRevision

MAX_SPEC_FILE_BYTES = 256 * 1024


@click.group()
def deploy() -> None:
    """Deployments: named endpoints whose traffic goes to one or more model versions."""


@deploy.command("apply")
@click.argument("spec_file", metavar="SPEC_FILE", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reason", help="Why, for the deployment's history and the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def apply(spec_file: Path, reason: str | None, as_json: bool) -> None:
    """Apply the deployment spec in SPEC_FILE (YAML): a new revision if it changed anything."""
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout.service import apply_spec

    text = _read_spec(spec_file)
    with cli_state().services() as services:
        applied = apply_spec(
            services.store, text, actor=local_actor(), source="local", reason=reason, source_name=spec_file.name
        )
    if as_json:
        print_json(applied.to_dict())
        return
    _say_applied(applied)


@deploy.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted deployments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_deployments(include_deleted: bool, as_json: bool) -> None:
    """Every deployment: name, state, current revision, last change."""
    with cli_state().services() as services:
        records = services.store.deployments.list(include_deleted=include_deleted)
        current = {d.name: services.store.deployments.revision(d.name, d.current_revision) for d in records}
    if as_json:
        print_json([{**d.to_dict(), "spec": current[d.name].spec} for d in records])
        return
    if not records:
        click.echo("No deployments. Apply one with `shipyard deploy apply SPEC_FILE`.")
        return
    rows = [[d.name, d.state, d.current_revision, _variants(current[d.name]), when(d.updated_at)] for d in records]
    show(table(None, ["name", "state", "revision", "variants", "updated"], rows))


@deploy.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(name: str, as_json: bool) -> None:
    """Every revision of deployment NAME, oldest first: who, when, from where, why."""
    with cli_state().services() as services:
        deployment = services.store.deployments.get(name)
        revisions = services.store.deployments.history(name)
    if as_json:
        print_json({"deployment": deployment.to_dict(), "revisions": [r.to_dict() for r in revisions]})
        return
    rows = [
        [
            f"{r.revision}{' *' if r.revision == deployment.current_revision else ''}",
            when(r.created_at),
            r.created_by,
            r.source,
            _variants(r),
            r.reason or "",
        ]
        for r in revisions
    ]
    title = f"{deployment.name} ({deployment.state}; * current)"
    show(table(title, ["revision", "applied", "by", "from", "variants", "reason"], rows))


@deploy.command("show")
@click.argument("name")
@click.option("--revision", "number", type=int, help="A past revision (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_deployment(name: str, number: int | None, as_json: bool) -> None:
    """Deployment NAME and its spec (the current revision, or --revision N)."""
    from shipyard.rollout.service import spec_yaml

    with cli_state().services() as services:
        deployment = services.store.deployments.get(name)
        revision = services.store.deployments.revision(
            name, number if number is not None else deployment.current_revision
        )
    if as_json:
        print_json({"deployment": deployment.to_dict(), "revision": revision.to_dict()})
        return
    click.echo(f"deployment {deployment.name}: {deployment.state}, revision {deployment.current_revision} current")
    click.echo(
        f"revision {revision.revision}: applied {when(revision.created_at)} by {revision.created_by}"
        f" from {revision.source}" + (f" ({revision.reason})" if revision.reason else "")
    )
    click.echo("")
    click.echo(spec_yaml(revision.spec_json), nl=False)


@deploy.command("diff")
@click.argument("name")
@click.argument("rev1", type=int)
@click.argument("rev2", type=int)
def diff(name: str, rev1: int, rev2: int) -> None:
    """A unified diff of the canonical YAML of revisions REV1 and REV2 of NAME."""
    from shipyard.rollout.service import spec_yaml

    with cli_state().services() as services:
        old = services.store.deployments.revision(name, rev1)
        new = services.store.deployments.revision(name, rev2)
    lines = list(
        difflib.unified_diff(
            spec_yaml(old.spec_json).splitlines(keepends=True),
            spec_yaml(new.spec_json).splitlines(keepends=True),
            fromfile=f"{name} revision {rev1}",
            tofile=f"{name} revision {rev2}",
        )
    )
    if not lines:
        click.echo(f"revisions {rev1} and {rev2} of {name} have the same spec")
        return
    out = console()
    for line in lines:
        out.print(Text(line.rstrip("\n"), style=_diff_style(line)), soft_wrap=True)


@deploy.command("delete")
@click.argument("name")
@click.option("--reason", help="Why, for the audit trail.")
def delete(name: str, reason: str | None) -> None:
    """Delete deployment NAME (its history is kept; applying NAME again continues it)."""
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        deployment = services.store.deployments.delete(name, actor=local_actor(), source="local", reason=reason)
    click.echo(f"Deleted deployment {deployment.name} (its {deployment.current_revision} revision(s) are kept).")


def _read_spec(path: Path) -> str:
    if not path.is_file():
        raise InvalidRequest(f"spec file not found: {path}", hint="check the path")
    if path.stat().st_size > MAX_SPEC_FILE_BYTES:
        raise InvalidRequest(f"{path.name}: a spec file is at most {MAX_SPEC_FILE_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{path.name}: a spec is UTF-8 text") from exc
    except OSError as exc:
        raise InvalidRequest(f"cannot read spec file {path}: {exc.strerror}") from exc


def _say_applied(applied: Applied) -> None:
    d: Deployment = applied.deployment
    if applied.changed:
        click.echo(
            f"Applied deployment {d.name}: revision {applied.revision.revision} ({_variants(applied.revision)})."
        )
    else:
        click.echo(f"Deployment {d.name} unchanged: revision {applied.revision.revision} has this spec already.")


def _variants(revision: DeploymentRevision) -> str:
    parts = []
    for name, variant in dict(revision.spec.get("variants", {})).items():
        weight = variant.get("weight")
        extra = f" {weight}%" if weight is not None else ""
        parts.append(f"{name}={variant.get('model')} ({variant.get('role')}{extra})")
    return ", ".join(parts)


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return ""


# -- operating a deployment ---------------------------------------------------------------
_REASON = click.option("--reason", help="Why, for the deployment's history and the audit trail.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@deploy.command("status")
@click.argument("name")
@click.option("--window", "window", type=float, default=60.0, show_default=True, help="Seconds of traffic to show.")
@_JSON
def status(name: str, window: float, as_json: bool) -> None:
    """The live split of NAME, its traffic per variant over the last --window seconds, and
    its rollout: step, bake clock and the last verdict with each gate."""
    from shipyard.rollout import operations

    if not (0 < window <= 86400):
        raise InvalidRequest("--window is between 0 and 86400 seconds")
    with cli_state().services() as services:
        found = operations.status(services.store, name, window_seconds=window)
    if as_json:
        print_json(found)
        return
    _show_status(found)


@deploy.command("promote")
@click.argument("name")
@click.option("--variant", help="The variant to make the primary (default: the canary).")
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    help="Promote only if the variant agreed at least this often over the last hour (shadow report).",
)
@_REASON
@_JSON
def promote(name: str, variant: str | None, min_agreement: float | None, reason: str | None, as_json: bool) -> None:
    """Make the canary (or --variant, a shadow too) of NAME its primary now, as a new revision."""
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout import operations

    with cli_state().services() as services:
        applied = operations.promote(
            services.store,
            name,
            variant=variant,
            actor=local_actor(),
            source="local",
            reason=reason,
            min_agreement=min_agreement,
        )
    _say_moved(applied, "Promoted", as_json)


@deploy.command("rollback")
@click.argument("name")
@click.option("--to", "to_revision", type=int, help="The revision to go back to (default: the previous one).")
@_REASON
@_JSON
def rollback(name: str, to_revision: int | None, reason: str | None, as_json: bool) -> None:
    """Make an earlier revision's spec current again (a new revision); stops a rollout."""
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout import operations

    with cli_state().services() as services:
        applied = operations.rollback(
            services.store, name, to_revision=to_revision, actor=local_actor(), source="local", reason=reason
        )
    _say_moved(applied, "Rolled back", as_json)


@deploy.command("pause")
@click.argument("name")
@_REASON
@_JSON
def pause(name: str, reason: str | None, as_json: bool) -> None:
    """Hold NAME's rollout where it is: the split stays, no step is taken."""
    _set_state(name, "pause", reason, as_json)


@deploy.command("resume")
@click.argument("name")
@_REASON
@_JSON
def resume(name: str, reason: str | None, as_json: bool) -> None:
    """Go on with NAME's rollout; the current step bakes again from now."""
    _set_state(name, "resume", reason, as_json)


@deploy.command("shadow-report")
@click.argument("name")
@click.option("--since", help="Start: -10m, -2h, -1d, or an ISO timestamp (default: an hour before --until).")
@click.option("--until", help="End: same forms (default: now).")
@_JSON
def shadow_report(name: str, since: str | None, until: str | None, as_json: bool) -> None:
    """Per shadow and canary mirror of NAME: copies, agreement, score and latency deltas."""
    from shipyard.rollout import operations

    now = time.time()
    start = None if since is None else parse_moment(since, "--since", now)
    end = None if until is None else parse_moment(until, "--until", now)
    with cli_state().services() as services:
        report = operations.shadow_report(services.store, name, since=start, until=end)
    if as_json:
        print_json(report)
        return
    _show_shadow_report(report)


@deploy.command("experiment-report")
@click.argument("name")
@click.option("--metric", help="The outcome metric (default: the experiment's).")
@_JSON
def experiment_report(name: str, metric: str | None, as_json: bool) -> None:
    """The A/B report of experiment NAME: arms, comparisons with the control, recommendation."""
    from shipyard.rollout import operations

    with cli_state().services() as services:
        report = operations.experiment_report_of(services.store, name, metric=metric)
    if as_json:
        print_json(report)
        return
    _show_experiment_report(report)


@deploy.command("outcome")
@click.argument("name")
@click.argument("request_id")
@click.argument("metric")
@click.argument("value")
@_JSON
def outcome(name: str, request_id: str, metric: str, value: str, as_json: bool) -> None:
    """Record METRIC = VALUE for request REQUEST_ID (its X-Request-Id) that NAME answered."""
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout import operations

    number = _number(value)
    with cli_state().services() as services:
        result = operations.record_outcome(services.store, name, request_id, metric, number, recorded_by=local_actor())
    if as_json:
        print_json(result.to_dict())
        return
    verb = "Recorded" if result.created else "Already recorded"
    click.echo(f"{verb}: {metric} = {result.value:g} for request {request_id} ({name}, variant {result.variant}).")


def parse_moment(text: str, option: str, now: float) -> float:
    """``-10m``/``-2h``/``-30s``/``-1d`` before ``now``, an ISO 8601 timestamp (UTC unless it
    says otherwise) or Unix seconds, as Unix seconds; ``InvalidRequest`` for anything else."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            seconds = float(value)
        except ValueError:
            raise InvalidRequest(
                f"{option} {text[:40]!r} is not a time: use -10m, -2h, -1d or an ISO timestamp"
            ) from None
        if not math.isfinite(seconds) or seconds < 0:
            raise InvalidRequest(f"{option} {text[:40]!r} is not a time") from None
        return seconds
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"an outcome's value is a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"an outcome's value is a finite number, got {text[:40]!r}")
    return value


def _set_state(name: str, action: str, reason: str | None, as_json: bool) -> None:
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout import operations

    change = operations.pause if action == "pause" else operations.resume
    with cli_state().services() as services:
        before = services.store.deployments.get(name).state
        record = change(services.store, name, actor=local_actor(), source="local", reason=reason)
    if as_json:
        print_json({**record, "previous_state": before})
        return
    if before == record["state"]:
        click.echo(f"Deployment {name} is {record['state']} already.")
        return
    click.echo(f"Deployment {name}: {before} -> {record['state']} (revision {record['current_revision']}).")


def _say_moved(applied: Applied, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(applied.to_dict())
        return
    d = applied.deployment
    status = d.rollout_status or "none"
    if not applied.changed:
        click.echo(f"Deployment {d.name} unchanged: revision {applied.revision.revision} (rollout {status}).")
        return
    click.echo(
        f"{verb} deployment {d.name}: revision {applied.revision.revision} ({_variants(applied.revision)}); "
        f"rollout {status}."
    )


# -- showing status and reports -------------------------------------------------------------
def _show_status(found: dict[str, Any]) -> None:
    window = found["window_seconds"]
    click.echo(
        f"deployment {found['deployment']}: {found['state']}, revision {found['revision']}, "
        f"strategy {found['strategy']} (traffic over the last {window:g}s{_reporting(found)})"
    )
    rows = [
        [
            v["variant"],
            v["model"],
            v["role"],
            _split(v),
            _num(v["req_per_s"]),
            v["requests"],
            v["errors"],
            _pct(v["error_rate"]),
            _num(v["p50_ms"]),
            _num(v["p99_ms"]),
        ]
        for v in found["variants"]
    ]
    columns = ["variant", "model", "role", "split", "req/s", "requests", "errors", "error rate", "p50 ms", "p99 ms"]
    show(table(None, columns, rows))
    if not any(v["requests"] for v in found["variants"]):
        click.echo(f"No traffic in the last {window:g}s.")
    _show_rollout(found.get("rollout"))


def _reporting(found: dict[str, Any]) -> str:
    workers = found.get("workers_reporting")
    return "" if workers is None else f", {workers} worker(s) reporting"


def _split(variant: dict[str, Any]) -> str:
    if variant["role"] == "shadow":
        return f"copy {variant['sample']:.0%}" if variant["sample"] is not None else "copy"
    return f"{variant['weight']:g}%" if variant["weight"] is not None else "-"


def _show_rollout(rollout: dict[str, Any] | None) -> None:
    if rollout is None:
        click.echo("rollout: none (no analysis in the spec)")
        return
    line = f"rollout: {rollout.get('status') or 'not started'}"
    if rollout.get("canary") is not None:
        steps = rollout["steps"]
        step = rollout.get("step")
        where = f"step {step} of {len(steps)}" if step is not None else f"off the steps {steps}"
        line += f", {where} ({rollout['canary']} at {rollout['canary_weight']:g}%)"
    click.echo(line)
    if rollout.get("step_age_seconds") is not None:
        bake = rollout.get("bake_seconds")
        of = f" of {bake:g}s" if bake is not None else ""
        click.echo(f"bake clock: {rollout['step_age_seconds']:.0f}s{of} (step began {rollout['step_started_at']})")
    verdict = rollout.get("verdict")
    if not verdict:
        click.echo("last verdict: none yet")
        return
    click.echo(f"last verdict: {verdict['outcome']}: {verdict['reason']}")
    gates = [
        [g["name"], _num(g["threshold"]), _num(g["value"]), _passed(g["passed"]), g.get("detail") or ""]
        for g in verdict.get("gates", [])
    ]
    if gates:
        show(table(None, ["gate", "threshold", "value", "passed", "detail"], gates))


def _show_shadow_report(report: dict[str, Any]) -> None:
    since = datetime.fromtimestamp(report["since"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    until = datetime.fromtimestamp(report["until"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"deployment {report['deployment']}: shadow copies from {since} to {until} UTC")
    if not report["shadows"]:
        configured = ", ".join(report["configured"]) or "none configured"
        click.echo(f"No data: no shadow or mirror copies in this period (shadows: {configured}).")
        return
    rows = [
        [
            r["variant"],
            r["kind"],
            r["copies"],
            r["compared_rows"],
            _pct(r["agreement"]),
            _num(r["mean_score_delta"]),
            _num(r["mean_abs_score_delta"]),
            _num(r["mean_latency_delta_ms"]),
            _num(r["p50_ms"]),
            _num(r["p99_ms"]),
            r["errors"],
            r["dropped"],
        ]
        for r in report["shadows"]
    ]
    columns = [
        "variant", "kind", "copies", "compared rows", "agreement", "mean Δscore", "mean |Δscore|",
        "Δlatency ms", "p50 ms", "p99 ms", "errors", "dropped",
    ]  # fmt: skip
    show(table(None, columns, rows))
    answered = ", ".join(f"{v} {n}" for v, n in report["answered"].items()) or "none"
    click.echo(f"requests answered: {answered}")


def _show_experiment_report(report: dict[str, Any]) -> None:
    kind = report["kind"] or "no outcomes yet"
    needed = report["needed_per_arm"]
    click.echo(
        f"experiment {report['deployment']}: metric {report['metric']} ({kind}), control {report['control']}, "
        f"alpha {report['alpha']:g}, power {report['power']:g}, "
        f"min detectable effect {report['min_detectable_effect']:g}"
        + (f", {needed} per arm needed" if needed is not None else "")
    )
    arms = [
        [a["name"], a["units"], a["outcomes"], a["n"], _num(a["needed"]), _passed(a["reached"]), _num(a["value"])]
        for a in report["arms"]
    ]
    value = "rate" if report["kind"] == "rate" else "mean"
    show(table("arms", ["arm", "requests", "outcomes", "n", "needed", "reached", value], arms))
    if not any(a["outcomes"] for a in report["arms"]):
        click.echo("No data: no outcome has been recorded for this metric yet.")
    comparisons = [
        [
            f"{c['arm']} vs {c['control']}",
            c["test"],
            _num(c["difference"]),
            _ci(c["ci"], c["ci_level"]),
            _num(c["p_value"]),
            _passed(c["significant"]),
            "yes" if c["valid_for_decision"] else "no",
        ]
        for c in report["comparisons"]
    ]
    if comparisons:
        columns = [
            "comparison",
            "test",
            "effect",
            "confidence interval",
            "p-value",
            "significant",
            "valid for decision",
        ]
        show(table("comparisons", columns, comparisons))
    click.echo(f"Recommendation: {report['recommendation']}.")
    click.echo(f"Why: {report['reason']}")
    click.echo(f"Method: {report['method_note']}")
    for note in report["notes"]:
        click.echo(f"Note: {note}")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _passed(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _ci(bounds: list[float | None], level: float) -> str:
    low, high = bounds
    if low is None or high is None:
        return "-"
    return f"[{low:.4g}, {high:.4g}] ({level * 100:.4g}%)"
