"""The product list's orderings in the search index (models/catalog/engine.py
Orderings, migration 0026): an attribute-filtered list is paged by the index
and must give exactly the pages the SQL path gives, for every ordering, every
page size and after writes that move products in an ordering."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from pyroaring import BitMap64

from models.catalog import attributes, queries
from models.catalog.engine import INDEX_ORDERINGS, Orderings, engine, rank_key, sort_values
from models.core.db import fetch_all
from tests.domain.test_search_engine import pages
from tests.support.factories import category, product

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def furniture(io_loop):
    """90 products with tied prices, ratings and creation times, two attributes."""
    rng = random.Random(22)

    async def build():
        sofas = await category("Sofas")
        rows = await fetch_all("INSERT INTO attribute (name, slug, kind) VALUES ('Material', 'material', 'choice'), "
                               "('Width', 'width', 'number') RETURNING id")
        material, width = rows[0][0], rows[1][0]
        values = [r[0] for r in await fetch_all(
            "INSERT INTO attribute_value (attribute_id, value, slug, position) VALUES "
            "(%(a)s, 'Oak', 'oak', 0), (%(a)s, 'Steel', 'steel', 1), (%(a)s, 'Wool', 'wool', 2) RETURNING id",
            {"a": material})]
        for i in range(90):
            pid = await product(f"{rng.choice(['Oak', 'Steel', 'Wool'])} Thing {i % 7}",
                                base_price=rng.choice(["10.00", "25.50", "99.99", "250.00", "1200.00"]),
                                rating=Decimal(rng.choice(["0", "3.50", "4.00", "5.00"])),
                                num_ratings=rng.choice([0, 2, 9]),
                                created_at=T0 + dt.timedelta(hours=rng.choice([0, 1, 2, 30])),
                                stock=rng.choice([0, 4, 40]), category=rng.choice([None, sofas]),
                                status=rng.choice(["published"] * 4 + ["draft"]))
            for value in rng.sample(values, rng.randint(0, 2)):
                await fetch_all("INSERT INTO product_attribute_value (product_id, value_id, attribute_id) "
                                "VALUES (%s, %s, %s) RETURNING 1", (pid, value, material))
            if rng.random() < 0.8:
                await fetch_all("INSERT INTO product_attribute_number (product_id, attribute_id, value) "
                                "VALUES (%s, %s, %s) RETURNING 1", (pid, width, rng.choice([40, 80, 120, 200])))
        return {"sofas": sofas}

    return io_loop.run_sync(build)


async def _filters(arguments: dict) -> tuple:
    return attributes.query_of(arguments)


async def _both(f: queries.ProductFilters, size: int) -> tuple[list, list]:
    engine.enabled = True
    indexed = await pages(f, size)
    engine.enabled = False
    try:
        in_sql = await pages(f, size)
    finally:
        engine.enabled = True
    return indexed, in_sql


@pytest.mark.gen_test(timeout=120)
async def test_every_ordering_pages_as_sql_does(furniture):
    cases = [{"attr_material": "oak"}, {"attr_material": "oak,wool"}, {"attr_width_min": "60"},
             {"attr_material": "steel", "attr_width_max": "120"}]
    extras = [{}, {"category_id": furniture["sofas"]}, {"in_stock": True},
              {"min_price": Decimal("20"), "max_price": Decimal("300")}, {"staff": True, "tab": "draft"}]
    orderings = [None, *queries.ORDERINGS, "price,-name"]
    compared = 0
    for arguments in cases:
        filters = await _filters(arguments)
        for extra in extras:
            for ordering in orderings:
                f = queries.ProductFilters(ordering=ordering, attribute_query=filters, **extra)
                size = 4 if extra else 10  # every page of both paths
                indexed, in_sql = await _both(f, size)
                assert indexed == in_sql, (arguments, extra, ordering, size)
                compared += 1
    assert compared == 4 * 5 * 10
    assert engine.index is not None and engine.index.orderings._built  # the index did order
    # searches in another order than relevance, with and without attribute filters
    oak = await _filters({"attr_material": "oak"})
    for text in ("thing", "wool", "wol thing", "steel 5", "the"):
        for filters in ([], oak):
            for ordering in queries.ORDERINGS:
                f = queries.ProductFilters(search=text, ordering=ordering, attribute_query=filters)
                indexed, in_sql = await _both(f, 6)
                assert indexed == in_sql, (text, filters, ordering)


@pytest.mark.gen_test(timeout=60)
async def test_writes_move_products_in_the_index_orderings(furniture):
    filters = await _filters({"attr_width_min": "10"})
    f = {o: queries.ProductFilters(ordering=o, attribute_query=filters) for o in ("price", "-rating", "created_at")}
    for one in f.values():
        await queries.product_page(one, 1, 5)  # orderings built
    top = (await queries.product_page(f["price"], 1, 1))[1][0]["id"]
    rows = await fetch_all("SELECT p.id FROM product p JOIN product_attribute_number n ON n.product_id = p.id "
                           "WHERE p.status = 'published' ORDER BY p.price DESC, p.id DESC LIMIT 1")
    dearest = rows[0][0]
    # another writer makes the dearest product the cheapest, the best rated and the oldest
    await fetch_all("UPDATE product SET base_price = 1, rating = 5, num_ratings = 1000, "
                    "created_at = '2020-01-01' WHERE id = %s RETURNING 1", (dearest,))
    assert dearest != top
    assert (await queries.product_page(f["price"], 1, 1))[1][0]["id"] == dearest
    assert (await queries.product_page(f["-rating"], 1, 1))[1][0]["id"] == dearest
    assert (await queries.product_page(f["created_at"], 1, 1))[1][0]["id"] == dearest
    # a stock change moves no product in any ordering: nothing is rebuilt
    builds = engine.index.orderings.builds
    await fetch_all("UPDATE product SET stock_quantity = 0 WHERE id = %s RETURNING 1", (dearest,))
    assert (await queries.product_page(f["price"], 1, 1))[1][0]["id"] == dearest
    assert engine.index.orderings.builds == builds
    for ordering in (None, *queries.ORDERINGS):
        indexed, in_sql = await _both(queries.ProductFilters(ordering=ordering, attribute_query=filters), 7)
        assert indexed == in_sql, ordering


@pytest.mark.gen_test
async def test_an_indexed_ordered_page_is_one_query(furniture, count_queries):
    filters = await _filters({"attr_material": "oak,steel"})
    f = queries.ProductFilters(ordering="-price", attribute_query=filters)
    await queries.product_page(f, 1, 12)  # the index loaded, the ordering built
    with count_queries() as counted:
        total, items = await queries.product_page(f, 2, 5)
    assert len(counted) == 1, counted
    assert total > 10 and len(items) == 5
    searched = queries.ProductFilters(search="thing", ordering="rating")
    await queries.product_page(searched, 1, 5)
    with count_queries() as counted:
        total, items = await queries.product_page(searched, 2, 5)
    assert len(counted) == 1 and total > 50 and len(items) == 5, counted
    with pytest.raises(queries.NotFound):
        await queries.product_page(f, 99, 5)


def test_orderings_page_is_a_sorted_slice_of_the_matches():
    """Orderings alone against Python's sort: ties by id, reverses, every offset."""
    rng = random.Random(7)
    orderings, docs = Orderings(), {}
    for pid in rng.sample(range(1, 5000), 600):
        values = sort_values(rng.choice([100, 250, 999]), rng.choice([0, 350, 500]), rng.choice([0, 3]),
                             T0 + dt.timedelta(seconds=rng.choice([0, 1, 2])))
        orderings.set(pid, values)
        docs[pid] = values
    for pid in rng.sample(sorted(docs), 50):  # removed products are never matched again
        orderings.unset(pid)
        del docs[pid]
    chosen = rng.sample(sorted(docs), 200)
    matches = BitMap64(rank_key(pid, 0) for pid in chosen)
    for i, name in enumerate(INDEX_ORDERINGS):
        expected = sorted(chosen, key=lambda p: (docs[p][i], p))
        for offset in (0, 1, 37, 195, 200, 250):
            assert orderings.page(matches, name, offset, 10) == expected[offset:offset + 10]
            assert orderings.page(matches, "-" + name, offset, 10) == expected[::-1][offset:offset + 10]
    assert orderings.page(matches, "name", 0, 10) is None
    # a changed value rebuilds that ordering only
    built = orderings.builds
    pid = chosen[0]
    orderings.set(pid, (1, *docs[pid][1:]))
    docs[pid] = (1, *docs[pid][1:])
    assert orderings.page(matches, "price", 0, 1) == [pid]
    rating = INDEX_ORDERINGS.index("rating")
    assert orderings.page(matches, "rating", 0, 1) == sorted(chosen, key=lambda p: (docs[p][rating], p))[:1]
    assert orderings.builds == built + 1


def test_number_ranges_by_blocks_equal_a_scan():
    """A number attribute's range filter (unions of blocks of values, or the
    complement when fewer values lie outside) against a plain scan, and kept
    filters forgotten when the attribute's products change."""
    from models.catalog.attributes import AttrFilter
    from models.catalog.engine import Index, key_id

    rng = random.Random(3)
    index, widths = Index(1, 1, 0), {}
    for pid in range(1, 800):
        cents = rng.randrange(1000, 30000, 50)  # hundreds of distinct values: many blocks
        index.add(pid, "published", None, "10.00", 5, rng.randint(0, 9), [], [], [], [7], [cents])
        widths[pid] = cents

    def check():
        for low, high in [(None, None), ("60", None), (None, "80.25"), ("100", "101"), ("290", None),
                          ("5", "4"), ("10", "300"), ("150.5", "150.5"), ("0", "12")]:
            f = AttrFilter(7, "width", "number", low=None if low is None else Decimal(low),
                           high=None if high is None else Decimal(high))
            got = sorted(key_id(k) for k in index.attribute_set(f))
            want = sorted(p for p, c in widths.items()
                          if (low is None or c >= Decimal(low) * 100) and (high is None or c <= Decimal(high) * 100))
            assert got == want, (low, high)

    check()
    check()  # kept
    for pid in rng.sample(sorted(widths), 100):
        index.remove(pid)
        del widths[pid]
    index.add(900, "published", None, "10.00", 5, 0, [], [], [], [7], [15000])
    widths[900] = 15000
    check()


@pytest.mark.gen_test
async def test_kept_attribute_definitions_follow_attribute_writes(furniture, count_queries):
    """An indexed list resolves attr_ filters with the definitions the process
    kept (no query) and checks them against the catalog version its statement
    reads: an attribute created, or a value renamed, since is seen at once."""
    oak = queries.ProductFilters(attribute_query=attributes.query_of({"attr_material": "oak"}))
    total = (await queries.product_page(oak, 1, 5))[0]
    with count_queries() as counted:
        assert (await queries.product_page(oak, 1, 5))[0] == total
    assert len(counted) == 1, counted
    # another process creates an attribute and gives it to a product
    rows = await fetch_all("INSERT INTO attribute (name, slug, kind) VALUES ('Colour', 'colour', 'choice') RETURNING id")
    value = (await fetch_all("INSERT INTO attribute_value (attribute_id, value, slug) VALUES (%s, 'Red', 'red') "
                             "RETURNING id", (rows[0][0],)))[0][0]
    pid = (await fetch_all("SELECT min(id) FROM product WHERE status = 'published'"))[0][0]
    await fetch_all("INSERT INTO product_attribute_value (product_id, value_id, attribute_id) VALUES (%s, %s, %s) "
                    "RETURNING 1", (pid, value, rows[0][0]))
    red = queries.ProductFilters(attribute_query=attributes.query_of({"attr_colour": "red"}))
    total_red, items = await queries.product_page(red, 1, 5)
    assert total_red == 1 and items[0]["id"] == pid
    # a value renamed: the new slug answers, the old one is a 400 naming the valid ones
    await fetch_all("UPDATE attribute_value SET slug = 'solid-oak' WHERE slug = 'oak' RETURNING 1")
    solid = queries.ProductFilters(attribute_query=attributes.query_of({"attr_material": "solid-oak"}))
    assert (await queries.product_page(solid, 1, 5))[0] == total
    with pytest.raises(queries.ValidationFailed) as refused:
        await queries.product_page(oak, 1, 5)
    assert "solid-oak" in refused.value.errors["attr_material"][0]
