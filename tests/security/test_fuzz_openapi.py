"""schemathesis over the whole of ``/openapi.json`` (management included) with an admin key,
against a real server: no 5xx, and responses that match the documented schemas.

Path parameters are aimed at the models that exist (``AIM``), so bodies reach the
decoders. The example count is bounded (``MAX_EXAMPLES`` per operation, derandomized) so this runs in
the normal suite; raise ``SHIPYARD_FUZZ_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from security_support import build_home

from live_server import LiveServer
from shipyard.http.openapi import openapi_document

MAX_EXAMPLES = int(os.environ.get("SHIPYARD_FUZZ_EXAMPLES", "12"))


def _aimed(document: dict[str, Any]) -> dict[str, Any]:
    """The published document with its path parameters narrowed to things that exist (plus
    one that does not), so generated bodies reach the decoders instead of a 404."""
    aimed = copy.deepcopy(document)
    for operations in aimed["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in AIM:
                    param["schema"] = {"enum": AIM[param["name"]]}
    return aimed


AIM: dict[str, list[Any]] = {"name": ["a1", "b1", "nope"], "version": [1, 2, 9], "alias": ["prod", "fuzz"]}

schema = schemathesis.openapi.from_dict(_aimed(openapi_document()))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("fuzz")
    build_home(home)
    with LiveServer(home, ["a1", "b1"], settings={"access_log": "false"}) as srv:
        yield srv


def test_the_served_document_is_the_fuzzed_one(fuzz_server: LiveServer) -> None:
    served = httpx.get(fuzz_server.url + "/openapi.json", headers=fuzz_server.auth_headers).json()
    assert served == openapi_document()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_every_operation(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    response = case.call(base_url=fuzz_server.url, headers=fuzz_server.auth_headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_the_fuzzer_got_through_the_edge(fuzz_server: LiveServer) -> None:
    """The admin key works for the fuzzer: a known-good call through every layer."""
    body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}
    response = httpx.post(fuzz_server.url + "/v2/models/a1/infer", json=body, headers=fuzz_server.auth_headers)
    assert response.status_code == 200, response.text
    assert Path(fuzz_server.home).exists()
