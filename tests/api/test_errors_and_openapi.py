"""Every error under /api/v1 is JSON (S22, S28), and the OpenAPI document describes every API
route (so a new route without documentation fails here)."""
from __future__ import annotations

import re

import pytest

from portal.api import openapi
from portal.api import views as api_views


def assert_json_error(response, status: int, code: str | None = None):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["message"] and error["code"]
    if code:
        assert error["code"] == code
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/tickets/abc", "/api/v1/tickets/-4",
                                  "/api/v1/", "/api/v1", "/api/v2/tickets"])
def test_unknown_paths_are_json_404(api, shop, path):
    assert_json_error(api(shop.owner_key).get(path), 404)
    assert_json_error(api(None).post(path, json={}), 404)


def test_wrong_methods_are_json_405(api, shop):
    assert_json_error(api(shop.owner_key).get(f"/api/v1/tickets/{shop.ticket.id}/close"), 405)
    assert_json_error(api(shop.owner_key).open("/api/v1/me", "DELETE"), 405)
    assert_json_error(api(shop.owner_key).open("/api/v1/tickets", "PUT"), 405)


def test_a_crash_is_json_500_and_nothing_leaks(api, shop, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("SELECT secret FROM somewhere /srv/portal/app.py")

    monkeypatch.setattr(api_views.ticket_queries, "visible_accounts", boom)
    response = api(shop.owner_key).get("/api/v1/accounts")
    assert_json_error(response, 500, "server_error")
    assert "SELECT" not in response.get_data(as_text=True)


def test_a_too_large_body_is_json_413(api, shop):
    response = api(shop.owner_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                        data="x" * (3 * 1024 * 1024),
                                        headers={"Content-Type": "application/json"})
    assert_json_error(response, 413)


def test_every_answer_is_json_with_security_headers(api, shop):
    for response in (api(shop.owner_key).get("/api/v1/tickets"), api(None).get("/api/v1/tickets"),
                     api(shop.owner_key).get("/api/v1/openapi.json")):
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


# --- OpenAPI ------------------------------------------------------------------------------------


def test_the_document_is_public_and_describes_every_api_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] and doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key"}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    assert routes and routes == documented


def test_the_document_is_well_formed(app):
    doc = openapi.document()
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not installed here: check the structure by hand
        validate = None
    if validate is not None:
        validate(doc)
    refs = set(re.findall(r"#/components/schemas/(\w+)", repr(doc)))
    assert refs <= set(doc["components"]["schemas"])
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        params_in_path = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == params_in_path, (path, method)
            for status, answer in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status) and answer["description"]
