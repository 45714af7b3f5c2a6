"""``shipyard predict``: answers for a file of inputs, in this process or from a server."""

from __future__ import annotations

from typing import Any

import click
import numpy as np

from shipyard.cli.context import cli_state
from shipyard.cli.inputs import read_table
from shipyard.cli.output import print_json, show, table
from shipyard.errors import InvalidRequest

MAX_SHOWN_ROWS = 50
"""The table shows this many rows; --json always carries them all."""


@click.command()
@click.argument("ref")
@click.option("--input", "input_file", required=True, metavar="FILE", help="Inputs: CSV, JSON or .npy.")
@click.option("--url", help="Ask the server at URL instead of loading the model here.")
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    metavar="PATH",
    help="With --url: read the API key from PATH (default: $SHIPYARD_API_KEY).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def predict(ref: str, input_file: str, url: str | None, api_key_file: str | None, as_json: bool) -> None:
    """Predict with model REF (NAME, NAME/VERSION or NAME@ALIAS) on the rows in FILE.

    With --url, the key is $SHIPYARD_API_KEY or the contents of --api-key-file. There is no
    option taking the key itself: a key on the command line lands in shell history and `ps`.
    """
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref)
    data = read_table(input_file, what="input")
    if url is None:
        from shipyard.sdk.local import LocalModel

        with cli_state().services() as services:
            model = LocalModel.from_registry(services.registry, parsed)
        outputs = model.predict_outputs(data)
        answered_by, server = model.version.ref, None
    else:
        from shipyard.sdk.client import Client

        if parsed.alias is not None:
            raise InvalidRequest(
                "with --url, use NAME or NAME/VERSION",
                hint="the server decides which version an alias points at; ask for the model by NAME",
            )
        with Client(url, api_key=read_api_key_file(api_key_file)) as client:
            outputs = client.predict(parsed.name, data, version=parsed.version)
        answered_by, server = str(parsed), url
    if as_json:
        where = {} if server is None else {"server": server}
        print_json({"model": answered_by, **where, "outputs": {k: _json_values(v) for k, v in outputs.items()}})
        return
    title = f"predictions from {answered_by}" + ("" if server is None else f" at {server}")
    show(_outputs_table(outputs, title=title))
    rows = len(next(iter(outputs.values()))) if outputs else 0
    if rows > MAX_SHOWN_ROWS:
        click.echo(f"({rows - MAX_SHOWN_ROWS} more rows; use --json for all of them)")


def read_api_key_file(path: str | None) -> str | None:
    """The key in the file at ``path`` (first line, whitespace dropped); None without a path."""
    if path is None:
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        token = handle.readline(4096).strip()
    if not token:
        raise InvalidRequest("the API key file is empty", hint="put the key from `shipyard keys create` in it")
    return token


def _json_values(array: np.ndarray) -> Any:
    if array.dtype.kind == "S":
        return [v.decode("utf-8", "replace") for v in array.ravel().tolist()]
    if array.dtype.kind == "f":
        # JSON has no NaN or infinity.
        values = array.astype(object)
        values[~np.isfinite(array)] = None
        return values.tolist()
    return array.tolist()


def _cell(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(_cell(v) for v in value.tolist()) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _outputs_table(outputs: dict[str, np.ndarray], *, title: str) -> Any:
    names = list(outputs)
    n = len(outputs[names[0]]) if names else 0
    rows = [[str(i), *(_cell(outputs[name][i]) for name in names)] for i in range(min(n, MAX_SHOWN_ROWS))]
    return table(title, ["row", *names], rows)
