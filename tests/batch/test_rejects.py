"""Rows the signature refuses go to the rejects file, with their values and the reason: never dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from batch_support import ScoringHome, Shipyard, mixed_frame, numeric_frame, read

# ``mixed``: x float64 (nullable), n int64, color string.
BAD_CSV_ROWS = {
    # row: (x, n, color, the start of the reason)
    2: ("abc", "4", "red", "column 'x': expected float64, got text that is not a number"),
    3: ("0.5", "1.5", "red", "column 'n': expected int64, got text that is not an integer"),
    5: ("0.5", "", "blue", "column 'n': expected int64, got null"),
    7: ("0.5", "3", "", "column 'color': null is not allowed"),
    8: ("inf", "3", "red", "column 'x': infinite or out-of-range values are not accepted"),
    11: ("0.5", "99999999999999999999", "red", "column 'n': expected int64, got text that is not an integer"),
}
GOOD_ODDITIES = {
    # Accepted as the data plane accepts them: a missing value in a nullable field, a whole
    # number written as a decimal in an integer field, spaces around a number.
    4: ("", "2", "green"),
    6: ("0.25", "3.0", "red"),
    9: (" 1.5 ", " 7 ", "blue"),
}


def _mixed_csv(path: Path, rows: int) -> pd.DataFrame:
    frame = mixed_frame(rows).astype({"x": object, "n": object})
    frame["x"] = ["" if pd.isna(v) else repr(float(v)) for v in frame["x"]]
    frame["n"] = [str(int(v)) for v in frame["n"]]
    for row, (x, n, color, *_) in {**BAD_CSV_ROWS, **GOOD_ODDITIES}.items():
        frame.loc[row, ["x", "n", "color"]] = [x, n, color]
    frame.to_csv(path, index=False)
    return frame


def test_csv_rejects_hold_the_rows_text_and_reasons(cli: Shipyard, scoring_home: ScoringHome, tmp_path: Path) -> None:
    text = _mixed_csv(tmp_path / "in.csv", 40)
    summary = cli.score("mixed", "--input", "in.csv", "--output", "out.parquet", "--chunk-rows", "6")
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (40, 40 - len(BAD_CSV_ROWS), len(BAD_CSV_ROWS))
    rejects = read(tmp_path / "out.rejects.parquet")
    assert list(rejects.columns) == ["row_id", "reason", "x", "n", "color"]
    assert rejects["row_id"].tolist() == sorted(BAD_CSV_ROWS)
    for record in rejects.to_dict("records"):
        x, n, color, reason = BAD_CSV_ROWS[record["row_id"]]
        assert record["reason"].startswith(reason), record
        assert (record["x"], record["n"], record["color"]) == (x, n, color)  # the text as the file held it
    out = read(tmp_path / "out.parquet")
    kept = text.drop(index=list(BAD_CSV_ROWS))
    assert out["row_id"].tolist() == kept.index.tolist()
    expected = pd.DataFrame(
        {
            "x": [float(v) if v.strip() else np.nan for v in kept["x"]],
            "n": [int(float(v)) for v in kept["n"]],
            "color": kept["color"].tolist(),
        }
    )
    assert out["predict"].tolist() == scoring_home.mixed.predict(expected).tolist()


def test_parquet_nulls_infinities_and_ranges(cli: Shipyard, tmp_path: Path, scoring_home: ScoringHome) -> None:
    frame = numeric_frame(20)
    frame.loc[3, "a"] = np.nan
    frame.loc[4, "b"] = np.inf
    table = pa.Table.from_pandas(frame, preserve_index=False)
    column = table.column("c").to_pylist()
    column[9] = None
    table = table.set_column(2, "c", pa.array(column, pa.float64()))
    pq.write_table(table, tmp_path / "in.parquet")
    summary = cli.score("lr", "--input", "in.parquet", "--output", "out.parquet")
    assert (summary["scored"], summary["rejected"]) == (17, 3)
    rejects = read(tmp_path / "out.rejects.parquet")
    assert dict(zip(rejects["row_id"], rejects["reason"], strict=True)) == {
        3: "column 'a': NaN or null is not allowed (the field is not nullable)",
        4: "column 'b': infinite or out-of-range values are not accepted",
        9: "column 'c': NaN or null is not allowed (the field is not nullable)",
    }
    assert rejects.loc[rejects["row_id"] == 4, "b"].item() == "inf"
    assert pq.read_table(tmp_path / "out.rejects.parquet").column("c").to_pylist()[2] is None  # null stays null
    kept = frame.drop(index=[3, 4, 9])
    out = read(tmp_path / "out.parquet")
    assert out["row_id"].tolist() == kept.index.tolist()
    assert out["predict"].tolist() == scoring_home.lr.predict(kept).tolist()


def test_integers_out_of_the_fields_range(cli: Shipyard, tmp_path: Path) -> None:
    frame = mixed_frame(10)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    n = table.column("n").to_pylist()
    n[6] = 2**63 + 5
    table = table.set_column(1, "n", pa.array(n, pa.uint64()))
    pq.write_table(table, tmp_path / "in.parquet")
    cli.score("mixed", "--input", "in.parquet", "--output", "out.parquet")
    rejects = read(tmp_path / "out.rejects.parquet")
    assert rejects.to_dict("list") | {"x": None} == {
        "row_id": [6],
        "reason": ["column 'n': values outside the range of int64"],
        "x": None,
        "n": [str(2**63 + 5)],
        "color": [frame.loc[6, "color"]],
    }


def test_rows_only_the_data_planes_check_refuses_are_found_too(cli: Shipyard, tmp_path: Path) -> None:
    # Bytes that are not UTF-8 in a text field: no column-wide rule sees it; validation
    # refuses the chunk, and the chunk is narrowed down to the row.
    frame = mixed_frame(12)
    colors = [c.encode() for c in frame["color"]]
    colors[5] = b"\xff\xfe"
    table = pa.Table.from_pandas(frame.drop(columns="color"), preserve_index=False)
    pq.write_table(table.append_column("color", pa.array(colors, pa.binary())), tmp_path / "in.parquet")
    summary = cli.score("mixed", "--input", "in.parquet", "--output", "out.parquet")
    assert (summary["scored"], summary["rejected"]) == (11, 1)
    rejects = read(tmp_path / "out.rejects.parquet")
    assert rejects["row_id"].tolist() == [5]
    assert rejects["reason"].item() == "column 'color': expected UTF-8 text, got undecodable bytes"


def test_rejects_as_csv_and_every_row_refused(cli: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b,c,d\n1,2,x,4\n,1,1,1\n")
    summary = cli.score("lr", "--input", "in.csv", "--output", "out.parquet", "--rejects", "bad.csv")
    assert (summary["scored"], summary["rejected"]) == (0, 2)
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 0
    rejects = pd.read_csv(tmp_path / "bad.csv", dtype=str, keep_default_na=False)
    assert rejects.to_dict("records") == [
        {"row_id": "0", "reason": "column 'c': expected float64, got text that is not a number",
         "a": "1", "b": "2", "c": "x", "d": "4"},
        {"row_id": "1", "reason": "column 'a': NaN or null is not allowed (the field is not nullable)",
         "a": "", "b": "1", "c": "1", "d": "1"},
    ]  # fmt: skip
