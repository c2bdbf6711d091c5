"""Staff product management: create/replace/update/delete with nested
variations, SKU and slug rules, validation (nothing changes on a 400),
permissions, and image upload/removal."""
from __future__ import annotations

import os
from decimal import Decimal

import pytest

import settings
from models.catalog.tables import Product, ProductImage, ProductTag, ProductVariation, VariationColor, VariationSize
from models.core.media import media_url
from tests.support.client import assert_envelope, multipart
from tests.support.factories import jpeg_bytes, make_category, make_color, make_size, make_tag, png_bytes

PRODUCT_KEYS = {
    "id", "name", "description", "product_details", "category", "category_name", "tags", "status",
    "status_display", "main_image", "images", "is_featured", "is_liked", "available_sizes", "available_colors",
    "base_price", "discount_type", "discount_percentage", "vat_amount", "sku", "barcode", "stock_quantity",
    "variations", "is_physical_product", "weight", "height", "length", "width", "created_at",
    "added_date_formatted", "variants_count", "all_images", "price", "slug", "updated_at",
    "is_bulky", "stock_policy", "backorder_limit", "backordered", "restock_date", "lead_time_days",
    "attributes",  # issue 22: typed attributes
}
VARIATION_KEYS = {"id", "variation_type", "variation", "price_adjustment", "stock_quantity", "sku", "is_default",
                  "final_price", "price", "sizes", "colors",
                  # issue 22: a variation's own stock policy terms (null: the product's) and the one in force
                  "stock_policy", "backorder_limit", "restock_date", "lead_time_days", "backordered",
                  "effective_stock_policy"}


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True))


@pytest.fixture
def taxonomy(io_loop):
    async def build():
        return {
            "chairs": await make_category("Chairs"),
            "new": await make_tag("New"),
            "sale": await make_tag("Sale"),
            "large": await make_size("Large"),
            "small": await make_size("Small"),
            "red": await make_color("Red", "#FF0000"),
            "blue": await make_color("Blue", "#0000FF"),
        }

    return io_loop.run_sync(build)


def chair_body(t: dict, **overrides) -> dict:
    body = {
        "name": "New Awesome Chair",
        "description": "A very comfortable and stylish chair.",
        "product_details": ["Adjustable height", "Lumbar support"],
        "category": t["chairs"],
        "tags": [t["new"], t["sale"]],
        "base_price": "199.99",
        "discount_type": "percentage",
        "discount_percentage": "10.00",
        "vat_amount": "5.00",
        "sku": "CHR-NEW-001",
        "barcode": "1234567890123",
        "stock_quantity": 50,
        "status": "draft",
        "is_featured": False,
        "is_physical_product": True,
        "weight": "15.5",
        "height": "100.0",
        "length": "60.0",
        "width": "60.0",
        "main_image": None,
        "image_files": [],
        "variations": [{
            "variation_type": "Color", "variation": "Red", "price_adjustment": "10.00", "stock_quantity": 10,
            "sku": "CHR-NEW-001-RED", "is_default": False, "size_ids": [t["large"]], "color_ids": [t["red"]],
        }],
    }
    body.update(overrides)
    return body


async def product_count() -> int:
    return await Product.select().aio_count()


async def create(api, admin, body) -> dict:
    resp = await api.post("/api/products/", json=body, user=admin)
    assert resp.status == 201, resp
    return resp.json()


# --- create ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_create_product_returns_the_management_shape(api, admin, taxonomy):
    t = taxonomy
    body = await create(api, admin, chair_body(t))

    assert set(body) == PRODUCT_KEYS
    assert body["name"] == "New Awesome Chair" and body["slug"] == "new-awesome-chair"
    assert body["product_details"] == ["Adjustable height", "Lumbar support"]
    assert body["category"] == t["chairs"] and body["category_name"] == "Chairs"
    assert body["tags"] == sorted([t["new"], t["sale"]])
    assert body["status"] == "draft" and body["status_display"] == "Draft"
    assert body["base_price"] == "199.99" and body["discount_type"] == "percentage"
    assert body["discount_percentage"] == "10.00" and body["vat_amount"] == "5.00"
    assert body["price"] == "179.99"  # 199.99 less 10 %, half-up
    assert body["sku"] == "CHR-NEW-001" and body["barcode"] == "1234567890123"
    assert body["stock_quantity"] == 50 and body["is_featured"] is False and body["is_liked"] is False
    assert (body["weight"], body["height"], body["length"], body["width"]) == ("15.50", "100.00", "60.00", "60.00")
    assert body["main_image"] is None and body["images"] == []
    assert body["all_images"] == {"main_image": None, "gallery": []}
    assert body["created_at"].endswith("Z") and len(body["added_date_formatted"].split()) == 3
    assert body["variants_count"] == 1
    [var] = body["variations"]
    assert set(var) == VARIATION_KEYS
    assert var["price_adjustment"] == "10.00" and var["final_price"] == 209.99
    assert var["sku"] == "CHR-NEW-001-RED" and var["stock_quantity"] == 10 and var["is_default"] is False
    assert var["sizes"] == [{"id": t["large"], "name": "Large"}]
    assert var["colors"] == [{"id": t["red"], "name": "Red", "hex_code": "#FF0000"}]
    assert body["available_sizes"] == var["sizes"] and body["available_colors"] == var["colors"]

    row = await Product.aio_get(Product.id == body["id"])
    assert row.discount_value == Decimal("10.00") and row.price == Decimal("179.99")
    assert await ProductTag.select().where(ProductTag.product == row.id).aio_count() == 2


@pytest.mark.gen_test
async def test_create_accepts_price_alias_and_active_status(api, admin):
    body = await create(api, admin, {"name": "Stool", "price": "89.99", "sku": "STL-1", "status": "active"})
    assert body["base_price"] == "89.99" and body["price"] == "89.99"
    assert body["status"] == "published" and body["status_display"] == "Published"
    assert body["category"] is None and body["tags"] == [] and body["variations"] == []
    assert body["discount_type"] is None and body["discount_percentage"] is None and body["vat_amount"] is None
    assert body["is_physical_product"] is True and body["stock_quantity"] == 0


@pytest.mark.gen_test
async def test_create_makes_the_slug_unique(api, admin):
    first = await create(api, admin, {"name": "Oak Table", "base_price": "10", "sku": "T-1"})
    second = await create(api, admin, {"name": "Oak  table!", "base_price": "10", "sku": "T-2"})
    third = await create(api, admin, {"name": "Oak Table", "base_price": "10", "sku": "T-3"})
    assert [first["slug"], second["slug"], third["slug"]] == ["oak-table", "oak-table-2", "oak-table-3"]


@pytest.mark.gen_test
async def test_create_requires_name_sku_and_price(api, admin):
    resp = await api.post("/api/products/", json={"description": "no name"}, user=admin)
    body = assert_envelope(resp, 400)
    assert body["message"] == "Validation error"
    for field in ("name", "sku", "base_price"):
        assert body["errors"][field] == ["This field is required."]
    assert await product_count() == 0


@pytest.mark.gen_test
async def test_create_rejects_invalid_numbers(api, admin):
    resp = await api.post("/api/products/", json={
        "name": "Chair", "sku": "C-1", "base_price": "abc", "discount_percentage": "1O", "vat_amount": [],
        "stock_quantity": -1, "weight": "heavy", "status": "sold", "discount_type": "half",
        "is_featured": "maybe"}, user=admin)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors["base_price"] == ["A valid number is required."]
    assert errors["discount_percentage"] == ["A valid number is required."]
    assert errors["vat_amount"] == ["A valid number is required."]
    assert errors["weight"] == ["A valid number is required."]
    assert errors["stock_quantity"] == ["Ensure this value is greater than or equal to 0."]
    assert errors["status"] == ['"sold" is not a valid choice.']
    assert errors["discount_type"] == ['"half" is not a valid choice.']
    assert errors["is_featured"] == ["Must be a valid boolean."]
    assert await product_count() == 0


@pytest.mark.gen_test
async def test_create_rejects_a_percentage_discount_above_100(api, admin):
    resp = await api.post("/api/products/", json={
        "name": "Chair", "sku": "C-1", "base_price": "10", "discount_type": "percentage",
        "discount_percentage": "150"}, user=admin)
    assert assert_envelope(resp, 400)["errors"]["discount_percentage"] == [
        "Ensure this value is less than or equal to 100."]


@pytest.mark.gen_test
async def test_create_names_unknown_references_and_writes_nothing(api, admin, taxonomy):
    t = taxonomy
    body = chair_body(t, category=9999, tags=[t["new"], 8888])
    body["variations"][0].update(size_ids=[t["large"], 7777], color_ids=[6666])
    resp = await api.post("/api/products/", json=body, user=admin)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors["category"] == ['Invalid pk "9999" - object does not exist.']
    assert errors["tags"] == ['Invalid pk "8888" - object does not exist.']
    assert errors["variations.0.size_ids"] == ['Invalid pk "7777" - object does not exist.']
    assert errors["variations.0.color_ids"] == ['Invalid pk "6666" - object does not exist.']
    assert await product_count() == 0
    assert await ProductVariation.select().aio_count() == 0


@pytest.mark.gen_test
async def test_nested_variation_errors_are_keyed_by_path(api, admin):
    resp = await api.post("/api/products/", json={
        "name": "Chair", "sku": "C-1", "base_price": "10",
        "variations": [{"variation": "Red"}, {"price_adjustment": "x", "stock_quantity": -2}]}, user=admin)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors["variations.1.price_adjustment"] == ["A valid number is required."]
    assert errors["variations.1.stock_quantity"] == ["Ensure this value is greater than or equal to 0."]
    assert await product_count() == 0


@pytest.mark.gen_test
async def test_sku_must_be_unique(api, admin, taxonomy):
    await create(api, admin, chair_body(taxonomy))
    resp = await api.post("/api/products/", json=chair_body(taxonomy, name="Another", variations=[]), user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"sku": ["Product with this SKU already exists."]}
    assert await product_count() == 1


@pytest.mark.gen_test
async def test_variation_skus_must_be_unique(api, admin, taxonomy):
    await create(api, admin, chair_body(taxonomy))
    body = chair_body(taxonomy, name="Another", sku="OTHER-1")
    body["variations"] += [{"variation": "Blue", "sku": "DUP"}, {"variation": "Green", "sku": "DUP"}]
    resp = await api.post("/api/products/", json=body, user=admin)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors["variations.0.sku"] == ["Product variation with this sku already exists."]  # another product's
    assert errors["variations.2.sku"] == ["Product variation with this sku already exists."]  # repeated
    assert await product_count() == 1


@pytest.mark.gen_test
async def test_only_one_default_variation(api, admin):
    resp = await api.post("/api/products/", json={
        "name": "Chair", "sku": "C-1", "base_price": "10",
        "variations": [{"variation": "A", "is_default": True}, {"variation": "B", "is_default": True}]}, user=admin)
    assert assert_envelope(resp, 400)["errors"]["variations"] == ["Only one variation can be the default."]


# --- update ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_patch_changes_only_the_given_fields(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.patch(f"/api/products/{created['id']}/", json={
        "name": "Updated Ergonomic Chair", "price": "125.00", "stock_quantity": 45, "status": "published"},
        user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["name"] == "Updated Ergonomic Chair" and body["base_price"] == "125.00"
    assert body["price"] == "112.50" and body["stock_quantity"] == 45
    assert body["status"] == "published" and body["status_display"] == "Published"
    # untouched: tags, variations, description, slug (links keep working)
    assert body["tags"] == created["tags"]
    assert [{**v, "final_price": None, "price": None} for v in body["variations"]] == [
        {**v, "final_price": None, "price": None} for v in created["variations"]]
    assert body["variations"][0]["final_price"] == 135.00  # follows the new base price
    assert body["description"] == created["description"] and body["slug"] == created["slug"]
    assert body["updated_at"] >= created["updated_at"]


@pytest.mark.gen_test
async def test_patch_with_a_bad_field_changes_nothing(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.patch(f"/api/products/{created['id']}/", json={
        "name": "Renamed", "tags": [424242], "variations": []}, user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"tags": ['Invalid pk "424242" - object does not exist.']}
    row = await Product.aio_get(Product.id == created["id"])
    assert row.name == "New Awesome Chair"
    assert await ProductVariation.select().where(ProductVariation.product == row.id).aio_count() == 1


@pytest.mark.gen_test
async def test_patch_rejects_null_for_required_fields(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.patch(f"/api/products/{created['id']}/", json={"name": None, "base_price": None},
                           user=admin)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors == {"name": ["This field may not be null."], "base_price": ["This field may not be null."]}


@pytest.mark.gen_test
async def test_patch_to_another_products_sku_is_rejected(api, admin, taxonomy):
    first = await create(api, admin, chair_body(taxonomy))
    second = await create(api, admin, {"name": "Stool", "base_price": "5", "sku": "STL-1"})
    resp = await api.patch(f"/api/products/{second['id']}/", json={"sku": first["sku"]}, user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"sku": ["Product with this SKU already exists."]}
    # Keeping one's own SKU is fine.
    resp = await api.patch(f"/api/products/{first['id']}/", json={"sku": first["sku"]}, user=admin)
    assert resp.status == 200, resp


@pytest.mark.gen_test
async def test_patch_variations_updates_creates_and_deletes(api, admin, taxonomy):
    t = taxonomy
    body = chair_body(t)
    body["variations"].append({"variation_type": "Color", "variation": "Blue", "sku": "CHR-BLUE",
                               "color_ids": [t["blue"]], "is_default": True})
    created = await create(api, admin, body)
    red, blue = created["variations"]

    resp = await api.patch(f"/api/products/{created['id']}/", json={"variations": [
        # red: updated in place, sizes and colors replaced, now the default
        {"id": red["id"], "variation_type": "Color", "variation": "Crimson", "price_adjustment": "-5.00",
         "stock_quantity": 3, "sku": "CHR-CRIMSON", "is_default": True, "size_ids": [t["small"]],
         "color_ids": [t["red"], t["blue"]]},
        # new one; blue is left out, so deleted
        {"variation_type": "Size", "variation": "XL", "sku": "CHR-BLUE", "stock_quantity": 1},
    ]}, user=admin)
    assert resp.status == 200, resp
    out = resp.json()
    assert out["variants_count"] == 2
    crimson, xl = out["variations"]
    assert crimson["id"] == red["id"] and crimson["variation"] == "Crimson"
    assert crimson["price_adjustment"] == "-5.00" and crimson["final_price"] == 194.99
    assert crimson["is_default"] is True and crimson["sku"] == "CHR-CRIMSON"
    assert crimson["sizes"] == [{"id": t["small"], "name": "Small"}]
    assert [c["name"] for c in crimson["colors"]] == ["Red", "Blue"]
    assert xl["id"] not in (red["id"], blue["id"]) and xl["sku"] == "CHR-BLUE" and xl["is_default"] is False
    assert await ProductVariation.select().where(ProductVariation.id == blue["id"]).aio_count() == 0
    assert await VariationSize.select().aio_count() == 1
    assert await VariationColor.select().aio_count() == 2


@pytest.mark.gen_test
async def test_patch_variations_may_swap_skus_and_default(api, admin):
    created = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10", "variations": [
        {"variation": "A", "sku": "SKU-A", "is_default": True}, {"variation": "B", "sku": "SKU-B"}]})
    a, b = created["variations"]
    resp = await api.patch(f"/api/products/{created['id']}/", json={"variations": [
        {"id": a["id"], "variation": "A", "sku": "SKU-B"},
        {"id": b["id"], "variation": "B", "sku": "SKU-A", "is_default": True}]}, user=admin)
    assert resp.status == 200, resp
    out = {v["id"]: v for v in resp.json()["variations"]}
    assert out[a["id"]]["sku"] == "SKU-B" and out[a["id"]]["is_default"] is False
    assert out[b["id"]]["sku"] == "SKU-A" and out[b["id"]]["is_default"] is True


@pytest.mark.gen_test
async def test_variation_id_of_another_product_creates_a_new_one(api, admin):
    one = await create(api, admin, {"name": "One", "sku": "P-1", "base_price": "10",
                                    "variations": [{"variation": "A"}]})
    two = await create(api, admin, {"name": "Two", "sku": "P-2", "base_price": "10"})
    foreign = one["variations"][0]["id"]
    resp = await api.patch(f"/api/products/{two['id']}/", json={"variations": [{"id": foreign, "variation": "Z"}]},
                           user=admin)
    assert resp.status == 200, resp
    [var] = resp.json()["variations"]
    assert var["id"] != foreign and var["variation"] == "Z"
    kept = await ProductVariation.aio_get(ProductVariation.id == foreign)
    assert kept.variation == "A" and kept.product_id == one["id"]


@pytest.mark.gen_test
async def test_put_replaces_the_product(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.put(f"/api/products/{created['id']}/", json={
        "name": "Plain Chair", "base_price": "50.00", "sku": "PLAIN-1", "status": "published"}, user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["name"] == "Plain Chair" and body["sku"] == "PLAIN-1" and body["price"] == "50.00"
    # Everything not sent is back to its default.
    assert body["tags"] == [] and body["variations"] == [] and body["category"] is None
    assert body["discount_type"] is None and body["description"] == "" and body["weight"] is None
    assert body["id"] == created["id"] and body["slug"] == created["slug"]


@pytest.mark.gen_test
async def test_put_requires_the_create_fields(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.put(f"/api/products/{created['id']}/", json={"name": "Updated Product Name",
                                                                   "price": "89.99"}, user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"sku": ["This field is required."]}
    assert (await Product.aio_get(Product.id == created["id"])).name == "New Awesome Chair"


@pytest.mark.gen_test
async def test_unknown_product_is_404(api, admin):
    for method in ("put", "patch", "delete"):
        resp = await getattr(api, method)("/api/products/999/", json={"name": "x", "base_price": "1",
                                                                      "sku": "X"}, user=admin)
        assert_envelope(resp, 404)


# --- delete ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_delete_product_is_204_and_removes_its_rows(api, admin, taxonomy):
    created = await create(api, admin, chair_body(taxonomy))
    resp = await api.delete(f"/api/products/{created['id']}/", user=admin)
    assert resp.status == 204 and resp.body == b""
    assert await product_count() == 0
    assert await ProductVariation.select().aio_count() == 0 and await ProductTag.select().aio_count() == 0
    assert_envelope(await api.delete(f"/api/products/{created['id']}/", user=admin), 404)


# --- permissions ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_writes_need_a_staff_user(api, make_user):
    shopper = await make_user(email="shopper@example.com")
    body = {"name": "Chair", "sku": "C-1", "base_price": "10"}
    assert_envelope(await api.post("/api/products/", json=body), 401)
    assert_envelope(await api.post("/api/products/", json=body, user=shopper), 403)
    for method in ("put", "patch", "delete"):
        assert_envelope(await getattr(api, method)("/api/products/1/", json=body), 401)
        assert_envelope(await getattr(api, method)("/api/products/1/", json=body, user=shopper), 403)
    files, headers = multipart({"image": ("a.png", png_bytes(), "image/png")})
    assert_envelope(await api.post("/api/products/1/upload-image/", body=files, headers=headers, user=shopper), 403)
    assert_envelope(await api.delete("/api/products/1/remove-image/1/"), 401)
    assert await product_count() == 0


# --- images ------------------------------------------------------------------------------

async def upload(api, user, product_id, data, filename="chair.png", ctype="image/png", field="image"):
    body, headers = multipart({field: (filename, data, ctype)})
    return await api.post(f"/api/products/{product_id}/upload-image/", body=body, headers=headers, user=user)


async def management_view(api, admin, product_id) -> dict:
    """The product as staff see it (an empty PATCH changes nothing and answers the payload)."""
    resp = await api.patch(f"/api/products/{product_id}/", json={}, user=admin)
    assert resp.status == 200, resp
    return resp.json()


@pytest.mark.gen_test
async def test_upload_image_stores_it_and_first_one_becomes_main(api, admin, http_client, base_url):
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    first = await upload(api, admin, product["id"], png_bytes())
    assert first.status == 200, first
    one = first.json()
    assert set(one) == {"success", "image_url", "image_id"} and one["success"] is True
    assert one["image_url"].startswith(f"{settings.BACKEND_URL}/media/products/")
    assert one["image_url"].endswith(".png")

    second = (await upload(api, admin, product["id"], jpeg_bytes(), "photo.jpg", "image/jpeg")).json()
    assert second["image_url"].endswith(".jpg")

    # The URL works at once: the file is served at /media/...
    path = one["image_url"][len(settings.BACKEND_URL):]
    served = await http_client.fetch(base_url + path, raise_error=False)
    assert served.code == 200 and served.body == png_bytes()

    view = await management_view(api, admin, product["id"])
    assert view["main_image"] == one["image_url"]
    assert view["images"] == [one["image_url"], second["image_url"]]
    assert view["all_images"]["main_image"] == one["image_url"]
    assert [(g["id"], g["is_main"]) for g in view["all_images"]["gallery"]] == [
        (one["image_id"], True), (second["image_id"], False)]

    # The product detail (storefront module; staff see drafts) lists them too.
    detail = await api.get(f"/api/products/{product['id']}/", user=admin)
    assert detail.status == 200, detail
    assert detail.json()["images"] == [one["image_url"], second["image_url"]]
    assert detail.json()["main_image"] == one["image_url"]


@pytest.mark.gen_test
async def test_upload_rejects_large_files_and_non_images(api, admin):
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    media = settings.MEDIA_DIR / "products"
    files_before = set(media.iterdir()) if media.exists() else set()
    big = png_bytes() + os.urandom(6 * 1024 * 1024)
    body = assert_envelope(await upload(api, admin, product["id"], big), 400)
    assert body["errors"]["image"] == ["File too large. Maximum size is 5 MB."]
    body = assert_envelope(await upload(api, admin, product["id"], b"just some text, honest\n" * 20, "cat.jpg",
                                        "image/jpeg"), 400)
    assert "image" in body["errors"]
    body = assert_envelope(await upload(api, admin, product["id"], png_bytes(), field="photo"), 400)
    assert body["errors"] == {"image": ["No file was submitted."]}
    assert await ProductImage.select().aio_count() == 0
    assert (await Product.aio_get(Product.id == product["id"])).main_image is None
    assert (set(media.iterdir()) if media.exists() else set()) == files_before  # nothing left behind


@pytest.mark.gen_test
async def test_upload_to_unknown_product_is_404(api, admin):
    assert_envelope(await upload(api, admin, 4242, png_bytes()), 404)


@pytest.mark.gen_test
async def test_upload_queues_cloudinary_copy_after_commit(api, admin, monkeypatch):
    from models.core.db import fetch_all

    monkeypatch.setattr(settings, "CLOUDINARY_URL", "cloudinary://key:secret@demo")
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    out = (await upload(api, admin, product["id"], png_bytes())).json()
    image = await ProductImage.aio_get(ProductImage.id == out["image_id"])
    jobs = await fetch_all("SELECT task, args FROM outbox_job")  # the outbox row, committed with the image
    assert jobs == [("tasks.images.upload_image", ["product", image.id, image.image])]


@pytest.mark.gen_test
async def test_cloudinary_move_uploads_through_the_sdk_and_updates_the_main_image(api, admin, monkeypatch,
                                                                                 fake_cloudinary):
    """The task's work: the real SDK uploads the file, then the image row and the
    product's main image follow the new URL and the local copy goes."""
    from tasks import images

    prefix, received = fake_cloudinary
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    data = png_bytes()
    out = (await upload(api, admin, product["id"], data)).json()
    image = await ProductImage.aio_get(ProductImage.id == out["image_id"])
    monkeypatch.setattr(settings, "CLOUDINARY_URL", f"cloudinary://key:secret@demo?upload_prefix={prefix}")
    new_url = "https://res.cloudinary.com/demo/image/upload/abc.png"
    assert await images._move("product", image.id, image.image) == new_url
    assert len(received) == 1 and received[0]["cloud"] == "demo"
    assert received[0]["args"]["api_key"] == "key" and received[0]["args"]["signature"]
    assert received[0]["args"]["folder"] == "avantlush/product" and received[0]["files"]["file"] == data
    image = await ProductImage.aio_get(ProductImage.id == out["image_id"])
    assert image.image == "cloudinary:avantlush/product/abc" and image.image_url == new_url
    row = await Product.aio_get(Product.id == product["id"])
    assert row.main_image == new_url
    assert not (settings.MEDIA_DIR / out["image_url"].split("/media/")[1]).exists()
    # A second delivery of the same task (acks_late) finds nothing left to do.
    assert await images._move("product", image.id, out["image_url"].split("/media/")[1]) is None
    assert len(received) == 1


@pytest.mark.gen_test
async def test_remove_image_moves_main_to_the_next_one(api, admin):
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    one = (await upload(api, admin, product["id"], png_bytes())).json()
    two = (await upload(api, admin, product["id"], jpeg_bytes(), "b.jpg", "image/jpeg")).json()
    file_one = settings.MEDIA_DIR / one["image_url"].split("/media/")[1]
    assert file_one.exists()

    resp = await api.delete(f"/api/products/{product['id']}/remove-image/{one['image_id']}/", user=admin)
    assert resp.status == 200, resp
    assert resp.json() == {"success": True, "message": "Image removed successfully"}
    assert not file_one.exists()
    view = await management_view(api, admin, product["id"])
    assert view["main_image"] == two["image_url"] and view["images"] == [two["image_url"]]
    assert view["all_images"]["gallery"][0]["is_main"] is True

    resp = await api.delete(f"/api/products/{product['id']}/remove-image/{two['image_id']}/", user=admin)
    assert resp.status == 200
    view = await management_view(api, admin, product["id"])
    assert view["main_image"] is None and view["images"] == []


@pytest.mark.gen_test
async def test_remove_another_products_image_is_404(api, admin):
    mine = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    other = await create(api, admin, {"name": "Table", "sku": "T-1", "base_price": "10"})
    theirs = (await upload(api, admin, other["id"], png_bytes())).json()
    assert_envelope(await api.delete(f"/api/products/{mine['id']}/remove-image/{theirs['image_id']}/",
                                     user=admin), 404)
    assert_envelope(await api.delete(f"/api/products/{mine['id']}/remove-image/999/", user=admin), 404)
    assert await ProductImage.select().aio_count() == 1
    # The row keeps the storage key; the API answers its address.
    assert media_url((await Product.aio_get(Product.id == other["id"])).main_image) == theirs["image_url"]


@pytest.mark.gen_test
async def test_deleting_a_product_removes_its_image_files(api, admin):
    product = await create(api, admin, {"name": "Chair", "sku": "C-1", "base_price": "10"})
    out = (await upload(api, admin, product["id"], png_bytes())).json()
    path = settings.MEDIA_DIR / out["image_url"].split("/media/")[1]
    assert path.exists()
    assert (await api.delete(f"/api/products/{product['id']}/", user=admin)).status == 204
    assert not path.exists()
