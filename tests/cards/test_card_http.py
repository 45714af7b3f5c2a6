"""Model cards and the one view over HTTP, against a real server on loopback with real keys:
the card as JSON/Markdown/HTML, edits with ``cards.write`` only, history, the governance view,
scopes across models, and every kind of bad input (4xx ``{"error", "code"}``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from card_support import FULL_NARRATIVE, register_clf

from homes import open_home
from live_server import LiveServer, create_key
from shipyard.rollout.service import apply_spec

BASE = "/api/models/clf/versions/1"
SPEC = """\
deployment: scoring
variants:
  stable: {model: clf/1, role: primary}
  candidate: {model: clf@candidate, role: canary, weight: 10}
  mirror: {model: clf/2, role: shadow, sample: 0.5}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("cards-http")
    svc = open_home(home)
    try:
        register_clf(svc)
        register_clf(svc)  # clf/2
        register_clf(svc, "other")
        svc.store.set_alias("clf", "candidate", 2, actor="admin")
        svc.store.controls.set(
            "clf",
            {"review": {"rules": [{"kind": "low_confidence", "below": 0.7}]}, "pii": {"a": "hash", "b": "drop"}},
            actor="admin",
        )
        svc.store.controls.set("scoring", {"review": {"rules": [{"kind": "sample", "rate": 0.01}]}}, actor="admin")
        apply_spec(svc.store, SPEC, actor="admin")
    finally:
        svc.close()
    with LiveServer(home, ["clf", "other"], settings={"access_log": "false"}) as live:
        yield live


def key(server: LiveServer, role: str, models: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(server.home, role, models)}"}


def call(
    server: LiveServer, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    chosen = server.auth_headers if headers is None else headers
    return httpx.request(method, server.url + path, headers=chosen, timeout=30, **kw)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"error", "code"}
    return body


def test_the_card_as_json_markdown_and_html(server: LiveServer) -> None:
    viewer = key(server, "viewer")
    card = call(server, "GET", f"{BASE}/card", viewer)
    assert card.status_code == 200 and card.headers["content-type"] == "application/json"
    body = card.json()
    assert body["ref"] == "clf/1" and body["evaluation"]["metrics"] == {"accuracy": 0.93}
    assert body["owners"]["owner"] == "team-risk"
    md = call(server, "GET", f"{BASE}/card?format=md", viewer)
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Model card: clf/1")
    html = call(server, "GET", f"{BASE}/card?format=html", viewer)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in html.text and "<main>" in html.text
    assert html.headers["x-content-type-options"] == "nosniff"


def test_edit_needs_cards_write_and_makes_revisions(server: LiveServer) -> None:
    publisher = key(server, "publisher")
    for role in ("viewer", "deployer", "approver", "reviewer", "predictor"):
        refused = call(server, "PUT", f"{BASE}/card", key(server, role), json={"fields": {"risks": "x"}})
        assert error(refused, 403)["code"] == "forbidden", role
    done = call(server, "PUT", f"{BASE}/card", publisher, json={"fields": FULL_NARRATIVE, "reason": "first"})
    assert done.status_code == 200, done.text
    first = done.json()
    assert first["revision"]["changed"] == list(FULL_NARRATIVE)
    assert first["revision"]["actor"].startswith("key:") and first["revision"]["reason"] == "first"
    assert first["card"]["complete"] is True
    again = call(server, "PUT", f"{BASE}/card", publisher, json={"fields": {"risks": "Changed"}}).json()
    assert again["revision"]["revision"] == first["revision"]["revision"] + 1
    history = call(server, "GET", f"{BASE}/card/history", key(server, "viewer")).json()
    assert [r["revision"] for r in history["revisions"]][-2:] == [
        first["revision"]["revision"],
        again["revision"]["revision"],
    ]
    old = call(server, "GET", f"{BASE}/card?revision={first['revision']['revision']}").json()
    assert old["narrative"]["risks"] == FULL_NARRATIVE["risks"]
    audit = call(server, "GET", "/api/audit?action=card.edit").json()
    entries = audit.get("entries", audit.get("items", []))
    assert entries and all("Changed" not in str(e) for e in entries)


def test_a_key_for_one_model_cannot_read_or_edit_another_card(server: LiveServer) -> None:
    narrow = key(server, "publisher", ("other",))
    assert call(server, "GET", "/api/models/other/versions/1/card", narrow).status_code == 200
    assert error(call(server, "GET", f"{BASE}/card", narrow), 403)["code"] == "forbidden"
    assert error(call(server, "PUT", f"{BASE}/card", narrow, json={"fields": {"risks": "x"}}), 403)
    assert error(call(server, "GET", f"{BASE}/governance", narrow), 403)
    assert error(call(server, "GET", f"{BASE}/card", {}), 401)["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("format=pdf", "invalid_request"),
        ("format=", "invalid_request"),
        ("revision=0", "invalid_request"),
        ("revision=abc", "invalid_request"),
        ("revision=-1", "invalid_request"),
        ("color=red", "invalid_request"),
    ],
)
def test_bad_card_queries(server: LiveServer, query: str, code: str) -> None:
    assert error(call(server, "GET", f"{BASE}/card?{query}"), 400)["code"] == code


def test_missing_things_are_404(server: LiveServer) -> None:
    assert error(call(server, "GET", "/api/models/clf/versions/9/card"), 404)["code"] == "version_not_found"
    assert error(call(server, "GET", "/api/models/nope/versions/1/card"), 404)["code"] == "model_not_found"
    assert error(call(server, "GET", f"{BASE}/card?revision=999"), 404)["code"] == "not_found"
    assert error(call(server, "PUT", "/api/models/clf/versions/9/card", json={"fields": {"risks": "x"}}), 404)
    assert error(call(server, "GET", "/api/models/clf/versions/9/card/history"), 404)
    assert error(call(server, "GET", "/api/models/clf/versions/9/governance"), 404)
    assert error(call(server, "GET", "/api/models/clf/versions/abc/card"), 400)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (b"{}", 400, "fields"),
        (b'{"fields": {}}', 400, "non-empty"),
        (b'{"fields": "risks"}', 400, "non-empty object"),
        (b'{"fields": {"risks": 1}}', 400, "must be text"),
        (b'{"fields": {"bogus": "x"}}', 400, "unknown card field"),
        (b'{"fields": {"fairness": "x"}}', 400, "computed figures"),
        (b'{"fields": {"risks": "a\\u0000b"}}', 400, "control character"),
        (b'{"fields": {"risks": "a\\u001b[2J"}}', 400, "control character"),
        (b'{"fields": {"risks": "x"}, "extra": 1}', 400, "unexpected fields"),
        (b'{"fields": {"risks": "x"}, "reason": 5}', 400, "reason"),
    ],
)
def test_bad_edits(server: LiveServer, body: bytes, status: int, needle: str) -> None:
    headers = {**server.auth_headers, "Content-Type": "application/json"}
    found = error(call(server, "PUT", f"{BASE}/card", headers, content=body), status)
    assert needle in found["error"]


def test_edit_bodies_too_long_or_of_the_wrong_type(server: LiveServer) -> None:
    too_long = {"fields": {"risks": "x" * 20_001}}
    assert error(call(server, "PUT", f"{BASE}/card", json=too_long), 400)
    huge = {"fields": {"risks": "x" * 70_000}}
    assert error(call(server, "PUT", f"{BASE}/card", json=huge), 413)
    headers = {**server.auth_headers, "Content-Type": "text/plain"}
    assert error(call(server, "PUT", f"{BASE}/card", headers, content=b'{"fields": {"risks": "x"}}'), 415)


def test_the_governance_view(server: LiveServer) -> None:
    view = call(server, "GET", f"{BASE}/governance", key(server, "viewer"))
    assert view.status_code == 200, view.text
    body = view.json()
    assert (body["model"], body["version"], body["tier"], body["tier_set"]) == ("clf", 1, "minimal", False)
    assert body["gate"]["purpose"] == "alias:production" and body["gate"]["allowed"] is True
    assert body["card"]["required"] == [] and "revision" in body["card"]
    assert body["pii"] == {"a": "hash", "b": "drop"}
    assert body["review"]["clf"]["rules"] == [{"kind": "low_confidence", "below": 0.7}]
    assert body["review"]["scoring"]["rules"] == [{"kind": "sample", "rate": 0.01}]
    assert body["aliases"] == [] and body["latest"] is False
    assert body["deployments"] == [
        {"deployment": "scoring", "state": "active", "revision": 1, "variant": "stable", "model_ref": "clf/1",
         "role": "primary", "traffic": "90% of requests"},
    ]  # fmt: skip
    two = call(server, "GET", "/api/models/clf/versions/2/governance").json()
    assert two["aliases"] == ["candidate"] and two["latest"] is True
    assert [(d["variant"], d["traffic"]) for d in two["deployments"]] == [
        ("candidate", "10% of requests"),
        ("mirror", "shadow copy of 50% of requests"),
    ]
    other = call(server, "GET", "/api/models/other/versions/1/governance").json()
    assert other["pii"] == {} and other["review"] == {} and other["deployments"] == []
    deploy = call(server, "GET", f"{BASE}/governance?purpose=deployment:scoring").json()
    assert deploy["gate"]["purpose"] == "deployment:scoring"


@pytest.mark.parametrize("query", ["purpose=prod", "purpose=alias:", "purpose=" + "alias:" + "x" * 300, "foo=1"])
def test_bad_governance_queries(server: LiveServer, query: str) -> None:
    assert error(call(server, "GET", f"{BASE}/governance?{query}"), 400)


def test_the_routes_are_in_openapi(server: LiveServer) -> None:
    doc = call(server, "GET", "/openapi.json").json()
    paths = doc["paths"]
    assert set(paths[f"{BASE.replace('clf', '{name}').replace('/1', '/{version}')}/card"]) == {"get", "put"}
    put = paths["/api/models/{name}/versions/{version}/card"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CardEdit"}
    governance = paths["/api/models/{name}/versions/{version}/governance"]["get"]
    assert "VersionGovernance" in str(governance["responses"]["200"])
    assert {"ModelCard", "CardEdit", "CardEdited", "CardHistory", "CardStatus", "VersionGovernance"} <= set(
        doc["components"]["schemas"]
    )


def test_the_sdk_round_trip(server: LiveServer) -> None:
    from shipyard.errors import RemoteError
    from shipyard.sdk.client import Client

    token = create_key(server.home, "publisher", ("other",))
    with Client(server.url, api_key=token) as client:
        edited = client.edit_card("other", 1, {"intended_use": "Tests", "risks": ""}, reason="sdk")
        assert edited["revision"]["changed"] == ["intended_use"] and edited["card"]["complete"] is True
        assert client.card("other", 1)["narrative"] == {"intended_use": "Tests"}
        assert client.card_text("other", 1, format="md").startswith("# Model card: other/1")
        assert "<main>" in client.card_text("other", 1, format="html")
        assert [r["reason"] for r in client.card_history("other", 1)] == ["sdk"]
        assert client.card("other", 1, revision=1)["revision"] == 1
        view = client.version_governance("other", 1)
        assert view["ref"] == "other/1" and view["card"]["revision"] == 1
        with pytest.raises(RemoteError) as refused:
            client.edit_card("clf", 1, {"risks": "x"})
        assert refused.value.status == 403
        with pytest.raises(RemoteError) as bad:
            client.edit_card("other", 1, {"bogus": "x"})
        assert bad.value.status == 400 and bad.value.remote_code == "invalid_request"
        with pytest.raises(RemoteError) as missing:
            client.card("other", 7)
        assert missing.value.status == 404
