"""Product reviews: list, create (one per user, keeps the rating current),
helpful votes and review tags."""
from __future__ import annotations

import pytest

from models.catalog.tables import Product, Review, ReviewImage
from tests.support.client import assert_envelope
from tests.support.factories import product, review_tag

REVIEW_FIELDS = {"id", "product", "user_email", "rating", "content", "images", "tags", "helpful_count",
                 "is_helpful", "variant", "is_verified_purchase", "created_at"}


async def review(api, user, product_id, rating=5, content="Great", tag_ids=()):
    resp = await api.post(f"/api/products/{product_id}/reviews/",
                          json={"rating": rating, "content": content, "tag_ids": list(tag_ids)}, user=user)
    assert resp.status == 201, resp
    return resp.json()


async def rating_of(product_id):
    p = await Product.aio_get(Product.id == product_id)
    return f"{p.rating:.2f}", p.num_ratings


@pytest.mark.gen_test
async def test_create_review_returns_the_spec_shape(api, make_user):
    pid = await product("Sofa")
    quality = await review_tag("High Quality")
    user = await make_user(email="ada@example.com")
    body = await review(api, user, pid, rating=5, content="This product is amazing!", tag_ids=[quality])
    assert set(body) == REVIEW_FIELDS
    assert body["product"] == pid and body["user_email"] == "ada@example.com"
    assert body["rating"] == 5 and body["content"] == "This product is amazing!"
    assert body["tags"] == [{"id": quality, "name": "High Quality", "slug": "high-quality", "count": 1}]
    assert body["images"] == [] and body["helpful_count"] == 0 and body["is_helpful"] is False
    assert body["variant"] is None and body["is_verified_purchase"] is False  # there are no orders yet
    assert body["created_at"].endswith("Z")


@pytest.mark.gen_test
async def test_reviews_keep_the_product_rating_and_count_current(api, make_user):
    pid = await product("Sofa")
    await review(api, await make_user(), pid, rating=5)
    assert await rating_of(pid) == ("5.00", 1)
    await review(api, await make_user(), pid, rating=4)
    assert await rating_of(pid) == ("4.50", 2)
    await review(api, await make_user(), pid, rating=4)
    assert await rating_of(pid) == ("4.33", 3)
    item = (await api.get(f"/api/products/{pid}/")).json()
    assert item["rating"] == "4.33" and item["num_ratings"] == 3


@pytest.mark.gen_test
async def test_second_review_by_the_same_user_is_refused(api, make_user):
    pid = await product("Sofa")
    user = await make_user()
    await review(api, user, pid)
    resp = await api.post(f"/api/products/{pid}/reviews/", json={"rating": 1, "content": "again"}, user=user)
    body = assert_envelope(resp, 400)
    assert body["message"] == "You have already reviewed this product"
    assert await rating_of(pid) == ("5.00", 1)


@pytest.mark.gen_test
async def test_create_review_validation_and_access(api, make_user):
    pid = await product("Sofa")
    draft = await product("Draft", status="draft")
    user = await make_user()
    path = f"/api/products/{pid}/reviews/"
    assert_envelope(await api.post(path, json={"rating": 5}), 401)
    body = assert_envelope(await api.post(path, json={"content": "no rating"}, user=user), 400)
    assert body["errors"]["rating"] == ["This field is required."]
    for rating in (0, 6, "five"):
        body = assert_envelope(await api.post(path, json={"rating": rating}, user=user), 400)
        assert "rating" in body["errors"]
    body = assert_envelope(await api.post(path, json={"rating": 5, "tag_ids": [424242]}, user=user), 400)
    assert body["errors"]["tag_ids"] == ['Invalid pk "424242" - object does not exist.']
    body = assert_envelope(await api.post("/api/products/999999/reviews/", json={"rating": 5}, user=user), 404)
    assert body["message"] == "Product not found"
    assert_envelope(await api.post(f"/api/products/{draft}/reviews/", json={"rating": 5}, user=user), 404)
    assert await Review.select().aio_count() == 0
    assert await rating_of(pid) == ("0.00", 0)


@pytest.mark.gen_test
async def test_list_reviews_newest_first_with_tag_counts_images_and_my_votes(api, make_user):
    pid = await product("Sofa")
    other = await product("Chair")
    quality, value = await review_tag("High Quality"), await review_tag("Good Value")
    ada, bob, cy = await make_user(email="ada@example.com"), await make_user(), await make_user()
    first = await review(api, ada, pid, rating=5, tag_ids=[quality, value])
    second = await review(api, bob, pid, rating=3, tag_ids=[quality])
    await review(api, cy, other, rating=1, tag_ids=[quality])  # another product: not counted
    await ReviewImage.aio_create(review=first["id"], image_url="http://testserver/media/r/1.jpg")
    await api.post(f"/api/reviews/{second['id']}/mark-helpful/", user=cy)

    resp = await api.get(f"/api/products/{pid}/reviews/")
    assert resp.status == 200, resp
    body = resp.json()
    assert [r["id"] for r in body] == [second["id"], first["id"]]
    assert all(set(r) == REVIEW_FIELDS for r in body)
    by_id = {r["id"]: r for r in body}
    assert by_id[first["id"]]["images"] == ["http://testserver/media/r/1.jpg"]
    tags = {t["name"]: t["count"] for t in by_id[first["id"]]["tags"]}
    assert tags == {"High Quality": 2, "Good Value": 1}
    assert by_id[second["id"]]["helpful_count"] == 1 and by_id[second["id"]]["is_helpful"] is False
    mine = {r["id"]: r["is_helpful"] for r in (await api.get(f"/api/products/{pid}/reviews/", user=cy)).json()}
    assert mine == {second["id"]: True, first["id"]: False}
    assert (await api.get(f"/api/products/{await product('Unreviewed')}/reviews/")).json() == []


@pytest.mark.gen_test
async def test_list_reviews_of_missing_or_unpublished_product_is_404(api, make_user):
    draft = await product("Draft", status="draft")
    body = assert_envelope(await api.get("/api/products/999999/reviews/"), 404)
    assert body["message"] == "Product not found"
    assert_envelope(await api.get(f"/api/products/{draft}/reviews/"), 404)
    resp = await api.get(f"/api/products/{draft}/reviews/", user=await make_user(is_staff=True))
    assert resp.status == 200 and resp.json() == []


@pytest.mark.gen_test
async def test_list_reviews_runs_a_fixed_number_of_queries(api, make_user, count_queries):
    pid = await product("Sofa")
    quality = await review_tag("High Quality")
    voter = await make_user()
    for _ in range(2):
        await review(api, await make_user(), pid, tag_ids=[quality])
    with count_queries() as few:
        assert len((await api.get(f"/api/products/{pid}/reviews/", user=voter)).json()) == 2
    for _ in range(8):
        await review(api, await make_user(), pid, tag_ids=[quality])
    with count_queries() as many:
        assert len((await api.get(f"/api/products/{pid}/reviews/", user=voter)).json()) == 10
    assert len(few) == len(many) <= 6, many


@pytest.mark.gen_test
async def test_mark_helpful_counts_one_vote_per_user(api, make_user):
    pid = await product("Sofa")
    author, ada, bob = await make_user(), await make_user(), await make_user()
    rid = (await review(api, author, pid))["id"]
    path = f"/api/reviews/{rid}/mark-helpful/"
    resp = await api.post(path, user=ada)
    assert resp.status == 200 and resp.json() == {"success": True, "helpful_count": 1}
    resp = await api.post(path, user=ada)
    assert resp.status == 200 and resp.json() == {"success": True, "helpful_count": 1}
    assert (await api.post(path, user=bob)).json() == {"success": True, "helpful_count": 2}
    assert (await Review.aio_get(Review.id == rid)).helpful_count == 2


@pytest.mark.gen_test
async def test_mark_helpful_errors(api, make_user):
    user = await make_user()
    assert_envelope(await api.post("/api/reviews/1/mark-helpful/"), 401)
    body = assert_envelope(await api.post("/api/reviews/999999/mark-helpful/", user=user), 404)
    assert body["message"] == "Review not found"
    pid = await product("Sofa")
    rid = (await review(api, await make_user(), pid))["id"]
    await Product.update(status="draft").where(Product.id == pid).aio_execute()
    assert_envelope(await api.post(f"/api/reviews/{rid}/mark-helpful/", user=user), 404)


@pytest.mark.gen_test
async def test_review_tags_are_a_plain_array(api):
    await review_tag("Sturdy")
    await review_tag("Comfortable")
    resp = await api.get("/api/review-tags/")
    assert resp.status == 200
    assert [(t["name"], t["slug"]) for t in resp.json()] == [("Comfortable", "comfortable"), ("Sturdy", "sturdy")]
    assert set(resp.json()[0]) == {"id", "name", "slug"}
