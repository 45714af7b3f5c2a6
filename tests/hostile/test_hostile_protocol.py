"""Hostile bodies at the codec level: every one is a 4xx error class, refused before any
allocation or parse that would be out of proportion to the body."""

from __future__ import annotations

import json
import struct
import time

import orjson
import pytest

from shipyard.errors import MalformedRequest, ShipyardError, TooManyRows, UnsupportedMediaType
from shipyard.protocol import bounds
from shipyard.protocol.mlflow import decode_mlflow_request
from shipyard.protocol.v1 import decode_v1_request
from shipyard.protocol.v2 import decode_infer_request
from shipyard.schema.signature import FieldSpec, Signature

COLUMNS = Signature(kind="columns", inputs=tuple(FieldSpec(f"x{i}", "float64") for i in range(20)))
TEXT = Signature(kind="columns", inputs=(FieldSpec("text", "string"),))
IMAGES = Signature(kind="tensors", inputs=(FieldSpec("image", "float32", (-1, -1, 3)),))
MAX_ROWS = 1000


def v2_json(tensor: dict[str, object], **extra: object) -> bytes:
    # The standard library writes integers of any size, as a hostile client can.
    return json.dumps({"inputs": [tensor], **extra}).encode()


def v2_binary(header: dict[str, object], data: bytes) -> tuple[bytes, int]:
    head = json.dumps(header).encode()
    return head + data, len(head)


def assert_client_error(exc: BaseException) -> None:
    assert isinstance(exc, ShipyardError)
    assert 400 <= exc.http_status < 500, exc


# -- shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [33, 64, 65, 100, 10_000])
def test_too_many_dimensions_json(dims: int) -> None:
    body = v2_json({"name": "x", "shape": [1] * dims, "datatype": "FP64", "data": [1.0]})
    with pytest.raises(MalformedRequest, match="dimensions"):
        decode_infer_request(body, content_type=None, header_length=None)


@pytest.mark.parametrize("dims", [33, 65, 100])
def test_too_many_dimensions_binary(dims: int) -> None:
    body, length = v2_binary(
        {"inputs": [{"name": "x", "shape": [1] * dims, "datatype": "FP64", "parameters": {"binary_data_size": 8}}]},
        struct.pack("<d", 1.0),
    )
    with pytest.raises(MalformedRequest, match="dimensions"):
        decode_infer_request(body, content_type=None, header_length=length)


def test_thirty_two_dimensions_still_decode() -> None:
    body = v2_json({"name": "x", "shape": [1] * 32, "datatype": "FP64", "data": [1.0]})
    request = decode_infer_request(body, content_type=None, header_length=None)
    assert request.inputs.items[0].array.ndim == 32


@pytest.mark.parametrize(
    "shape",
    [
        [10**12],
        [-1],
        [1, -5],
        [2**62, 4],
        [2**63],
        [2**64 + 1],
        [10**30],
        [0, 2**62, 2**62],
        [2**40, 2**40],
        [1.5],
        ["1"],
        [True],
        [None],
        "big",
    ],
)
@pytest.mark.parametrize("binary", [False, True])
def test_absurd_shapes_with_tiny_payloads(shape: object, binary: bool) -> None:
    t0 = time.perf_counter()
    if binary:
        body, length = v2_binary(
            {"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": 4}}]},
            b"\0\0\0\0",
        )
        with pytest.raises(MalformedRequest):
            decode_infer_request(body, content_type=None, header_length=length)
    else:
        with pytest.raises(MalformedRequest):
            decode_infer_request(
                v2_json({"name": "x", "shape": shape, "datatype": "FP32", "data": [0]}),
                content_type=None,
                header_length=None,
            )
    assert time.perf_counter() - t0 < 0.05


def test_bytes_tensor_claiming_many_elements_is_refused_before_listing_them() -> None:
    body, length = v2_binary(
        {"inputs": [{"name": "x", "shape": [2**39], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}]},
        b"\0\0\0\0",
    )
    with pytest.raises(MalformedRequest, match="needs at least"):
        decode_infer_request(body, content_type=None, header_length=length)


# -- nesting ------------------------------------------------------------------------------


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "decode",
    [
        lambda body: decode_infer_request(body, content_type=None, header_length=None),
        lambda body: decode_v1_request(body),
        lambda body: decode_mlflow_request(body, content_type="application/json"),
    ],
    ids=["v2", "v1", "mlflow"],
)
@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"inputs": ' + DEEP + b"}",
        b'{"instances": ' + DEEP + b"}",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": ' + DEEP + b"}]}",
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["array", "inputs", "instances", "data", "objects"],
)
def test_json_nested_100k_deep_is_a_400(decode: object, body: bytes) -> None:
    with pytest.raises(ShipyardError) as info:
        decode(body)  # type: ignore[operator]
    assert_client_error(info.value)


@pytest.mark.parametrize("depth", [33, 64, 65, 200])
def test_data_nested_past_the_dimension_limit(depth: int) -> None:
    data = b"[" * depth + b"1" + b"]" * depth
    with pytest.raises(MalformedRequest):
        decode_v1_request(b'{"instances": ' + data + b"}")
    body = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": ' + data + b"}]}"
    with pytest.raises(MalformedRequest):
        decode_infer_request(body, content_type=None, header_length=None)


# -- charsets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "charset", ["undefined", "no-such-charset", "base64", "zlib", "rot13", "hex", "bz2", "uu", "x" * 1000, "utf-8\x00"]
)
def test_unknown_or_non_text_charsets_are_415(charset: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_mlflow_request(b"a,b\n1,2\n", content_type=f"text/csv; charset={charset}")


@pytest.mark.parametrize("charset", ["undefined", "latin-1", "base64"])
def test_json_charsets_other_than_utf8_are_415(charset: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_mlflow_request(b'{"inputs": [[1]]}', content_type=f"application/json; charset={charset}")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "latin-1", "utf-16", "ascii"])
def test_real_charsets_still_decode(charset: str) -> None:
    encoding = charset.strip('"')
    body = "a,b\n1,2\n".encode(encoding)
    inputs = decode_mlflow_request(body, content_type=f"text/csv; charset={charset}")
    assert [item.name for item in inputs.items] == ["a", "b"]


def test_bytes_that_do_not_decode_are_400() -> None:
    with pytest.raises(MalformedRequest):
        decode_mlflow_request(b"a,b\n\xff\xfe,2\n", content_type="text/csv; charset=utf-8")
    with pytest.raises(MalformedRequest):
        decode_mlflow_request(b"a,b\n1,2\n1", content_type="text/csv; charset=utf-16")


# -- ids and names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["a\r\nSet-Cookie: x=1", "a\nb", "\x1b[31mred\x1b[0m", "nul\x00", "del\x7f", "c1\x9b31m", "x" * 257]
)
def test_v2_ids_with_control_characters_are_refused(value: str) -> None:
    body = v2_json({"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}, id=value)
    with pytest.raises(MalformedRequest, match="'id'"):
        decode_infer_request(body, content_type=None, header_length=None)


def test_printable_ids_pass() -> None:
    body = v2_json({"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}, id="req-42 ünïcode ✓")
    assert decode_infer_request(body, content_type=None, header_length=None).id == "req-42 ünïcode ✓"


# -- the row cap before the parse ---------------------------------------------------------


def zeros(n: int) -> bytes:
    return b"[" + b"0," * (n - 1) + b"0]"


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (
            lambda b: decode_infer_request(
                b, content_type=None, header_length=None, signature=COLUMNS, max_rows=MAX_ROWS
            ),
            b'{"inputs": [{"name": "x", "shape": [800000, 20], "datatype": "FP64", "data": '
            + zeros(16_000_000)
            + b"}]}",
        ),
        (
            lambda b: decode_v1_request(b, signature=COLUMNS, max_rows=MAX_ROWS),
            b'{"instances": ' + zeros(16_000_000) + b"}",
        ),
        (
            lambda b: decode_mlflow_request(b, content_type="application/json", signature=COLUMNS, max_rows=MAX_ROWS),
            b'{"inputs": ' + zeros(16_000_000) + b"}",
        ),
        (
            lambda b: decode_mlflow_request(b, content_type="text/csv", signature=COLUMNS, max_rows=MAX_ROWS),
            b"x0\n" + b"0\n" * 16_000_000,
        ),
        (
            lambda b: decode_mlflow_request(b, content_type="text/csv", signature=COLUMNS, max_rows=MAX_ROWS),
            b"x0\n" + b"0," * 1_000_000 + b"0\n",
        ),
    ],
    ids=["v2", "v1", "mlflow-json", "mlflow-csv-lines", "mlflow-csv-wide"],
)
def test_bodies_over_the_row_cap_are_refused_before_parsing(decode: object, body: bytes) -> None:
    t0 = time.perf_counter()
    with pytest.raises(TooManyRows):
        decode(body)  # type: ignore[operator]
    elapsed = time.perf_counter() - t0
    print(f"{len(body) / 1e6:.0f} MB refused in {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5


def test_a_body_at_the_row_cap_is_not_refused() -> None:
    row = [0.5] * 20
    body = orjson.dumps({"instances": [row] * MAX_ROWS})
    inputs = decode_v1_request(body, signature=COLUMNS, max_rows=MAX_ROWS)
    assert inputs.items[0].array.shape == (MAX_ROWS, 20)
    v2 = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [MAX_ROWS, 20], "datatype": "FP64", "data": [row] * MAX_ROWS}]}
    )
    decoded = decode_infer_request(v2, content_type=None, header_length=None, signature=COLUMNS, max_rows=MAX_ROWS)
    assert decoded.inputs.items[0].array.shape == (MAX_ROWS, 20)
    csv = b",".join(f"x{i}".encode() for i in range(20)) + b"\n" + (b",".join([b"0.5"] * 20) + b"\n") * MAX_ROWS
    assert decode_mlflow_request(csv, content_type="text/csv", signature=COLUMNS, max_rows=MAX_ROWS).items


def test_commas_inside_strings_are_not_counted_as_values() -> None:
    text = "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p"
    body = orjson.dumps({"instances": [{"text": text}] * MAX_ROWS})
    assert body.count(b",") > bounds.value_budget(TEXT, MAX_ROWS)  # type: ignore[operator]
    inputs = decode_v1_request(body, signature=TEXT, max_rows=MAX_ROWS)
    assert len(inputs.items[0].array) == MAX_ROWS
    csv = b"text\n" + (b'"' + text.encode() + b'"\n') * MAX_ROWS
    assert decode_mlflow_request(csv, content_type="text/csv", signature=TEXT, max_rows=MAX_ROWS).items
    multiline = b"text\n" + b'"line one\nline two\nline three"\n' * MAX_ROWS
    assert decode_mlflow_request(multiline, content_type="text/csv", signature=TEXT, max_rows=MAX_ROWS).items
    quoted = b"text\n" + b'"she said ""a, b, c, d, e, f, g, h"""\n' * MAX_ROWS
    assert decode_mlflow_request(quoted, content_type="text/csv", signature=TEXT, max_rows=MAX_ROWS).items


@pytest.mark.parametrize(
    "text",
    ['a \\"quoted, comma\\" b', "ends with a backslash \\", 'both \\\\" and , and \\\\', ",,,,,,,,,,,,,,,,,,,,,,,"],
)
def test_escapes_inside_json_strings_do_not_confuse_the_count(text: str) -> None:
    for rows in (MAX_ROWS, 20):  # many strings (the bulk pass), few strings (one by one)
        body = orjson.dumps({"instances": [{"text": text * (MAX_ROWS // rows)}] * rows})
        inputs = decode_v1_request(body, signature=TEXT, max_rows=MAX_ROWS)
        assert inputs.items[0].array[0] == text * (MAX_ROWS // rows)
    over = orjson.dumps({"instances": [{"text": text}] * (MAX_ROWS * 5)})
    with pytest.raises(TooManyRows):
        decode_v1_request(over, signature=TEXT, max_rows=MAX_ROWS)


def test_unbounded_signatures_skip_the_value_count() -> None:
    assert bounds.value_budget(IMAGES, MAX_ROWS) is None
    assert bounds.value_budget(None, MAX_ROWS) is None
    assert bounds.value_budget(COLUMNS, MAX_ROWS) == MAX_ROWS * 21 + 1024 + 80


def test_small_bodies_cost_one_comparison() -> None:
    body = orjson.dumps({"instances": [[0.5] * 20]})
    t0 = time.perf_counter()
    for _ in range(100_000):
        bounds.check_json_values(body, COLUMNS, max_rows=MAX_ROWS)
    per_call = (time.perf_counter() - t0) / 100_000
    # ~0.2 µs on an idle machine; the bound leaves room for a loaded CI box.
    assert per_call < 1e-5


# -- upload names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("m" * 300 + ".skops", "m" * 249 + ".skops"),
        ("é" * 200 + ".onnx", "é" * 125 + ".onnx"),
        ("x" * 300, "x" * 255),
        ("a.b" + "c" * 300, ("a.b" + "c" * 300)[:255]),
        ("line\r\nbreak.skops", "line__break.skops"),
        ("/abs/dir/model.onnx", "model.onnx"),
        (None, "model"),
        ("", "model"),
    ],
)
def test_upload_names_fit_the_file_system(raw: str | None, expected: str) -> None:
    from shipyard.fs.paths import upload_name

    name = upload_name(raw)
    assert name == expected
    assert len(name.encode("utf-8")) <= 255


@pytest.mark.parametrize("raw", ["..", "..\\evil", "%2e%2e", "%252e%252e%252f", "a\x00b", "~"])
def test_upload_names_that_could_escape_are_refused(raw: str) -> None:
    from shipyard.errors import PathEscape
    from shipyard.fs.paths import upload_name

    with pytest.raises(PathEscape):
        upload_name(raw)


def test_binary_bytes_tensors_over_the_row_cap_are_refused_before_reading() -> None:
    count = 2_000_000
    data = b"\0\0\0\0" * count
    head = json.dumps(
        {
            "inputs": [
                {"name": "text", "shape": [count], "datatype": "BYTES", "parameters": {"binary_data_size": len(data)}}
            ]
        }
    ).encode()
    t0 = time.perf_counter()
    with pytest.raises(TooManyRows):
        decode_infer_request(head + data, content_type=None, header_length=len(head), signature=TEXT, max_rows=MAX_ROWS)
    assert time.perf_counter() - t0 < 0.1
