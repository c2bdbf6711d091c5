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


# --- a document a client can be generated from -------------------------------------------

def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _success_schemas(document: dict):
    for path, item in document["paths"].items():
        for method, op in item.items():
            for code, response in op["responses"].items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None:
                    yield f"{method} {path} {code}", content


# The OpenAPI document itself (its schema is the OpenAPI specification) and the
# variants an admin attaches to an order line (whatever the admin's form sent).
FREE_FORM = {"get /api/schema/ 200", "OrderItemOut.variants"}


def test_every_success_answer_has_a_closed_typed_schema(document):
    """No open object, no untyped value in any success answer: a generated client
    gets a class with typed attributes for each (a free map only where keys are data)."""
    problems = []

    def walk(node: dict, where: str, seen: frozenset) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(_resolve(document, node), name, seen | {name})
            return
        for variant in node.get("anyOf", []):
            walk(variant, where, seen)
        kinds = node.get("type")
        if not kinds and not any(k in node for k in ("anyOf", "const", "enum")):
            problems.append(f"{where}: untyped")
        if kinds == "object" or (isinstance(kinds, list) and "object" in kinds):
            extra = node.get("additionalProperties")
            if node.get("properties") and extra is not False:
                problems.append(f"{where}: open object")
            elif not node.get("properties") and not isinstance(extra, dict) and where not in FREE_FORM:
                problems.append(f"{where}: an object without properties or typed values")
            if isinstance(extra, dict) and extra:
                walk(extra, where + ".*", seen)
        for key, prop in node.get("properties", {}).items():
            if f"{where}.{key}" not in FREE_FORM:
                walk(prop, f"{where}.{key}", seen)
        if "items" in node:
            walk(node["items"], where + "[]", seen)

    for where, content in _success_schemas(document):
        if where not in FREE_FORM:
            walk(content["schema"], where, frozenset())
    assert not problems, "\n".join(sorted(set(problems)))


def test_each_answer_has_an_example_that_matches_its_schema(document):
    from jsonschema import Draft202012Validator

    wrong = []
    for where, content in _success_schemas(document):
        if where in FREE_FORM:
            continue
        assert "example" in content, where
        validator = Draft202012Validator({"allOf": [content["schema"]], "components": document["components"]})
        wrong += [f"{where}: {e.message[:200]}" for e in validator.iter_errors(content["example"])]
    assert not wrong, "\n".join(wrong)


def test_text_is_a_string_and_money_a_two_decimal_string(document):
    """No field typed "string or integer" (a generated TypeScript type was
    ``string | number | null`` for an address); money in answers has a pattern."""
    mixed = []

    def walk(node, where):
        if isinstance(node, dict):
            kinds = node.get("type")
            if isinstance(kinds, list) and "string" in kinds and ({"integer", "number"} & set(kinds)):
                mixed.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(document, "")
    assert not mixed, mixed
    cart = document["components"]["schemas"]["CartOut"]["properties"]
    assert cart["total"]["pattern"] == r"^-?\d{1,10}\.\d{2}$"
    assert cart["items"]["items"]["$ref"].endswith("/CartItemOut")
    initiate = document["components"]["schemas"]["InitiateIn"]["properties"]
    assert initiate["shipping_city"]["type"] == ["string", "null"]
    assert {"$ref": "#/components/schemas/AddressObjectIn"} in initiate["shipping_address"]["oneOf"]


def test_dashboard_answers_are_typed_as_the_spec_shows(document):
    schemas = document["components"]["schemas"]
    overview = schemas["OverviewOut"]
    assert overview["additionalProperties"] is False
    card = _resolve(document, overview["properties"]["abandoned_cart"])
    assert card["properties"]["rate"]["type"] == "number"  # a percentage, a number as in the spec
    orders = _resolve(document, overview["properties"]["orders"])
    assert {"all_orders", "pending", "delivered"} <= set(orders["properties"]) and orders["additionalProperties"] is False
    cart = _resolve(document, schemas["CartMetricsOut"]["properties"]["data"])
    assert cart["properties"]["abandoned_rate"]["type"] == "number"
    assert cart["properties"]["recovered_revenue"]["type"] == "string"
    products = document["paths"]["/api/dashboard/product_management_data/"]["get"]["responses"]["200"]
    assert products["content"]["application/json"]["schema"]["$ref"].endswith("/DashboardProductsOut")


def test_headers_are_documented(document):
    headers = document["components"]["headers"]
    assert {"Idempotent-Replayed", "Retry-After", "WWW-Authenticate", "X-Request-ID", "Allow",
            "Content-Disposition"} <= set(headers)
    for path in ("/api/orders/", "/api/checkout/payment/"):
        op = document["paths"][path]["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"]), path
        success = next(r for code, r in op["responses"].items() if code.startswith("2"))
        assert "Idempotent-Replayed" in success["headers"] and "422" in op["responses"]
    products = document["paths"]["/api/products/"]["get"]["responses"]
    assert products["429"]["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    assert "WWW-Authenticate" in products["401"]["headers"]
    assert "Content-Disposition" in document["paths"]["/api/products/export/"]["get"]["responses"]["200"]["headers"]


def test_operations_are_grouped_storefront_account_admin(document):
    groups = {g["name"]: g["tags"] for g in document["x-tagGroups"]}
    assert list(groups) == ["storefront", "account", "admin", "platform"]
    tag_of = {(m, p): op["tags"][0] for p, item in document["paths"].items() for m, op in item.items()}
    assert tag_of[("get", "/api/products/")] == "storefront: products"
    assert tag_of[("post", "/api/cart/add-item/")] == "storefront: cart"
    assert tag_of[("post", "/api/auth/login/")] == "account: auth"
    assert tag_of[("get", "/api/dashboard/overview_metrics/")] == "admin: dashboard"
    assert tag_of[("get", "/api/customers/")] == "admin: customers"
    for (method, path), tag in tag_of.items():
        assert tag in groups[tag.split(": ")[0]], (method, path)
        if document["paths"][path][method].get("x-required-role") == "admin":
            assert tag.startswith("admin: "), (method, path)


def test_an_answer_that_changes_a_field_type_or_adds_a_field_is_caught(document):
    """What every test's answers go through (tests/support/document_check.py, called by the
    test client): the closed schemas make a drifted answer fail the build."""
    from tests.support.document_check import problem

    cart = document["paths"]["/api/cart/"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert problem("GET", "/api/cart/", 200, "application/json", cart) is None
    assert "total" in problem("GET", "/api/cart/", 200, "application/json", {**cart, "total": 216.0})
    assert "total_price" in problem("GET", "/api/v1/cart", 200, "application/json", {**cart, "total_price": "1.00"})
    assert "not documented" in problem("GET", "/api/cart/", 202, "application/json", {})
    assert "required property" in problem("GET", "/api/cart/", 413, "application/json", {"message": "Too large"})
