"""What the OpenAPI document states, generated from the code: typed and
constrained parameters, request bodies with their rules, real content types,
the statuses an operation can answer, unique operation ids."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def document(api, io_loop):
    resp = io_loop.run_sync(lambda: api.get("/api/schema/"))
    assert resp.status == 200
    return resp.json()


def _param(op: dict, name: str) -> dict:
    return next(p for p in op["parameters"] if p["name"] == name)


def _schema(document: dict, ref_holder: dict) -> dict:
    return document["components"]["schemas"][ref_holder["$ref"].rsplit("/", 1)[-1]]


def test_parameters_are_typed_and_constrained(document):
    products = document["paths"]["/api/products/"]["get"]
    assert _param(products, "in_stock")["schema"]["anyOf"][0] == {"type": "boolean"}
    assert set(_param(products, "tab")["schema"]["enum"]) >= {"all", "published", "draft", "low_stock"}
    assert "price" in _param(products, "ordering")["schema"]["pattern"]
    assert _param(products, "page")["schema"]["anyOf"][0]["type"] == "integer"
    item = document["paths"]["/api/products/{id}/"]["get"]
    assert _param(item, "id")["schema"] == {"type": "integer", "minimum": 0, "maximum": 2147483647}
    rec = document["paths"]["/api/products/{id}/recommendations/{rec_type}/"]["get"]
    assert _param(rec, "rec_type")["schema"]["enum"] == ["similar", "complementary"]
    export = document["paths"]["/api/exports/{id}/"]["get"]
    assert _param(export, "id")["schema"]["format"] == "uuid"


def test_bodies_state_their_rules(document):
    register = _schema(document, document["paths"]["/api/register/"]["post"]["requestBody"]["content"][
        "application/json"]["schema"])
    assert register["properties"]["email"]["format"] == "email"
    assert register["properties"]["password"]["minLength"] == 8
    assert set(register["required"]) == {"email", "password"}
    review = document["components"]["schemas"]["ReviewIn"]["properties"]
    assert review["rating"]["anyOf"][0]["minimum"] == 1 and review["rating"]["anyOf"][0]["maximum"] == 5
    color = document["components"]["schemas"]["ColorIn"]["properties"]["hex_code"]
    assert "#[0-9A-Fa-f]{6}" in color["pattern"]
    product = document["components"]["schemas"]["ProductIn"]["properties"]
    assert product["stock_quantity"]["anyOf"][0]["minimum"] == 0
    upload = document["paths"]["/api/products/{id}/upload-image/"]["post"]["requestBody"]
    form = upload["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["image"] and form["properties"]["image"]["format"] == "binary"
    assert document["paths"]["/api/profile/update-details/"]["put"]["requestBody"]["required"] is True


def test_no_default_null_on_a_type_that_does_not_allow_null(document):
    for name in ("ProductPatch", "CategoryPatch", "TagPatch", "SizePatch", "ColorPatch"):
        for prop, schema in document["components"]["schemas"][name]["properties"].items():
            if schema.get("default", 0) is None:
                assert "null" in json.dumps(schema), (name, prop)


def test_content_types_and_shapes_are_the_real_ones(document):
    export = document["paths"]["/api/products/export/"]["get"]["responses"]
    assert "text/csv" in export["200"]["content"] and "application/json" in export["202"]["content"]
    assert "text/html" in document["paths"]["/api/docs/"]["get"]["responses"]["200"]["content"]
    categories = document["paths"]["/api/products/categories/"]["get"]["responses"]["200"]["content"]
    item = _schema(document, categories["application/json"]["schema"]["items"])
    assert "description" not in item["properties"]


def test_every_operation_lists_the_statuses_it_can_answer(document):
    ids = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["tags"], (method, path)
            codes = set(op["responses"])
            assert "503" in codes, (method, path)
            if path != "/api/health/":
                assert {"400", "401", "429"} <= codes, (method, path)
            if op.get("x-required-role") == "admin":
                assert "403" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")) and path != "/api/health/":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert len(ids) == len(set(ids))
    assert document["paths"]["/api/register/"]["post"]["operationId"] != \
        document["paths"]["/api/auth/register/"]["post"]["operationId"]
    assert "409" in document["paths"]["/api/exports/{id}/download/"]["get"]["responses"]


def test_statuses_for_input_the_document_allows_are_explained(document):
    op = document["paths"]["/api/tags/"]["post"]
    assert op["x-valid-input-statuses"] == [400]
    assert "name already in use" in op["responses"]["400"]["description"]
