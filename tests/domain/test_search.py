"""Typo-tolerant product search on a fixed catalog: the misspelling table,
prefixes, ranking, accents, stop words, and the lexicon kept by triggers."""
from __future__ import annotations

import pytest

from models.catalog import queries, search
from models.catalog.admin import search_for_order_form
from models.catalog.tables import Category, Product, Tag
from models.core.db import fetch_all
from tests.support.factories import category, product, tag, tag_product

CATALOG = [  # name, description, popularity (num_ratings)
    ("Ergonomic Office Chair", "Mesh back, adjustable height", 9),
    ("Oak Dining Chair", "", 3),
    ("Oak Dining Table", "Seats six", 5),
    ("Ceramic Table Lamp", "", 2),
    ("Brass Floor Lamp", "", 1),
    ("Velvet Chesterfield Sofa", "Deep seats in emerald velvet", 4),
    ("Linen Sofa Bed", "", 2),
    ("Walnut Standing Desk", "", 6),
    ("Crystal Chandelier", "", 1),
    ("Pine Wardrobe", "", 1),
    ("Rattan Armchair", "", 1),
    ("Seat Cushion", "Fits any chair", 8),
    ("Chain Link Mirror", "", 7),
    ("Café Bistro Table", "", 1),
    ("Crème Throw", "", 1),
]


@pytest.fixture(autouse=True, params=["index", "sql"])
def search_path(request):
    """Every test here runs twice: searches answered from the process's index
    (models/catalog/engine.py) and in SQL (the path it falls back to)."""
    from models.catalog.engine import engine

    if request.param == "index" and "sql_only" in request.keywords:
        pytest.skip("tests the SQL path's own strategy")
    engine.enabled = request.param == "index"
    yield request.param
    engine.enabled = True


@pytest.fixture
def shop(io_loop):
    async def build():
        return {name: await product(name, description=description, num_ratings=popularity)
                for name, description, popularity in CATALOG}

    return io_loop.run_sync(build)


async def found(q: str) -> list[str]:
    return [i["name"] for i in (await queries.search_page(q, None, 1, 50))[1]]


# query -> products it must find, products it must not find
MISSPELLINGS = [
    # transpositions (adjacent swap = one typo)
    ("chiar", {"Ergonomic Office Chair", "Oak Dining Chair"}, {"Chain Link Mirror", "Rattan Armchair"}),
    ("wardorbe", {"Pine Wardrobe"}, set()),
    ("tabel", {"Oak Dining Table", "Ceramic Table Lamp", "Café Bistro Table"}, set()),
    # insertions
    ("chaiir", {"Ergonomic Office Chair", "Oak Dining Chair"}, set()),
    ("sofaa", {"Velvet Chesterfield Sofa", "Linen Sofa Bed"}, set()),
    # deletions
    ("walnt", {"Walnut Standing Desk"}, set()),
    ("cermic", {"Ceramic Table Lamp"}, set()),
    # substitutions
    ("velvat", {"Velvet Chesterfield Sofa"}, set()),
    ("wardrobr", {"Pine Wardrobe"}, set()),
    # a typo on the first letter counts double: none allowed under 9 letters
    ("xhair", set(), {"Ergonomic Office Chair", "Oak Dining Chair"}),
    ("hcair", set(), {"Ergonomic Office Chair", "Oak Dining Chair"}),
    ("fhandelier", {"Crystal Chandelier"}, set()),  # 10 letters: the first letter's two typos
    # two typos from 9 letters, one below
    ("chanedlir", {"Crystal Chandelier"}, set()),  # swap + deletion
    ("ergonomik", {"Ergonomic Office Chair"}, set()),
    ("ergnomik", set(), {"Ergonomic Office Chair"}),  # 8 letters, two typos
    ("wardorbr", set(), {"Pine Wardrobe"}),  # 8 letters, two typos
    # four letters allow no typo
    ("lmap", set(), {"Ceramic Table Lamp", "Brass Floor Lamp"}),
    ("deks", set(), {"Walnut Standing Desk"}),
    ("lamp", {"Ceramic Table Lamp", "Brass Floor Lamp"}, set()),
    # every word must match (one of its spellings)
    ("ergonmic chiar", {"Ergonomic Office Chair"}, {"Oak Dining Chair"}),
    ("oak tabel", {"Oak Dining Table"}, {"Ceramic Table Lamp", "Oak Dining Chair"}),
    ("sofaa bed", {"Linen Sofa Bed"}, {"Velvet Chesterfield Sofa"}),
]


@pytest.mark.gen_test
@pytest.mark.parametrize("q, must, must_not", MISSPELLINGS, ids=[m[0] for m in MISSPELLINGS])
async def test_misspellings(shop, q, must, must_not):
    names = set(await found(q))
    assert must <= names, (q, names)
    assert not names & must_not, (q, names)
    if not must:
        assert names == set(), (q, names)


def test_typo_rules():
    assert search.damerau_levenshtein("chiar", "chair") == 1  # a swap is one typo
    assert search.damerau_levenshtein("chanedlir", "chandelier") == 2
    assert search.typo_cost("xhair", "chair") == 2 and search.typo_cost("hcair", "chair") == 2
    assert [search.allowed_typos(w) for w in ("lamp", "chair", "ergonomi", "ergonomic")] == [0, 1, 1, 2]


@pytest.mark.gen_test
async def test_the_last_word_is_a_prefix(shop):
    assert set(await found("ergo")) == {"Ergonomic Office Chair"}
    assert set(await found("ch")) == {"Ergonomic Office Chair", "Oak Dining Chair", "Velvet Chesterfield Sofa",
                                      "Crystal Chandelier", "Chain Link Mirror", "Seat Cushion"}  # "chair" in text
    c = set(await found("c"))
    assert {"Ceramic Table Lamp", "Café Bistro Table", "Crème Throw", "Crystal Chandelier"} <= c
    assert "Pine Wardrobe" not in c and "Brass Floor Lamp" not in c
    assert await found("ergo chair") == []  # only the last word is a prefix
    assert set(await found("oak dini")) == {"Oak Dining Chair", "Oak Dining Table"}


@pytest.mark.gen_test
async def test_ranking_exact_then_one_typo_name_before_description_then_popularity(shop):
    # exact in the name (most popular first), exact in the description, then one typo ("chain")
    assert await found("chair") == ["Ergonomic Office Chair", "Oak Dining Chair", "Seat Cushion",
                                    "Chain Link Mirror"]
    # two words: exact beats one typo whatever the popularity
    await product("Oak Dinning Bench", num_ratings=100)
    assert (await found("oak dining"))[:2] == ["Oak Dining Table", "Oak Dining Chair"]


@pytest.mark.gen_test
async def test_accents_and_case_are_folded(shop):
    assert await found("cafe") == await found("café") == await found("CAFÉ") == ["Café Bistro Table"]
    assert await found("creme") == await found("crème") == ["Crème Throw"]


@pytest.mark.gen_test
async def test_stop_words_never_decide_a_match(shop):
    assert await found("the sofa") == await found("sofa")
    assert set(await found("table and lamp")) == {"Ceramic Table Lamp"}
    assert set(await found("lamp of the")) == {"Ceramic Table Lamp", "Brass Floor Lamp"}


@pytest.mark.gen_test
async def test_list_and_order_form_use_the_same_rules(shop):
    total, items = await queries.product_page(queries.ProductFilters(search="ergonmic chiar"), 1, 12)
    assert total == 1 and items[0]["name"] == "Ergonomic Office Chair"
    total, items = await queries.product_page(queries.ProductFilters(search="chiar", ordering="-name"), 1, 12)
    assert [i["name"] for i in items] == ["Seat Cushion", "Oak Dining Chair", "Ergonomic Office Chair"]
    assert [r["name"] for r in await search_for_order_form("chiar")] == [
        "Ergonomic Office Chair", "Oak Dining Chair", "Seat Cushion"]  # name matches before the description
    assert await search_for_order_form("lmap") == []


async def lexicon(*words: str) -> dict[str, int]:
    rows = await fetch_all("SELECT word, n FROM search_word WHERE word = ANY(%s)", [list(words)])
    return dict(rows)


@pytest.mark.gen_test
async def test_the_lexicon_follows_names_categories_and_tags():
    pid = await product("Teak Lounger")
    assert await lexicon("teak", "lounger") == {"teak": 1, "lounger": 1}
    assert await found("loungr") == ["Teak Lounger"]
    await Product.update(name="Teak Sunbed").where(Product.id == pid).aio_execute()
    assert await lexicon("teak", "lounger", "sunbed") == {"teak": 1, "sunbed": 1}
    assert await found("loungr") == [] and await found("sunbde") == ["Teak Sunbed"]

    cat = await category("Outdoor Furniture")
    await Product.update(category=cat).where(Product.id == pid).aio_execute()
    assert await lexicon("furniture") == {"furniture": 1}
    assert await found("furnitre") == ["Teak Sunbed"]  # category words are searched, typos too
    await Category.update(name="Garden Furniture").where(Category.id == cat).aio_execute()
    assert await found("gardn") == ["Teak Sunbed"] and await lexicon("outdoor") == {}

    eco = await tag("Weatherproof")
    await tag_product(pid, eco)
    assert await found("weatherprof") == ["Teak Sunbed"]
    await Tag.update(name="Rainproof").where(Tag.id == eco).aio_execute()
    assert await found("rainprof") == ["Teak Sunbed"] and await found("weatherproof") == []

    await Product.delete().where(Product.id == pid).aio_execute()
    assert await lexicon("teak", "sunbed") == {}
    assert await lexicon("rainproof", "garden") == {"rainproof": 1, "garden": 1}  # the tag and category stay


@pytest.mark.gen_test
async def test_punctuation_and_operators_are_just_text(shop):
    await product("O'Reilly Stool")
    assert await found("o'reilly") == ["O'Reilly Stool"]
    for q in ("\\", "'", "& | ! :*", "chair:*A", "<->", "((", "'''", "chair\x00"):
        await found(q)  # no error
    assert set(await found("chair & lamp")) == set()  # "&" is no operator: both words must match
    assert await found("!!!") == await found("")  # nothing to search for: everything, newest first


async def search_copy_matches_products() -> None:
    columns = "id, status, category_id, price, stock_quantity, num_ratings, coalesce(search_vector, '')"
    assert await fetch_all(f"(SELECT {columns} FROM product EXCEPT SELECT {columns} FROM product_search) UNION ALL "
                           f"(SELECT {columns} FROM product_search EXCEPT SELECT {columns} FROM product)") == []


@pytest.mark.gen_test
async def test_the_search_copy_follows_every_write():
    from decimal import Decimal

    cat = await category("Chairs")
    pid = await product("Teak Chair", category=cat, base_price="50.00", stock=5)
    await search_copy_matches_products()

    async def ids(**filters) -> list[int]:
        page = await queries.product_page(queries.ProductFilters(search="chair", **filters), 1, 12)
        return [i["id"] for i in page[1]]

    assert await ids(min_price=Decimal("40")) == [pid] and await ids(in_stock=True) == [pid]
    await Product.update(base_price=Decimal("30")).where(Product.id == pid).aio_execute()
    assert await ids(min_price=Decimal("40")) == []
    await Product.update(stock_quantity=0).where(Product.id == pid).aio_execute()
    assert await ids(in_stock=True) == [] and await ids(in_stock=False) == [pid]
    await Product.update(status="draft").where(Product.id == pid).aio_execute()
    assert await ids() == []
    await Product.update(status="published", num_ratings=3, description="Oiled").where(Product.id == pid).aio_execute()
    assert await found("oiled") == ["Teak Chair"]
    await Category.update(name="Seating").where(Category.id == cat).aio_execute()
    assert await found("seating") == ["Teak Chair"]
    await Product.insert_many([{"name": f"Bulk Chair {i}", "slug": f"bulk-{i}", "sku": f"BULK-{i}", "base_price": 5,
                                "status": "published"}
                               for i in range(30)]).aio_execute()
    await Product.update(stock_quantity=7).where(Product.name.startswith("Bulk")).aio_execute()
    await search_copy_matches_products()
    await Product.delete().where(Product.id == pid).aio_execute()
    await search_copy_matches_products()
    assert (await queries.search_page("chair", None, 1, 50))[0] == 30


# --- pages read from the popularity walk (search.page_sql) ----------------------------

WALK_QUERIES = ["chair", "chiar", "oak chair", "oka chair", "oak", "o", "chairs", "velvet chiar", "table", "lamp"]


@pytest.fixture
def many(io_loop):
    """60 products whose names mix exact, typo'd and description matches, with tied popularity."""
    import random

    rng = random.Random(11)

    async def build():
        for _ in range(60):
            name = f"{rng.choice(['Oak', 'Oka', 'Pine', 'Velvet'])} {rng.choice(['Chair', 'Chairs', 'Table', 'Lamp'])}"
            await product(name, description=rng.choice(["", "a chair", "velvet"]), num_ratings=rng.randint(0, 4),
                          status=rng.choice(["published"] * 5 + ["draft"]))

    io_loop.run_sync(build)


async def every_page(search_text: str, size: int, list_page: bool = True) -> list[tuple[int, list[int]]]:
    pages, page = [], 1
    while True:
        queries.search_cache.entries.clear()
        try:
            if list_page:
                total, items = await queries.product_page(queries.ProductFilters(search=search_text), page, size)
            else:
                total, items = await queries.search_page(search_text, None, page, size)
        except queries.NotFound:
            return pages
        pages.append((total, [i["id"] for i in items]))
        if not items:
            return pages
        page += 1


@pytest.mark.sql_only
@pytest.mark.gen_test
@pytest.mark.parametrize("walk_rows", [5, 20, 2000])
async def test_pages_from_the_popularity_walk_are_the_ranked_pages(many, monkeypatch, walk_rows):
    """Every page of every query, walk or not, list or /products/search/: the same rows, order and total."""
    monkeypatch.setattr(search, "WALK_ROWS", walk_rows)
    walked = []
    page_sql = search.page_sql

    def spy(query, conditions, params, walk):
        walked.append(walk is not None)
        return page_sql(query, conditions, params, walk)

    monkeypatch.setattr(search, "page_sql", spy)
    for q in WALK_QUERIES:
        for size in (1, 3, 7):
            with_walk = await every_page(q, size)
            assert with_walk == await every_page(q, size, list_page=False)
            monkeypatch.setattr(queries, "_walk", lambda *a: None)
            without = await every_page(q, size)
            monkeypatch.undo()
            monkeypatch.setattr(search, "WALK_ROWS", walk_rows)
            monkeypatch.setattr(search, "page_sql", spy)
            assert with_walk == without, (q, size)
            assert sum(len(ids) for _, ids in without) == without[0][0]  # the total is every row, once
    assert True in walked and False in walked


@pytest.mark.sql_only
@pytest.mark.gen_test
async def test_the_walk_serves_a_first_page_of_name_matches_alone(many):
    """The walk's page is full for "chair" (exact, in names) and for "chiar" (one typo, nothing exact)."""
    for q in ("chair", "chiar"):
        query = await search.parse(q)
        params = {"limit": 3, "offset": 0}
        ctes = search.page_sql(query, "p.status = 'published'", params, "100")
        rows = await fetch_all(f"WITH {ctes} SELECT (SELECT yes FROM full_page), (SELECT t FROM tier)",
                               params)
        assert rows == [(True, 0 if q == "chair" else 1)]


@pytest.mark.sql_only
@pytest.mark.gen_test
async def test_a_large_total_on_a_walked_page_is_an_estimate_above_the_exact_limit(many, monkeypatch):
    published = (await fetch_all("SELECT count(*) FROM product WHERE status = 'published'"))[0][0]
    chairs = (await fetch_all("SELECT count(*) FROM product_search p WHERE p.status = 'published' AND "
                              "p.search_vector @@ %s::tsquery", [(await search.parse("chair")).matching()]))[0][0]
    exact_pages = await every_page("chair", 3)
    assert exact_pages[0][0] == chairs and chairs > 6
    monkeypatch.setattr(search, "WALK_ROWS", 20)
    monkeypatch.setattr(search, "EXACT_COUNT", 5)
    walked = (await fetch_all(
        "SELECT count(*) FROM (SELECT search_vector FROM product_search WHERE status = 'published' "
        "ORDER BY num_ratings DESC, id DESC LIMIT 20) p WHERE p.search_vector @@ %s::tsquery",
        [(await search.parse("chair")).matching()]))[0][0]
    pages = await every_page("chair", 3)
    # First pages (the walk's): above 5 matches, the walked share of the published products, at least 6.
    assert pages[0][0] == max(6, round(walked * published / 20))
    assert [ids for _, ids in pages] == [ids for _, ids in exact_pages]  # the same rows, every page
    deep = [total for (total, _), page in zip(pages, range(1, 100)) if page * 3 > search.WALK_MAX_END]
    assert all(total == chairs for total in deep)
    # Up to the limit the total stays exact: "oka chair" matches fewer.
    monkeypatch.setattr(search, "EXACT_COUNT", 1000)
    assert (await every_page("chair", 3))[0][0] == chairs
