"""Every error class maps to a gRPC status, with HTTP's message and the code, hint and Retry-After."""

from __future__ import annotations

import grpc
import pytest

from shipyard.errors import ERRORS_BY_CODE, RateLimited, ShipyardError, TooManyRows
from shipyard.grpcapi.status import STATUS_BY_HTTP, grpc_status


@pytest.mark.parametrize("cls", sorted(ERRORS_BY_CODE.values(), key=lambda c: c.code), ids=lambda c: c.code)
def test_every_error_class_has_a_status(cls: type[ShipyardError]) -> None:
    if cls.__name__ == "RemoteError":
        return  # the client's, never raised by a server
    assert cls.http_status in STATUS_BY_HTTP, f"{cls.__name__} ({cls.http_status}) has no gRPC status"


def test_the_details_are_the_http_message_with_paths_redacted() -> None:
    exc = TooManyRows("501 rows is over the limit of 500 in /srv/shipyard/home/x.json", hint="send fewer")
    code, details, trailers = grpc_status(exc)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details == exc.to_dict()["error"]
    assert "/srv" not in details
    assert dict(trailers) == {"shipyard-code": "too_many_rows", "shipyard-hint": "send fewer"}


def test_a_rate_limit_says_when_to_retry() -> None:
    code, _, trailers = grpc_status(RateLimited("slow down", retry_after=3))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(trailers)["retry-after"] == "3"


def test_a_non_ascii_hint_still_travels() -> None:
    _, _, trailers = grpc_status(ShipyardError("boom", hint="caf\u00e9 \u2192 bar"))
    assert dict(trailers)["shipyard-hint"] == "caf? ? bar"
