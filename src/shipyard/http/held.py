"""The ``202 pending_review`` answer of a prediction held for human review: one body for
every inference protocol (V2, KServe V1, MLflow), documented as ``PendingReview``."""

from __future__ import annotations

from starlette.responses import Response

from shipyard.http.responses import JSONResponse
from shipyard.http.state import answer_headers
from shipyard.serving.dataplane import InferenceResult


def held_response(result: InferenceResult) -> Response | None:
    """The 202 for ``result`` when its prediction waits for a reviewer, else None."""
    held = result.pending_review
    if held is None:
        return None
    return JSONResponse(held.body(), status_code=202, headers=answer_headers(result))
