"""``shipyard models``: register, list, show and alias model versions; their lifecycle
(deprecate, retire, reinstate, archive, restore) is in ``cli/lifecycle.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from shipyard.cli import lifecycle, model_governance, views
from shipyard.cli.context import cli_state
from shipyard.cli.inputs import parse_metrics, parse_pairs, parse_params, read_table, split_target
from shipyard.cli.output import console, human_size, print_json, short_sha, show
from shipyard.errors import InvalidRequest


@click.group()
def models() -> None:
    """Register and inspect model versions."""


@models.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--flavor", help="The model format, when detection from the file's content is wrong.")
@click.option("--sample", "sample_file", metavar="FILE", help="A few input rows (CSV, .npy, .parquet, JSON).")
@click.option("--training-data", "training_file", metavar="FILE", help="The training data, for lineage.")
@click.option("--target", metavar="COL", help="The training data's target column (split off).")
@click.option("--metric", "metrics", multiple=True, metavar="K=V", help="A metric, e.g. accuracy=0.93 (repeat).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="A training parameter (repeat).")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="A tag (repeat).")
@click.option("--description", default="", help="What this version is.")
@click.option("--trust-pickle", is_flag=True, help="Allow a pickle/joblib file: loading it runs arbitrary code.")
@click.option("--trust-type", "trusted_types", multiple=True, metavar="TYPE", help="Trust a type in a skops file.")
@click.option("--trust-code", is_flag=True, help="Allow importing a Python-class model's code.")
@click.option("--entry", metavar="module:Class", help="The class of a Python-class model.")
@click.option("--parent", "parent", type=int, metavar="N", help="The version this one derives from.")
@click.option(
    "--compile/--no-compile",
    "compile_model",
    default=True,
    help="Also compile to ONNX and verify it against the model (default: on).",
)
@click.option("--tier", type=click.Choice(["minimal", "limited", "high"]), help="The model's risk tier (a new model).")
@click.option("--pii", "pii", multiple=True, metavar="FIELD=MARK", help="A PII mark: drop, hash or keep (repeat).")
@click.option(
    "--output-name",
    "output_names",
    multiple=True,
    metavar="OUTPUT=NAME",
    help="Name an ONNX graph output, e.g. variable=price (repeat).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
def register(
    *,
    name: str,
    path: Path,
    flavor: str | None,
    sample_file: str | None,
    training_file: str | None,
    target: str | None,
    metrics: tuple[str, ...],
    params: tuple[str, ...],
    tags: tuple[str, ...],
    description: str,
    trust_pickle: bool,
    trusted_types: tuple[str, ...],
    trust_code: bool,
    entry: str | None,
    parent: int | None,
    compile_model: bool,
    tier: str | None,
    pii: tuple[str, ...],
    output_names: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register the model file (or Python package directory) PATH as the next version of NAME."""
    from shipyard.compile import runtime_statement
    from shipyard.registry.refs import check_model_name
    from shipyard.sdk.local import register_with

    # Cheap checks first: a typo must not cost a model load.
    check_model_name(name)
    options: dict[str, Any] = {
        "metrics": parse_metrics(metrics),
        "params": parse_params(params),
        "tags": parse_pairs(tags, option="--tag"),
        "compile": compile_model,
        "tier": tier,
        "pii": parse_pairs(pii, option="--pii"),
    }
    if output_names:
        options["output_names"] = parse_pairs(output_names, option="--output-name")
    if not path.exists():
        raise InvalidRequest(f"model file not found: {path}", hint="check the path")
    if target is not None and training_file is None:
        raise InvalidRequest("--target needs --training-data")
    sample = read_table(sample_file, what="sample") if sample_file else None
    training: Any = None
    if training_file:
        table = read_table(training_file, what="training data")
        training = split_target(table, target) if target else table
    with cli_state().services() as services, stage_progress(path.name) as stage:
        version = register_with(
            services.registry,
            name,
            path,
            sample=sample,
            training_data=training,
            stage=stage,
            flavor=flavor,
            description=description,
            trust_pickle=trust_pickle,
            trusted_types=trusted_types,
            trust_code=trust_code,
            entry=entry,
            parent_version=parent,
            **options,
        )
    statement = runtime_statement(
        version.serving_runtime, version.compile_error, version.compiled.report if version.compiled else None
    )
    if as_json:
        print_json({**version.to_dict(), "runtime_statement": statement})
        return
    line = (
        f"Registered {version.ref} ({version.flavor}, sha256 {short_sha(version.artifact.sha256)}, "
        f"{human_size(version.artifact.size)})"
    )
    if version.unsafe_format:
        line += " UNSAFE: pickle format, loading it runs code"
    click.echo(line)
    click.echo(f"Runtime: {statement}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_models(as_json: bool) -> None:
    """List registered models."""
    with cli_state().services() as services:
        store = services.store
        rows = [(m, [v.version for v in store.list_versions(m.name) if v.unsafe_format]) for m in store.list_models()]
    if as_json:
        print_json({"models": [{**m.to_dict(), "unsafe_versions": unsafe} for m, unsafe in rows]})
        return
    if not rows:
        click.echo("No models registered yet. Register one with: shipyard models register NAME PATH")
        return
    show(views.models_table(rows))


@models.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_model(ref: str, as_json: bool) -> None:
    """Show a model (NAME: its versions) or a version (NAME/VERSION, NAME@ALIAS: its lineage
    and governance: tier, approvals and what is missing, card, review rules, PII, deployments)."""
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref)
    with cli_state().services() as services:
        if parsed.is_latest:
            model = services.store.get_model(parsed.name)
            versions = services.store.list_versions(parsed.name)
            if as_json:
                print_json({**model.to_dict(), "versions": [v.to_dict() for v in versions]})
            else:
                show(*views.model_view(model, versions))
            return
        version = services.registry.resolve(parsed)
        from shipyard.registry.governance_view import version_governance

        governance = version_governance(services.store, version.model, version.version)
    if as_json:
        print_json({**version.to_dict(), "governance": governance})
    else:
        from shipyard.cli.governance_view import governance_renderables

        show(*views.version_view(version), *governance_renderables(governance))


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def alias(name: str, alias: str, version: str | None, delete: bool, as_json: bool) -> None:
    """Point ALIAS of model NAME at VERSION (or remove it with --delete)."""
    from shipyard.registry.refs import check_alias, check_model_name, parse_version

    check_model_name(name)
    check_alias(alias)
    if delete:
        if version is not None:
            raise InvalidRequest("--delete takes no VERSION")
        with cli_state().services() as services:
            services.store.delete_alias(name, alias)
        if as_json:
            print_json({"model": name, "alias": alias, "deleted": True})
        else:
            click.echo(f"Removed {name}@{alias}")
        return
    if version is None:
        raise InvalidRequest("missing VERSION", hint=f"shipyard models alias {name} {alias} VERSION")
    number = parse_version(version)
    with cli_state().services() as services:
        previous = services.store.aliases(name).get(alias)
        services.store.set_alias(name, alias, number)
    if as_json:
        print_json({"model": name, "alias": alias, "version": number, "previous": previous})
    elif previous is None or previous == number:
        click.echo(f"{name}@{alias} → {number}")
    else:
        click.echo(f"{name}@{alias} → {number} (was {previous})")


@models.command("compile")
@click.argument("ref")
@click.option("--data", "data_file", metavar="FILE", help="Rows to check the compiled form on (CSV, .npy, …).")
@click.option("--target", metavar="COL", help="A column of --data to drop (the target).")
@click.option("--max-rows", default=10_000, show_default=True, type=click.IntRange(min=1), help="Rows of --data used.")
@click.option("--force", is_flag=True, help="Compile again a version that was compiled already.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def compile_command(
    *, ref: str, data_file: str | None, target: str | None, max_rows: int, force: bool, as_json: bool
) -> None:
    """Compile version REF to ONNX and check it answers like the native model.

    Without --data, the check uses the version's input example plus synthetic rows drawn
    from its training-data profile. The compiled form serves only if it agrees.
    """
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref)
    if target is not None and data_file is None:
        raise InvalidRequest("--target needs --data")
    data: Any = None
    if data_file:
        table = read_table(data_file, what="data")
        data = split_target(table, target)[0] if target else table
    with cli_state().services() as services, row_progress("checking the compiled form") as progress:
        version = services.registry.compile_version(
            parsed, force=force, max_rows=max_rows, progress=progress, data=data
        )
    if as_json:
        print_json(
            {
                "model": version.model,
                "version": version.version,
                "serving_runtime": version.serving_runtime,
                "compile_error": version.compile_error,
                "compiled": version.compiled.to_dict() if version.compiled is not None else None,
            }
        )
        return
    for line in views.compile_lines(version):
        click.echo(line)


for _command in (*lifecycle.COMMANDS, *model_governance.COMMANDS):
    models.add_command(_command)


@contextmanager
def row_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A bar on stderr over rows checked; yields ``progress(done, total)``."""
    from rich.progress import BarColumn, Progress, TextColumn

    err = console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} rows"))
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


_STAGE_LABELS = {
    "loading": "loading {name}",
    "checking": "checking it on its sample",
    "profiling": "profiling the training data",
    "compiling": "compiling to ONNX",
    "verifying": "verifying the compiled form",
    "storing": "hashing and storing {name}",
}


@contextmanager
def stage_progress(name: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """One line per registration stage on stderr (``registry.service.STAGES``); yields
    ``stage(name, done, total)``: rows while verifying, bytes while storing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"))
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        current: list[Any] = []  # [stage name, task id]

        def update(stage: str, done: int, total: int | None) -> None:
            if not current or current[0] != stage:
                if current:
                    bar.update(current[1], total=1, completed=1)
                label = _STAGE_LABELS.get(stage, stage).format(name=name)
                current[:] = [stage, bar.add_task(label, total=None, detail="")]
            detail = ""
            if total:
                detail = f"{human_size(done)}/{human_size(total)}" if stage == "storing" else f"{done}/{total} rows"
            bar.update(current[1], completed=done, total=total, detail=detail)

        yield update
