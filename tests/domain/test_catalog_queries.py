"""The catalog's read side and use cases, called directly: filters and
ordering rules, search, bulk serialisers, verified purchases, reviews under
concurrency and the co-purchase recommendations."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from models.catalog import queries, recommend, reviews
from models.catalog.tables import Product, ProductRecommendation, Review
from models.core.errors import NotFound, ValidationFailed
from tests.support.factories import category, make_order, product

# --- rules ---------------------------------------------------------------------------

def test_ordering_and_tab_validation():
    assert queries.validate_ordering(None) == []
    assert queries.validate_ordering("price, -name") == ["price", "-name"]
    assert queries.order_by(["price", "-name"]) == "p.price ASC, p.name DESC, p.id DESC"
    with pytest.raises(ValidationFailed) as err:
        queries.validate_ordering("price,popularity")
    assert "popularity" in err.value.errors["ordering"][0] and "-rating" in err.value.extra["valid_orderings"]
    assert queries.validate_tab(None) == "all" and queries.validate_tab("Active") == "published"
    with pytest.raises(ValidationFailed) as err:
        queries.validate_tab("deleted")
    assert err.value.extra["valid_tabs"] == list(queries.TABS)


# --- reads ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_product_page_filters_combine(count_queries):
    chairs = await category("Chairs")
    await product("Cheap Chair", category=chairs, base_price="20.00", stock=0)
    cheap_in_stock = await product("Cheap Stool", category=chairs, base_price="25.00", stock=4)
    await product("Pricey Chair", category=chairs, base_price="500.00")
    await product("Cheap Lamp", base_price="10.00")
    f = queries.ProductFilters(category_id=chairs, max_price=Decimal("30"), in_stock=True)
    total, items = await queries.product_page(f, 1, 12)
    assert total == 1 and [i["id"] for i in items] == [cheap_in_stock]
    with pytest.raises(NotFound):
        await queries.product_page(f, 2, 12)


@pytest.mark.gen_test
async def test_product_items_keeps_the_requested_order_in_one_query(count_queries):
    ids = [await product(f"P{i}", images=1) for i in range(5)]
    wanted = [ids[3], ids[0], 999999, ids[4]]
    with count_queries() as q:
        items = await queries.product_items(wanted)
    assert [i["id"] for i in items] == [ids[3], ids[0], ids[4]] and len(q) == 1
    assert all(i["main_image"] for i in items)


@pytest.mark.gen_test
async def test_liked_products_are_empty_until_there_is_a_wishlist(make_user):
    assert await queries.liked_product_ids(await make_user(), [1, 2, 3]) == set()
    assert await queries.liked_product_ids(None, [1]) == set()


# --- reviews ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_has_purchased_is_false_without_orders(make_user):
    user = await make_user()
    pid = await product("Sofa")
    assert await reviews.has_purchased(user.id, pid) is False


@pytest.mark.gen_test
async def test_verified_purchase_needs_a_paid_or_delivered_order(make_user):
    buyer, browser, canceller = await make_user(), await make_user(), await make_user()
    sofa, lamp = await product("Sofa"), await product("Lamp")
    await make_order(user=buyer.id, products=[sofa], status="PROCESSING", payment_status="PAID")
    await make_order(user=buyer.id, products=[lamp], status="DELIVERED", payment_status="PENDING")
    await make_order(user=canceller.id, products=[sofa], status="CANCELLED", payment_status="FAILED")
    assert await reviews.has_purchased(buyer.id, sofa) is True
    assert await reviews.has_purchased(buyer.id, lamp) is True
    assert await reviews.has_purchased(browser.id, sofa) is False
    assert await reviews.has_purchased(canceller.id, sofa) is False
    review = await reviews.create_review(buyer, sofa, 5, "Lovely")
    assert review["is_verified_purchase"] is True
    assert (await reviews.create_review(browser, sofa, 4))["is_verified_purchase"] is False


@pytest.mark.gen_test
async def test_concurrent_reviews_are_all_counted(make_user):
    pid = await product("Sofa")
    users = [await make_user() for _ in range(6)]
    await asyncio.gather(*(reviews.create_review(u, pid, r) for u, r in zip(users, [5, 4, 3, 5, 4, 5])))
    p = await Product.aio_get(Product.id == pid)
    assert p.num_ratings == 6 and p.rating == Decimal("4.33")


@pytest.mark.gen_test
async def test_concurrent_duplicate_reviews_leave_one(make_user):
    pid = await product("Sofa")
    user = await make_user()
    results = await asyncio.gather(*(reviews.create_review(user, pid, 5) for _ in range(3)), return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, ValidationFailed) and r.message == reviews.ALREADY_REVIEWED
               for r in results if not isinstance(r, dict))
    assert await Review.select().aio_count() == 1
    assert (await Product.aio_get(Product.id == pid)).num_ratings == 1


@pytest.mark.gen_test
async def test_concurrent_helpful_votes_are_all_counted(make_user):
    pid = await product("Sofa")
    review = await reviews.create_review(await make_user(), pid, 5)
    voters = [await make_user() for _ in range(5)]
    counts = await asyncio.gather(*(reviews.mark_helpful(v, review["id"]) for v in voters + voters[:2]))
    assert max(counts) == 5
    assert (await Review.aio_get(Review.id == review["id"])).helpful_count == 5


# --- recommendations ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_rebuild_complementary_does_nothing_without_orders():
    a, b = await product("Desk"), await product("Chair")
    await ProductRecommendation.aio_create(product=a, recommended=b, kind="complementary", score=1)
    assert await recommend.rebuild_complementary() == 0
    assert await ProductRecommendation.select().aio_count() == 1


@pytest.mark.gen_test
async def test_rebuild_complementary_ranks_products_bought_together(make_user, api):
    user = await make_user()
    desk, chair, lamp, rug = (await product("Desk"), await product("Chair"), await product("Lamp"),
                              await product("Rug"))
    await ProductRecommendation.aio_create(product=desk, recommended=rug, kind="complementary", score=99)
    await make_order(user=user.id, products=[desk, chair, lamp])
    await make_order(user=user.id, products=[desk, chair])
    await make_order(user=user.id, products=[rug])
    assert await recommend.rebuild_complementary() == 6  # desk-chair, desk-lamp, chair-lamp, both ways
    assert await recommend.rebuild_complementary() == 6  # idempotent
    rows = await (ProductRecommendation.select().where(ProductRecommendation.product == desk)
                  .order_by(ProductRecommendation.score.desc()).aio_execute())
    assert [(r.recommended_id, r.score) for r in rows] == [(chair, 2.0), (lamp, 1.0)]  # the seeded rug link is gone
    body = (await api.get(f"/api/products/{desk}/recommendations/complementary/")).json()
    assert [r["id"] for r in body] == [chair, lamp]


# --- counts and prepared statements -----------------------------------------------------------

async def _counts(sql):
    from models.core.db import db

    async def fetch(_db, cursor):
        return {tuple(row[:-1]): row[-1] for row in await cursor.fetchall() if row[-1]}

    return await db.aio_execute_sql(sql, (), fetch_results=fetch)


async def assert_counts_exact():
    kept = await _counts("SELECT category_id, status, band, n FROM product_count")
    real = await _counts("SELECT coalesce(category_id, 0), status, product_stock_band(stock_quantity), count(*) "
                         "FROM product GROUP BY 1, 2, 3")
    assert kept == real


@pytest.mark.gen_test
async def test_product_counts_follow_every_kind_of_write():
    from models.catalog.tables import Category

    a, b = await category("A"), await category("B")
    ids = [await product("P", category=a), await product("Q", category=a, status="draft"), await product("R")]
    await assert_counts_exact()
    await Product.insert_many([{"name": f"Bulk {i}", "slug": f"bulk-{i}", "sku": f"BULK-{i}", "category": b,
                                "base_price": Decimal("5"), "status": "published" if i % 3 else "archived"}
                               for i in range(50)]).aio_execute()
    await assert_counts_exact()
    await Product.update(status="published").where(Product.id == ids[1]).aio_execute()
    await Product.update(category=b).where(Product.id.in_(ids)).aio_execute()
    await Product.update(stock_quantity=1).where(Product.id == ids[0]).aio_execute()  # into the low-stock band
    await assert_counts_exact()
    await Product.update(stock_quantity=0).where(Product.id.in_(ids)).aio_execute()  # out of stock
    await assert_counts_exact()
    await Product.update(stock_quantity=5).where(Product.id == ids[0]).aio_execute()
    await assert_counts_exact()
    await Category.delete().where(Category.id == b).aio_execute()  # products fall back to no category
    await assert_counts_exact()
    await Product.delete().where(Product.name.startswith("Bulk")).aio_execute()
    await assert_counts_exact()
    total, _ = await queries.product_page(queries.ProductFilters(), 1, 12)
    assert total == 3


@pytest.mark.gen_test
async def test_list_total_uses_counts_for_category_status_and_stock_and_real_counts_for_prices():
    parent = await category("Parent")
    child = await category("Child", parent=parent)
    await product("In parent", category=parent, stock=0)
    await product("In child", category=child)
    await product("Draft in child", category=child, status="draft")
    staff = dict(staff=True)
    cases = [(queries.ProductFilters(category_id=parent), 2),
             (queries.ProductFilters(category_id=child), 1),
             (queries.ProductFilters(category_id=parent, **staff), 3),
             (queries.ProductFilters(category_id=parent, tab="draft", **staff), 1),
             (queries.ProductFilters(category_id=parent, in_stock=True), 1),
             (queries.ProductFilters(category_id=parent, in_stock=False), 1),
             (queries.ProductFilters(tab="out_of_stock", **staff), 1),
             (queries.ProductFilters(tab="low_stock", **staff), 0),
             (queries.ProductFilters(category_id=parent, min_price=Decimal("50")), 2),
             (queries.ProductFilters(max_price=Decimal("50"), **staff), 0)]
    for f, expected in cases:
        params: dict = {}
        assert ("product_count" in queries.count_sql(f, queries.product_conditions(f, params))) == (
            f.min_price is None and f.max_price is None)
        assert (await queries.product_page(f, 1, 1))[0] == expected, f


@pytest.mark.gen_test
async def test_pages_in_the_back_half_are_read_backwards_with_the_same_rows():
    for i in range(23):
        await product(f"P{i:02d}", base_price=str(10 + i % 5), stock=i % 4, rating=Decimal(i % 3))
    for ordering in (None, "price", "-price", "name", "-rating", "created_at"):
        for in_stock in (None, True):
            f = queries.ProductFilters(ordering=ordering, in_stock=in_stock)
            total, everything = await queries.product_page(f, 1, 100)
            pages, last = [], -(-total // 4)
            for page in range(1, last + 1):
                page_total, items = await queries.product_page(f, page, 4)
                assert page_total == total
                pages += items
            assert [i["id"] for i in pages] == [i["id"] for i in everything], (ordering, in_stock)
            with pytest.raises(NotFound):
                await queries.product_page(f, last + 1, 4)


@pytest.mark.gen_test
async def test_prepared_statements_survive_a_session_that_lost_them():
    from models.core.db import db

    await product("Lamp")
    async with db.aio_connection():
        assert (await queries.product_page(queries.ProductFilters(), 1, 12))[0] == 1
        await db.aio_execute_sql("DEALLOCATE ALL")
        assert (await queries.product_page(queries.ProductFilters(), 1, 12))[0] == 1
        assert (await queries.product_page(queries.ProductFilters(), 1, 12))[0] == 1


# --- the search cache ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_search_results_are_cached_until_the_catalog_changes(count_queries, sql_search):
    from models.catalog.tables import Category, ProductImage

    cat = await category("Desks")
    pid = await product("Walnut Desk", category=cat, base_price="300.00")

    async def search():
        with count_queries() as q:
            total, items = await queries.search_page("walnut", None, 1, 12)
        return len(q), total, items

    n, total, items = await search()
    assert n == 3 and total == 1 and items[0]["name"] == "Walnut Desk"  # version, words, page
    n, _, again = await search()
    assert n == 1 and again == items  # only the version was read
    await Product.update(stock_quantity=0).where(Product.id == pid).aio_execute()  # not shown in results
    assert (await search())[0] == 1

    changes = [
        (Product.update(name="Walnut Writing Desk").where(Product.id == pid), "name", "Walnut Writing Desk"),
        (Product.update(base_price=Decimal("250.00")).where(Product.id == pid), "price", "250.00"),
        (Category.update(name="Work Desks").where(Category.id == cat), "category_name", "Work Desks"),
        (ProductImage.insert(product=pid, image="k.jpg", image_url="http://testserver/media/k.jpg", is_main=True),
         "main_image", "http://testserver/media/k.jpg"),
    ]
    for query, field, value in changes:
        await query.aio_execute()
        n, _, items = await search()
        assert n == 3 and items[0][field] == value, field
    await Product.update(status="draft").where(Product.id == pid).aio_execute()
    assert (await search())[1:] == (0, [])


@pytest.mark.gen_test
async def test_search_is_not_cached_without_a_catalog_version(count_queries, sql_search):
    from models.core.db import db

    await product("Walnut Desk")
    await db.aio_execute_sql("DELETE FROM catalog_version")
    for _ in range(2):
        with count_queries() as q:
            total, _ = await queries.search_page("walnut", None, 1, 12)
        assert total == 1 and len(q) == 3
    await product("Walnut Shelf")  # a write brings the version back, with a value never used before
    assert (await queries.search_page("walnut", None, 1, 12))[0] == 2
    assert await queries.catalog_version() is not None


@pytest.mark.gen_test
async def test_a_version_bumps_only_when_a_change_commits():
    from models.core.db import transaction

    pid = await product("Lamp")
    before = await queries.catalog_version()
    with pytest.raises(RuntimeError):
        async with transaction():
            await Product.update(name="Renamed").where(Product.id == pid).aio_execute()
            raise RuntimeError("rolled back")
    assert await queries.catalog_version() == before
    async with transaction():
        await Product.update(name="Renamed").where(Product.id == pid).aio_execute()
        assert await queries.catalog_version() == before  # deferred to the commit
    assert await queries.catalog_version() != before
