"""``shipyard demo``: the whole path in ~15 seconds, on a data set that ships with scikit-learn.

Train two classifiers → register both with their training data and metrics → alias
``production`` → 1 → serve ``demo-model@production`` in a child process → ask it through
all three protocols → move the alias to 2 under concurrent load and watch the answering
version switch with no failed request → apply a canary deployment of a careless third
version under the same name and watch the analysis roll it back by itself → SIGTERM and a
clean exit.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from shipyard.cli import demo_canary, demo_monitor
from shipyard.cli.context import cli_state
from shipyard.cli.demo_traffic import LoadResult, ServerProcess, run_load
from shipyard.cli.output import console, human_size, short_sha, table

MODEL = "demo-model"
ALIAS = "production"
WORKERS = 8
LOAD_SECONDS = 4.0
SWITCH_AFTER = 1.5
BUCKET_SECONDS = 0.5
SHOWN_ROWS = 4
DEMO_SERVER_SETTINGS = {"SHIPYARD_ALIAS_POLL_SECONDS": "0.25", "SHIPYARD_ROLLOUT_TICK_SECONDS": "0.25"}
"""A demo's rollout takes seconds, not minutes: the server polls and analyses four times a second."""


@dataclass(frozen=True)
class Trained:
    label: str
    model: Any
    metrics: dict[str, float]
    params: dict[str, Any]
    seconds: float


def _train() -> tuple[Any, Any, Any, Any, list[Trained], list[str]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    candidates: list[tuple[str, Any, dict[str, Any]]] = [
        ("LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), {"C": 1.0}),
        (
            "RandomForest",
            RandomForestClassifier(n_estimators=150, max_depth=8, random_state=7, n_jobs=1),
            {"n_estimators": 150, "max_depth": 8},
        ),
    ]
    trained = []
    for label, estimator, params in candidates:
        started = time.perf_counter()
        estimator.fit(x_train, y_train)
        seconds = time.perf_counter() - started
        metrics = {
            "accuracy": float(accuracy_score(y_test, estimator.predict(x_test))),
            "roc_auc": float(roc_auc_score(y_test, estimator.predict_proba(x_test)[:, 1])),
        }
        trained.append(Trained(label, estimator, metrics, params, seconds))
    return x_train, y_train, x_test, y_test, trained, [str(n) for n in data.target_names]


@click.command()
@click.option("--home", "demo_home", type=click.Path(file_okay=False, path_type=Path), help="Use this home.")
@click.option("--keep", is_flag=True, help="Keep the temporary home (registry, artifacts, server log).")
def demo(demo_home: Path | None, keep: bool) -> None:
    """Train, register, serve and roll out a model, end to end, on loopback."""
    state = cli_state()
    home = demo_home or state.home
    owned = home is None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    try:
        failed = _run(console(), home.expanduser())
    finally:
        if owned and not keep:
            shutil.rmtree(home, ignore_errors=True)
    if failed:
        click.get_current_context().exit(1)


def _run(out: Console, home: Path) -> int:
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.governance.keys import make_grants
    from shipyard.sdk.local import register_with

    out.print(Rule("[bold]Shipyard demo[/bold]"))
    out.print(f"home: {home}\n")

    out.print(Rule("1 · train two classifiers on scikit-learn's breast cancer data", align="left"))
    x_train, y_train, x_test, y_test, trained, labels = _train()
    rows = [
        [t.label, f"{t.metrics['accuracy']:.3f}", f"{t.metrics['roc_auc']:.3f}", f"{t.seconds:.2f} s"] for t in trained
    ]
    out.print(f"{len(x_train)} training rows, {len(x_test)} test rows, {x_train.shape[1]} features")
    out.print(table(None, ["model", "accuracy", "roc_auc", "fit time"], rows))

    out.print(Rule("2 · register both versions, with lineage", align="left"))
    services = open_services(Settings.load(overrides={"home": home}))
    try:
        versions = []
        for t in trained:
            version = register_with(
                services.registry,
                MODEL,
                t.model,
                training_data=(x_train, y_train),
                metrics=t.metrics,
                params=t.params,
                description=t.label,
            )
            versions.append(version)
            digest = short_sha(version.artifact.sha256)
            out.print(
                f"Registered [bold]{version.ref}[/bold] ({version.flavor}, sha256 {digest}, "
                f"{human_size(version.artifact.size)}) — {t.label}"
            )
        first, second = versions
        services.store.set_alias(MODEL, ALIAS, first.version)
        out.print(f"{MODEL}@{ALIAS} → {first.version}")
        # The server answers nothing but health without a key: the demo makes one of its own,
        # narrowed to what it does (predict, and move the alias) on its one model.
        record, api_key = services.keys.create(
            "demo", make_grants(["predictor", "deployer"], models=(MODEL,)), created_by="user:demo"
        )
        out.print(f"API key {record.id} (roles predictor + deployer on {MODEL!r} only; shown once, then hashed)\n")
    finally:
        services.close()

    out.print(Rule(f"3 · shipyard serve {MODEL}@{ALIAS}", align="left"))
    server = ServerProcess.start(
        [f"{MODEL}@{ALIAS}"], home=home, log_path=home / "demo-server.log", settings=DEMO_SERVER_SETTINGS
    )
    try:
        took = server.wait_ready()
        out.print(f"listening on {server.url}, ready in {took:.1f} s")
        sample = x_test.iloc[:SHOWN_ROWS]
        _three_protocols(
            out, server.url, api_key=api_key, sample=sample, truth=list(y_test.iloc[:SHOWN_ROWS]), labels=labels
        )

        out.print(Rule(f"4 · move {ALIAS} from {first.version} to {second.version} under load", align="left"))
        out.print(f"{WORKERS} client threads for {LOAD_SECONDS:.0f} s; the alias moves at {SWITCH_AFTER:.1f} s")
        load = _roll_out(server.url, api_key, sample, second.version)
        _show_load(out, load, first.version, second.version)

        out.print(Rule("5 · a canary that disagrees with production is rolled back by itself", align="left"))
        canary_load, rolled_back = demo_canary.run(
            out, home, server.url, api_key, x_train=x_train, y_train=y_train, x_test=x_test
        )

        out.print(Rule("6 · watch it: the prediction log, labels as feedback, drift and cost", align="left"))
        watched = demo_monitor.run(out, home, server.url, api_key, x_train=x_train, x_test=x_test, y_test=y_test)
    except BaseException:
        server.stop()
        tail = server.log_tail()
        if tail:
            out.print(Text(f"server log ({server.log_path}):\n{tail}", style="dim"))
        raise

    out.print(Rule("7 · SIGTERM", align="left"))
    code, seconds = server.stop()
    out.print(f"server exited with code {code} after {seconds:.1f} s")
    failed = len(load.failed) + len(canary_load.failed)
    failures = failed + (1 if load.switch_error else 0) + (1 if code != 0 else 0) + (0 if rolled_back else 1)
    failures += 0 if watched else 1
    if failures:
        why = "" if rolled_back else ", the canary was not rolled back"
        why += "" if watched else ", the log did not give back every labelled prediction"
        out.print(Text(f"demo FAILED: {failed} failed requests, server exit {code}{why}", style="bold red"))
        return failures
    total = len(load.answers) + len(canary_load.answers)
    out.print(
        Text(
            f"demo passed: {total} requests, 0 failed; rolled out, then a bad canary rolled back, "
            "without a dropped request; every answer logged and its label joined",
            style="bold green",
        )
    )
    return 0


def _three_protocols(out: Console, url: str, *, api_key: str, sample: Any, truth: list[int], labels: list[str]) -> None:
    import httpx

    from shipyard.sdk.client import Client
    from shipyard.sdk.payloads import split_table

    with Client(url, api_key=api_key) as client:
        v2 = client.predict(MODEL, sample)["predict"].tolist()
    records = [{str(k): float(v) for k, v in row.items()} for row in sample.to_dict(orient="records")]
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, timeout=10.0, headers=auth) as http:
        v1_response = http.post(f"/v1/models/{MODEL}:predict", json={"instances": records})
        v1_response.raise_for_status()
        v1 = v1_response.json()["predictions"]
        mlflow_response = http.post("/invocations", json={"dataframe_split": split_table(sample)})
        mlflow_response.raise_for_status()
        mlflow = mlflow_response.json()["predictions"]
    if isinstance(mlflow, dict):
        mlflow = next(iter(mlflow.values()))
    version = v1_response.headers.get("x-shipyard-model-version", "?")

    def name(value: Any) -> str:
        return labels[int(value)] if str(value).isdigit() and int(value) < len(labels) else str(value)

    rows = [[str(i), name(truth[i]), name(v2[i]), name(v1[i]), name(mlflow[i])] for i in range(len(truth))]
    out.print(
        table(
            f"{len(truth)} test rows, answered by version {version}",
            ["row", "truth", "V2 /infer", "KServe V1 :predict", "MLflow /invocations"],
            rows,
        )
    )


def _roll_out(url: str, api_key: str, sample: Any, to_version: int) -> LoadResult:
    from shipyard.sdk.client import Client
    from shipyard.sdk.payloads import v2_request

    def move_alias() -> None:
        with Client(url, api_key=api_key, timeout=10.0) as client:
            client.set_alias(MODEL, ALIAS, to_version)

    return run_load(
        url,
        f"/v2/models/{MODEL}/infer",
        v2_request(sample.iloc[:1]),
        headers={"Authorization": f"Bearer {api_key}"},
        workers=WORKERS,
        seconds=LOAD_SECONDS,
        switch_after=SWITCH_AFTER,
        switch=move_alias,
    )


def _show_load(out: Console, load: LoadResult, old: int, new: int) -> None:
    buckets = int(LOAD_SECONDS / BUCKET_SECONDS)
    counts = [[0, 0, 0] for _ in range(buckets + 1)]
    for answer in load.answers:
        slot = counts[min(buckets, int(answer.at / BUCKET_SECONDS))]
        slot[0 if answer.version == old else 1 if answer.version == new else 2] += 1
    peak = max((a + b for a, b, _ in counts), default=1) or 1
    rows = []
    for i, (a, b, other) in enumerate(counts):
        if a + b + other == 0:
            continue
        bar = Text("█" * round(24 * a / peak), style="cyan") + Text("░" * round(24 * b / peak), style="green")
        marker = (
            " ← alias moved" if load.switched_at is not None and i == int(load.switched_at / BUCKET_SECONDS) else ""
        )
        rows.append(
            [
                f"{i * BUCKET_SECONDS:.1f}-{(i + 1) * BUCKET_SECONDS:.1f} s",
                str(a),
                str(b),
                bar + Text(marker, style="bold"),
            ]
        )
    out.print(table("answers by x-shipyard-model-version", ["time", f"v{old}", f"v{new}", ""], rows))
    first_new = next((a.at for a in load.answers if a.version == new), None)
    last_old = max((a.at for a in load.answers if a.version == old), default=None)
    if load.switched_at is not None:
        out.print(
            f"PUT /api/models/{MODEL}/aliases/{ALIAS} sent at {load.switched_at:.2f} s, "
            f"answered in {load.switch_seconds:.2f} s (the server loads v{new} before it answers)"
        )
        first = f"{first_new:.2f} s" if first_new is not None else "never"
        out.print(f"last v{old} answer sent at {last_old or 0:.2f} s, first v{new} answer sent at {first}")
    if load.switch_error:
        out.print(Text(f"moving the alias failed: {load.switch_error}", style="bold red"))
    sent = len(load.answers)
    failed = len(load.failed)
    summary: list[list[Any]] = [
        ["requests sent", str(sent)],
        ["failed", Text(str(failed), style="bold green" if failed == 0 else "bold red")],
        [f"answered by v{old}", str(len(load.by_version(old)))],
        [f"answered by v{new}", str(len(load.by_version(new)))],
        ["throughput", f"{sent / load.duration:.0f} req/s" if load.duration else "-"],
        ["latency p50", f"{load.latency_percentile(0.50) * 1000:.1f} ms"],
        ["latency p99", f"{load.latency_percentile(0.99) * 1000:.1f} ms"],
    ]
    out.print(table("summary", ["", ""], summary, header=False))
    for answer in load.failed[:3]:
        out.print(Text(f"failed at {answer.at:.2f} s: {answer.error}", style="red"))
