"""The storefront's read side of the catalog: product filters, ordering,
typo-tolerant search, and serialisers that build a whole page in a fixed
number of queries.

These are the hottest requests of the shop, so they are written as plain SQL
with bound parameters, and the fixed-shape ones run as prepared statements
(see ``fetch_prepared``): each page is one query whatever its size (category
name joined, image URLs gathered by a correlated ``ARRAY(...)`` subquery, the
total carried along), and money and timestamps come back as the strings the
API sends. Writes go through the peewee models elsewhere.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence

import orjson

from models.catalog import attributes, engine, search
from models.catalog.stock_policy import StockTerms, ship_date_for, terms_sql
from models.catalog.stock_policy import iso as iso_date
from models.catalog.tables import LOW_STOCK_MAX, STATUS_SYNONYMS, line_unit_price, variation_price
from models.core.db import fetch_all, fetch_prepared, money_number, utcnow
from models.core.errors import NotFound, ValidationFailed

# ordering value -> ORDER BY expression (see order_by(): ties are broken by id).
ORDERINGS: dict[str, str] = {
    "price": "p.price ASC",
    "-price": "p.price DESC",
    "name": "p.name ASC",
    "-name": "p.name DESC",
    "created_at": "p.created_at ASC",
    "-created_at": "p.created_at DESC",
    "rating": "p.rating ASC, p.num_ratings ASC",
    "-rating": "p.rating DESC, p.num_ratings DESC",
}
DEFAULT_ORDERING = "-created_at"
TABS = ("all", "published", "low_stock", "out_of_stock", "draft", "archived")
SEARCH_MAX_CHARS = search.MAX_CHARS
MAX_ID = 2**31 - 1  # ids are SERIAL (PostgreSQL integer)

# The first image is the main one unless the product names its own.
# Rows keep keys; media_url() (migration 0015, twin of models.core.media.media_url)
# makes the address as the row is read: a prefix concatenation, inlined by PostgreSQL.
MAIN_IMAGE_SQL = ("COALESCE(media_url(p.main_image), (SELECT media_url(i.image_url) FROM product_image i "
                  "WHERE i.product_id = p.id ORDER BY i.is_main DESC, i.position, i.id LIMIT 1))")
IMAGES_SQL = ("ARRAY(SELECT media_url(i.image_url) FROM product_image i WHERE i.product_id = p.id "
              "ORDER BY i.position, i.id)")


def iso_sql(column: str) -> str:
    """A timestamp column as the API writes it (ISO 8601 UTC, seconds, ``Z``), formatted by PostgreSQL."""
    return f"""to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


# Money and timestamps leave PostgreSQL as the strings the API sends
# (NUMERIC(12,2)::text is "99.99"), and product_details as JSON text passed
# through to the response (orjson.Fragment): no Decimal, datetime or JSON
# parsing per row on the hot path.
_ITEM_COLUMNS = f"""p.id, p.name, p.slug, p.description, p.price::text, p.category_id, c.name, {IMAGES_SQL},
    media_url(p.main_image), p.stock_quantity, p.is_featured, p.is_physical_product, p.sku, p.status, p.rating::text,
    p.num_ratings, p.product_details::text, {iso_sql("p.created_at")}, {iso_sql("p.updated_at")}, p.stock_policy"""
_FROM = "FROM product p LEFT JOIN category c ON c.id = p.category_id"


@dataclass
class ProductFilters:
    """What a product list asks for; ``staff`` lifts the published-only rule."""

    search: str | None = None
    category_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: str | None = None
    tab: str | None = None
    staff: bool = False
    # Typed attribute filters (models/catalog/attributes.py: attr_<slug>=..., attr_<slug>_min/_max).
    attributes: list[attributes.AttrFilter] = field(default_factory=list)
    # The same as the query string gave them (``attributes.query_of``): the list resolves them
    # against the definitions itself (``_resolved``), and adds them to ``attributes``.
    attribute_query: tuple[tuple[str, str], ...] = ()


# --- small helpers -------------------------------------------------------------

def is_staff(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_staff", False))


async def liked_product_ids(user: Any, product_ids: Iterable[int]) -> set[int]:
    """The ids among ``product_ids`` that ``user`` has on their wishlist: one
    query for a whole page (none for an anonymous user or no ids); every
    product payload gets ``is_liked`` from here."""
    ids = list(product_ids)
    if user is None or not ids:
        return set()
    rows = await fetch_all("SELECT product_id FROM wishlist_item WHERE user_id = %s AND product_id = ANY(%s)",
                           (user.id, ids))
    return {r[0] for r in rows}


def clean_search(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "").strip()[:SEARCH_MAX_CHARS]
    return value or None


def order_by(parts: Sequence[str]) -> str:
    """ORDER BY for validated ordering values; the id last keeps pages stable when values tie."""
    return ", ".join(ORDERINGS[p] for p in parts) + (", p.id DESC" if parts[-1].startswith("-") else ", p.id ASC")


def validate_ordering(value: str | None) -> list[str]:
    """``price,-name`` → the ORDER BY parts; 400 listing the valid values otherwise."""
    if not value:
        return []
    parts = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in parts if p not in ORDERINGS]
    if bad:
        valid = list(ORDERINGS)
        raise ValidationFailed(
            errors={"ordering": [f"Invalid ordering '{bad[0]}'. Valid values: {', '.join(valid)}."]},
            valid_orderings=valid)
    return parts


def validate_tab(value: str | None) -> str:
    if not value:
        return "all"
    tab = STATUS_SYNONYMS.get(value.strip().lower(), value.strip().lower())
    if tab not in TABS:
        raise ValidationFailed(
            errors={"tab": [f"Invalid tab '{value}'. Valid values: {', '.join(TABS)}."]}, valid_tabs=list(TABS))
    return tab


def _subtree_sql(column: str) -> str:
    # The category and all its descendants; UNION (not UNION ALL) stops at a
    # cycle an admin might create by mistake.
    # = ANY(ARRAY(...)): a filter on the ordering's index walk (which stops at
    # the page), where IN (...) would join and sort every product of the subtree.
    return (f"{column} = ANY(ARRAY(WITH RECURSIVE tree(id) AS (SELECT id FROM category WHERE id = %(cat)s "
            "UNION SELECT c2.id FROM category c2 JOIN tree ON c2.parent_id = tree.id) SELECT id FROM tree))")


def product_conditions(f: ProductFilters, params: dict[str, Any]) -> str:
    """The WHERE condition for ``f`` (search aside); adds its parameters to ``params``."""
    where: list[str] = []
    if not f.staff:
        where.append("p.status = 'published'")
    tab = validate_tab(f.tab)
    if tab in ("published", "draft", "archived"):
        where.append("p.status = %(tab)s")
        params["tab"] = tab
    elif tab == "low_stock":
        where.append(f"p.stock_quantity BETWEEN 1 AND {LOW_STOCK_MAX}")
    elif tab == "out_of_stock":
        where.append("p.stock_quantity = 0")
    if f.category_id is not None:
        where.append(_subtree_sql("p.category_id"))
        params["cat"] = f.category_id if 0 < f.category_id <= MAX_ID else 0  # 0: no such category
    if f.min_price is not None:
        where.append("p.price >= %(min_price)s")
        params["min_price"] = f.min_price
    if f.max_price is not None:
        where.append("p.price <= %(max_price)s")
        params["max_price"] = f.max_price
    if f.in_stock is True:
        where.append("p.stock_quantity > 0")
    elif f.in_stock is False:
        where.append("p.stock_quantity = 0")
    if f.attributes:
        where.append(attributes.conditions(f.attributes, params))
    return " AND ".join(where) or "TRUE"


def count_sql(f: ProductFilters, conditions: str) -> str:
    """A scalar subquery counting the products ``conditions`` select.

    Filters by status, category, stock (in stock, low, out) read the
    trigger-maintained ``product_count`` table (migrations 0003 and 0007: per
    category, status and stock band): a sum over a few rows, exact and
    transactional. Price filters count the products themselves, from the
    ``product_status_price`` index alone.
    """
    tab = validate_tab(f.tab)
    if f.min_price is not None or f.max_price is not None or f.attributes:
        return f"(SELECT count(*) FROM product p WHERE {conditions})"
    where = []
    if not f.staff:
        where.append("pc.status = 'published'")
    if tab in ("published", "draft", "archived"):
        where.append("pc.status = %(tab)s")
    elif tab == "low_stock":
        where.append("pc.band = 1")
    elif tab == "out_of_stock":
        where.append("pc.band = 0")
    if f.in_stock is True:
        where.append("pc.band > 0")
    elif f.in_stock is False:
        where.append("pc.band = 0")
    if f.category_id is not None:
        where.append(_subtree_sql("pc.category_id"))
    return f"(SELECT coalesce(sum(pc.n), 0) FROM product_count pc WHERE {' AND '.join(where) or 'TRUE'})"


def reverse_order(order_sql: str) -> str:
    """The same ORDER BY, backwards."""
    return re.sub(r"\b(ASC|DESC)\b", lambda m: "DESC" if m.group(1) == "ASC" else "ASC", order_sql)


def list_page_sql(columns: str, f: ProductFilters, conditions: str, order_sql: str) -> str:
    """One page of a product list (no search) with its total, in one statement.

    The page's ids come first, from the ordering's index alone (the indexes
    of migration 0007 include the filtered columns), and only those rows are
    read in full. A page in the back half of the list is read from the end,
    backwards, so that even the last page skips at most half the list's index
    entries; the total (``count_sql``, cheap) decides which way. Parameters:
    ``limit``, ``offset`` and those of ``conditions``.
    """
    total = count_sql(f, conditions)
    reverse = reverse_order(order_sql)
    return (
        f"WITH total AS MATERIALIZED (SELECT {total} AS n), "
        f"ids AS ((SELECT p.id FROM product p WHERE {conditions} AND %(offset)s * 2 <= (SELECT n FROM total) "
        f"ORDER BY {order_sql} LIMIT %(limit)s OFFSET %(offset)s) "
        f"UNION ALL (SELECT p.id FROM product p WHERE {conditions} AND %(offset)s * 2 > (SELECT n FROM total) "
        f"ORDER BY {reverse} LIMIT greatest(least(%(limit)s, (SELECT n FROM total) - %(offset)s), 0) "
        "OFFSET greatest((SELECT n FROM total) - %(offset)s - %(limit)s, 0))) "
        # An array of the ids: the planner then expects a few rows and fetches them by primary key.
        f"SELECT {columns}, (SELECT n FROM total) FROM unnest(ARRAY(SELECT id FROM ids)) AS ids(id) "
        "JOIN product p ON p.id = ids.id "
        f"LEFT JOIN category c ON c.id = p.category_id ORDER BY {order_sql}")


def known_total_page_sql(columns: str, conditions: str, order_sql: str, total: int, offset: int, limit: int) -> str:
    """``list_page_sql`` when the total is known already (counted by the index):
    only the branch the page needs (from the front, or from the end for the back
    half), the total a constant. Integers only are formatted in."""
    total, offset, limit = int(total), int(offset), int(limit)
    if offset * 2 <= total:
        ids = f"SELECT p.id FROM product p WHERE {conditions} ORDER BY {order_sql} LIMIT {limit} OFFSET {offset}"
    else:
        ids = (f"SELECT p.id FROM product p WHERE {conditions} ORDER BY {reverse_order(order_sql)} "
               f"LIMIT {max(min(limit, total - offset), 0)} OFFSET {max(total - offset - limit, 0)}")
    return (f"SELECT {columns}, {total}::bigint FROM unnest(ARRAY({ids})) AS ids(id) "
            f"JOIN product p ON p.id = ids.id LEFT JOIN category c ON c.id = p.category_id ORDER BY {order_sql}")


# --- serialisers -----------------------------------------------------------------

def product_item(row: Sequence[Any], liked: set[int]) -> dict[str, Any]:
    """A row of ``_ITEM_COLUMNS`` as the spec's product list item.

    ``product_details`` is an ``orjson.Fragment`` (JSON text written into the
    response as is); ``orjson.loads(item["product_details"].contents)`` reads it.
    """
    (pid, name, slug, description, price, category_id, category_name, images, main_image, stock, featured,
     physical, sku, status, rating, num_ratings, details, created_at, updated_at, policy) = row[:20]
    return {
        "id": pid,
        "name": name,
        "slug": slug,
        "description": description,
        "price": price,
        "category": category_id,
        "category_name": category_name,
        "images": images,
        "main_image": main_image or (images[0] if images else None),
        "stock_quantity": stock,
        "is_featured": featured,
        "is_physical_product": physical,
        "sku": sku,
        "status": status,
        "rating": rating,
        "num_ratings": num_ratings,
        "is_liked": pid in liked,
        "product_details": orjson.Fragment(details) if details is not None else [],
        "created_at": created_at,
        "updated_at": updated_at,
        "stock_policy": policy,  # the product's own (a variation may override it: the product page shows each)
    }


async def product_items(product_ids: Sequence[int], user: Any = None) -> list[dict[str, Any]]:
    """List-item payloads for ``product_ids`` in that order (one query, any number of ids).

    For other lists that show product cards (wishlist, cart, recently viewed).
    """
    if not product_ids:
        return []
    rows = await fetch_all(f"SELECT {_ITEM_COLUMNS} {_FROM} WHERE p.id = ANY(%s)", [list(product_ids)])
    liked = await liked_product_ids(user, product_ids)
    by_id = {r[0]: product_item(r, liked) for r in rows}
    return [by_id[i] for i in product_ids if i in by_id]


# --- the product list and search -------------------------------------------------

def _page_from_window(rows: list[tuple], page: int) -> int:
    """The total carried by a page's rows (last column); 404 past the end.

    A page past the end has no rows to carry it, and needs none: an empty page
    after the first is always out of range.
    """
    if rows:
        return rows[0][-1]
    if page > 1:
        raise NotFound("Invalid page.")
    return 0


async def product_page(f: ProductFilters, page: int, size: int, user: Any = None) -> tuple[int, list[dict]]:
    """(count, items) of one page of the product list in one query: the page
    (category name and image URLs included) carrying the total. A search adds
    one query (``search.parse``: the words and their typo'd forms), and its total is a window count over the
    ranked matches.

    The process's search index (models/catalog/engine.py) answers, when it
    can, a search in relevance order (``indexed_page``) and any list filtered
    by attributes or searched in another order (``ordered_page``, the
    orderings but ``name``): the matches are bitmaps, the page is ordered in
    memory and one statement reads its rows by id. The SQL below is their
    twin (``SEARCH_INDEX=0``; tests compare every page).

    Raises ValidationFailed for an unknown ordering or tab, NotFound for a
    page past the end.
    """
    validate_tab(f.tab)
    order_parts = validate_ordering(f.ordering)
    text = clean_search(f.search)
    ordering = order_parts[0] if len(order_parts) == 1 else DEFAULT_ORDERING if not order_parts else None
    offset = (page - 1) * size
    relevance = bool(text) and not order_parts
    # Filtered by attributes, or a search in another order than relevance: the index orders it.
    by_index = engine.engine.enabled and (relevance or (ordering is not None and bool(
        f.attributes or f.attribute_query or (text and order_parts))))
    if by_index:
        def read(g: ProductFilters) -> Any:
            if relevance:
                return indexed_page(text, g, offset, size, _ITEM_COLUMNS)
            return ordered_page(text, g, ordering, offset, size, _ITEM_COLUMNS)

        f, found = await _from_index(f, read)
        if found is not None:
            total, rows = found
            liked = await liked_product_ids(user, [r[0] for r in rows])
            return total, [product_item(r, liked) for r in rows]
    else:
        f, _version = await _resolved(f, kept=False)
    params: dict[str, Any] = {"limit": size, "offset": offset}
    conditions = product_conditions(f, params)
    query = await search.parse(text) if text else None
    if query:
        if order_parts:
            hits = search.hits_sql(query, conditions, params)
            order_sql = order_by(order_parts)
            ranked = (f"SELECT p.id, count(*) OVER () AS total FROM hits h JOIN product p ON p.id = h.id "
                      f"ORDER BY {order_sql} LIMIT %(limit)s OFFSET %(offset)s")
            ctes = f"{hits}, pg AS ({ranked})"
        else:  # most relevant first
            order_sql = _PAGE_RANK_ORDER
            ctes = search.page_sql(query, conditions, params, _walk(f, page, size, query))
        rows = await fetch_prepared(
            f"WITH {ctes} SELECT {_ITEM_COLUMNS}, pg.total FROM pg JOIN product p ON p.id = pg.id "
            f"LEFT JOIN category c ON c.id = p.category_id ORDER BY {order_sql}", params)
        total = _page_from_window(rows, page)
    else:
        # The count rides along: the page costs one round trip.
        order_sql = order_by(order_parts or [DEFAULT_ORDERING])
        counted = await _attribute_matches(f) if f.attributes else None
        if counted is not None:
            # The index counted them: the page alone, a few matches named by id (not a
            # prepared statement: the planner sees how many the filters let through).
            n, ids = counted
            params = {}
            if ids is not None:  # the index applied every filter: these ids are the list
                conditions, params["attr_ids"] = "p.id = ANY(%(attr_ids)s::int[])", ids
            else:
                conditions = product_conditions(f, params)
            rows = await fetch_all(known_total_page_sql(_ITEM_COLUMNS, conditions, order_sql, n, (page - 1) * size,
                                                        size), params)
        else:
            rows = await fetch_prepared(list_page_sql(_ITEM_COLUMNS, f, conditions, order_sql), params)
        total = _page_from_window(rows, page)
    liked = await liked_product_ids(user, [r[0] for r in rows])
    return total, [product_item(r, liked) for r in rows]


# --- search from the process's index (models/catalog/engine.py) -----------------------------

# The page's rows by id, in the index's order, with the search version they
# must agree with and the catalog version (attribute definitions kept by the
# process are checked against it): one statement (one row of NULLs when there are no ids).
_INDEXED_SQL = """SELECT v.version, v.epoch, v.pruned_to, (SELECT version FROM catalog_version), x.*
FROM (SELECT 1) one LEFT JOIN search_version v ON TRUE
LEFT JOIN LATERAL (SELECT {columns}, ids.n FROM unnest(%(ids)s::int[]) WITH ORDINALITY AS ids(id, n)
  JOIN product p ON p.id = ids.id LEFT JOIN category c ON c.id = p.category_id) x ON TRUE
ORDER BY x.n"""


def _engine_filter(index: engine.Index, f: ProductFilters,
                   statuses: Sequence[str] | None = None) -> tuple[Any, tuple[int | None, int | None]]:
    """``product_conditions`` as index bitmaps: (allowed products, price range in cents)."""
    if statuses is None:
        statuses = list(engine.ALL_STATUSES) if f.staff else ["published"]
    bands: set[int] | None = None
    tab = validate_tab(f.tab)
    if tab in ("published", "draft", "archived"):
        statuses = [s for s in statuses if s == tab]
    elif tab == "low_stock":
        bands = {1}
    elif tab == "out_of_stock":
        bands = {0}
    if f.in_stock is not None:
        wanted = {1, 2} if f.in_stock else {0}
        bands = wanted if bands is None else bands & wanted
    category = None
    if f.category_id is not None:
        category = f.category_id if 0 < f.category_id <= MAX_ID else 0
    low = math.ceil(f.min_price * 100) if f.min_price is not None else None
    high = math.floor(f.max_price * 100) if f.max_price is not None else None
    allowed = index.allowed(statuses, category, bands)
    for a in f.attributes:  # typed attribute filters: bitmaps of the index too
        allowed &= index.attribute_set(a)
    return allowed, (low, high)


async def indexed_page(text: str, f: ProductFilters, offset: int, limit: int, columns: str,
                       statuses: Sequence[str] | None = None) -> tuple[int, list[tuple], int] | None:
    """(total, rows of ``columns``, catalog version) of a most-relevant-first search page from
    the process's index: ONE statement when the index is current (the page's
    rows and the version), a catch-up and another when it is not. ``statuses``
    replaces the published-only rule. NotFound past the last page. None when the index cannot answer
    (disabled, not loadable, nothing to search for): then the SQL path does."""
    if await engine.engine.ready() is None:
        return None
    words = search.plain_words(text)
    if words is None:
        words = await search.pg_words(text)
    if not words:
        return None

    def pick(index: engine.Index) -> tuple[int, list[int]]:
        allowed, price = _engine_filter(index, f, statuses)
        return index.rank(search.query_from_index(text, words, index), allowed, offset, limit, price)

    return await _read_indexed(columns, offset, pick)


async def ordered_page(text: str | None, f: ProductFilters, ordering: str, offset: int, limit: int,
                       columns: str) -> tuple[int, list[tuple], int] | None:
    """(total, rows of ``columns``, catalog version) of a list page in ``ordering`` (one of
    ``ORDERINGS``; the search ``text`` only selects) from the process's index:
    the filters and the search as bitmaps, the page a partial sort of the
    matches' ranks (engine.Orderings), then ONE statement reading the page's
    rows by id with the search version they must agree with (a catch-up and
    another when the index was behind); a search whose words PostgreSQL must
    split costs one query more (``search.pg_words``). The rows are the ones
    the SQL path gives. NotFound past the last page. None when the index
    cannot answer (disabled, not loadable, an ordering it does not keep):
    then the SQL path does."""
    words = None
    if text:
        words = search.plain_words(text)
        if words is None:
            words = await search.pg_words(text)
        if not words:
            return None

    def pick(index: engine.Index) -> tuple[int, list[int]] | None:
        query = search.query_from_index(text, words, index) if words else None
        allowed, price = _engine_filter(index, f)
        matches = index.matching(query, allowed, price)
        ids = index.orderings.page(matches, ordering, offset, limit)
        return None if ids is None else (len(matches), ids)

    return await _read_indexed(columns, offset, pick)


async def _read_indexed(columns: str, offset: int,
                        pick: Callable[[engine.Index], tuple[int, list[int]] | None]) -> tuple[int, list[tuple], int] | None:
    """The page ``pick`` chooses in the process's index ((total, ids); None when
    it cannot), its rows read by id in ONE statement with the search version
    they must agree with; when the index was behind, a catch-up and the page
    chosen again. (total, rows, catalog version); NotFound past the last page."""
    index = await engine.engine.ready()
    sql = _INDEXED_SQL.format(columns=columns)
    for _attempt in range(3):
        if index is None:
            return None
        picked = pick(index)
        if picked is None:
            return None
        total, ids = picked
        rows = await fetch_prepared(sql, {"ids": ids})
        version, epoch, pruned_to, cat_version = rows[0][:4]
        if version == index.version and epoch == index.epoch:
            page = [r[4:-1] for r in rows if r[4] is not None]
            if not page and offset > 0:
                raise NotFound("Invalid page.")  # past the end (as _page_from_window)
            return total, page, cat_version
        index = await engine.engine.catch_up(version, epoch, pruned_to)
    return None


def _walk(f: ProductFilters, page: int, size: int, query: search.SearchQuery) -> str | None:
    """For a relevance-ordered search page that may come from the popularity
    walk (``search.page_sql``), the count of the products its filters select;
    None otherwise. The walk serves a first page or so, filters most products
    meet (status, tab) and queries likely to match enough of the walked names; a category, price or
    stock filter ranks every match."""
    if (page * size <= search.WALK_MAX_END and f.category_id is None and f.min_price is None and not f.attributes
            and f.max_price is None and f.in_stock is None and validate_tab(f.tab) in ("published", "all")
            and query.in_names() * search.WALK_ROWS >= 4 * page * size):
        return count_sql(f, "")
    return None


def search_item(row: Sequence[Any]) -> dict[str, Any]:
    pid, name, slug, description, price, main_image, category_name = row[:7]
    return {"id": pid, "name": name, "slug": slug, "description": description, "price": price,
            "main_image": main_image, "category_name": category_name}


_PAGE_RANK_ORDER = search.RANK_ORDER.replace("h.", "pg.")
_SEARCH_COLUMNS = f"p.id, p.name, p.slug, p.description, p.price::text, {MAIN_IMAGE_SQL}, c.name"


class SearchCache:
    """Search result pages of this process, valid while the catalog version
    they were computed under is current (``catalog_version``, migration 0003:
    a new value at every commit that changes what a result shows). Search is
    the storefront's dearest read and shoppers repeat the same few queries.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, tuple[int, int, list[dict]]] = OrderedDict()

    def get(self, key: tuple, version: int | None) -> tuple[int, list[dict]] | None:
        entry = self.entries.get(key)
        if version is None or entry is None or entry[0] != version:
            return None
        self.entries.move_to_end(key)
        return entry[1], entry[2]

    def put(self, key: tuple, version: int | None, total: int, items: list[dict]) -> None:
        if version is None or self.max_entries <= 0:
            return
        self.entries[key] = (version, total, items)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


search_cache = SearchCache()


async def catalog_version() -> int | None:
    """The catalog's current version (None while the table is empty, e.g. just
    after a TRUNCATE: then nothing is cached)."""
    rows = await fetch_prepared("SELECT version FROM catalog_version", {})
    return rows[0][0] if rows else None


async def search_page(text: str | None, category_id: int | None, page: int, size: int,
                      staff: bool = False, attribute_query: tuple = ()) -> tuple[int, list[dict]]:
    """(count, items) of ``/products/search/``, most relevant first. Without a
    query: the newest products.

    Three queries at most: the catalog version, then, unless this page is in
    ``search_cache`` under that version, the query's words (``search.parse``)
    and the page itself (ranking reads every match anyway, so the total rides
    along as a window count). A result is stored under the version read
    first: a commit in between changes the version, so it cannot be served
    stale.

    Raises NotFound for a page past the end.
    """
    text = clean_search(text)
    f = ProductFilters(category_id=category_id, staff=staff, attribute_query=attribute_query)
    if text and engine.engine.enabled:
        f, found = await _from_index(f, lambda g: indexed_page(text, g, (page - 1) * size, size, _SEARCH_COLUMNS))
        if found is not None:
            total, rows = found
            return total, [search_item(r) for r in rows]
    else:
        f, _version = await _resolved(f, kept=False)
    attribute_filters = f.attributes
    key = (text, category_id, page, size, staff, tuple(a.key() for a in attribute_filters))
    version = await catalog_version()
    cached = search_cache.get(key, version)
    if cached is not None:
        return cached
    params: dict[str, Any] = {"limit": size, "offset": (page - 1) * size}
    conditions = product_conditions(f, params)
    query = await search.parse(text) if text else None
    if query:
        ctes = search.page_sql(query, conditions, params, _walk(f, page, size, query))
        sql = (f"WITH {ctes} SELECT {_SEARCH_COLUMNS}, pg.total FROM pg JOIN product p ON p.id = pg.id "
               f"LEFT JOIN category c ON c.id = p.category_id ORDER BY {_PAGE_RANK_ORDER}")
    else:
        sql = list_page_sql(_SEARCH_COLUMNS, f, conditions, order_by([DEFAULT_ORDERING]))
    rows = await fetch_prepared(sql, params)
    total, items = _page_from_window(rows, page), [search_item(r) for r in rows]
    search_cache.put(key, version, total, items)
    return total, items


# Past this many products, an attribute-filtered page walks the ordering's index with
# the filters (dense: the page comes soon); up to it, the page is read by id.
ID_LIST_MAX = 5000
_VERSIONS_SQL = ("SELECT (SELECT version FROM catalog_version), v.version, v.epoch, v.pruned_to "
                 "FROM (SELECT 1) one LEFT JOIN search_version v ON TRUE")


async def _current_index() -> tuple[Any, int | None]:
    """(the process's search index brought up to the committed search version
    or None when it cannot answer, the catalog version): one query, and a
    catch-up when the index is behind."""
    if not engine.engine.enabled:
        return None, await catalog_version()
    index = await engine.engine.ready()
    rows = await fetch_prepared(_VERSIONS_SQL, {})
    cat_version, version, epoch, pruned_to = rows[0]
    if index is None or version is None:
        return None, cat_version
    if version != index.version or epoch != index.epoch:
        index = await engine.engine.catch_up(version, epoch, pruned_to)
    return index, cat_version


def _index_base(index: Any, f: ProductFilters, query: Any) -> Any:
    """The products of ``f`` before its attribute filters, as an index bitmap."""
    allowed, price = _engine_filter(index, replace(f, attributes=[]))
    return index.matching(query, allowed, price)


async def _attribute_matches(f: ProductFilters) -> tuple[int, list[int] | None] | None:
    """(how many products the (unsearched) list ``f`` has, their ids when at
    most ``ID_LIST_MAX``) from the index; None when it cannot answer."""
    index, _version = await _current_index()
    if index is None:
        return None
    allowed, price = _engine_filter(index, f)  # attribute filters included
    matches = index.matching(None, allowed, price)
    n = len(matches)
    return n, ([engine.key_id(k) for k in matches] if n <= ID_LIST_MAX else None)


async def _from_index(f: ProductFilters, read: Callable[[ProductFilters], Any]
                      ) -> tuple[ProductFilters, tuple[int, list[tuple]] | None]:
    """``read`` (``indexed_page`` or ``ordered_page`` bound to a page) with
    ``f``'s attr_ filters resolved by the definitions the process kept; when
    the catalog version the page's statement read is not theirs, read them
    again and the page once more. (``f`` resolved, (total, rows) or None when
    the index cannot answer: ``f`` then resolved with definitions read now, for SQL.)"""
    resolved, defs_version = await _resolved(f, kept=True)
    found = await read(resolved)
    if found is not None and defs_version is not None and found[2] != defs_version:
        resolved, defs_version = await _resolved(f, kept=False)
        found = await read(resolved)
    if found is None:
        if defs_version is not None:
            resolved, _version = await _resolved(f, kept=False)
        return resolved, None
    return resolved, found[:2]


async def _resolved(f: ProductFilters, kept: bool) -> tuple[ProductFilters, int | None]:
    """``f`` with its ``attribute_query`` resolved into ``attributes`` (400 for
    unknown attributes or values), and the catalog version of the definitions
    used (None without such filters). ``kept``: the process's definitions as
    last read, no query (the caller checks their version against the one its
    page's statement reads); a filter they do not know (an attribute created
    since) reads them again before it is a 400. Otherwise read now (one query)."""
    if not f.attribute_query:
        return f, None
    arguments = dict(f.attribute_query)
    defs = attributes.definitions.kept() if kept else None
    if defs is not None:
        try:
            return (replace(f, attributes=f.attributes + attributes.parse_filters(arguments, defs)),
                    attributes.definitions.version)
        except ValidationFailed:
            pass
    defs = await attributes.definitions.load()
    return replace(f, attributes=f.attributes + attributes.parse_filters(arguments, defs)), attributes.definitions.version


async def product_facets(f: ProductFilters, arguments: dict[str, str] | None = None) -> dict[str, Any]:
    """Facet counts for the product list or search ``f`` (models/catalog/attributes.py):
    per choice value, per number attribute its count and min/max, and the total.
    ``arguments``: the query string, whose attr_ filters are added to ``f``'s (400 when unknown).

    The catalog and search versions (one query), then the definitions when
    they changed since (one query), then unless the answer is cached under
    the catalog version: bitmap intersections in the process's search index
    (models/catalog/engine.py, brought up to the committed version first: never
    stale), or with ``SEARCH_INDEX=0`` ONE statement of counts (and the words of a search).
    """
    text = clean_search(f.search)
    index, version = await _current_index()
    defs = await attributes.definitions.get(version)
    if arguments and attributes.wanted(arguments):
        f = replace(f, attributes=f.attributes + attributes.parse_filters(arguments, defs))
    key = (text, f.category_id, f.min_price, f.max_price, f.in_stock, f.tab, f.staff,
           tuple(a.key() for a in f.attributes))
    cached = attributes.facet_cache.get(key, version)
    if cached is not None:
        return cached
    rows = await _facet_rows_from_index(index, f, text, defs) if index is not None else None
    if rows is None:
        rows = await _facet_rows_from_sql(f, text)
    answer = attributes.facets_payload(rows, defs, f.attributes)
    attributes.facet_cache.put(key, version, answer)
    return answer


async def _facet_rows_from_index(index: Any, f: ProductFilters, text: str | None,
                                 defs: dict[str, attributes.AttributeDef]) -> list[tuple] | None:
    """The facet rows (as ``attributes.facets_sql`` gives them) from the process's index: bitmap
    intersections, no query (but the search words of a search that needs them)."""
    query = None
    if text:
        words = search.plain_words(text)
        if words is None:
            words = await search.pg_words(text)
        query = search.query_from_index(text, words, index) if words else None
    base = _index_base(index, f, query)
    choice = {a.id: [i for i, _v in a.values.values()] for a in defs.values() if a.kind == "choice"}
    numbers = [a.id for a in defs.values() if a.kind == "number"]
    by_value, by_number, total = index.facet_counts(base, f.attributes, choice, numbers)
    rows: list[tuple] = [("v", None, value_id, n, None, None) for value_id, n in by_value.items()]
    rows += [("n", attribute_id, None, n, None if low is None else Decimal(low) / 100,
              None if high is None else Decimal(high) / 100) for attribute_id, (n, low, high) in by_number.items()]
    rows.append(("t", None, None, total, None, None))
    return rows


async def _facet_rows_from_sql(f: ProductFilters, text: str | None) -> list[tuple]:
    """The facet rows in one statement (``SEARCH_INDEX=0``): the twin of ``_facet_rows_from_index``."""
    params: dict[str, Any] = {}
    plain = replace(f, attributes=[])
    conditions = product_conditions(plain, params)
    query = await search.parse(text) if text else None
    if query:  # (nothing searchable, e.g. stop words only: every product, as the list does)
        base = f"{search.hits_sql(query, conditions, params)}, base AS (SELECT id FROM hits)"
    else:
        base = f"base AS (SELECT p.id FROM product p WHERE {conditions})"
    return await fetch_all(attributes.facets_sql(base, f.attributes, params), params)


# --- one product -------------------------------------------------------------------

_VARIATIONS_SQL = f"""(SELECT COALESCE(json_agg(json_build_object(
        'id', v.id, 'variation_type', v.variation_type, 'variation', v.variation,
        'price_adjustment', v.price_adjustment::text, 'stock_quantity', v.stock_quantity, 'sku', v.sku,
        'is_default', v.is_default,
        'stock_policy', {terms_sql("policy")}, '_terms', json_build_array({terms_sql("backorder_limit")},
            {terms_sql("restock_date")}, {terms_sql("lead_time_days")}, v.backordered),
        'sizes', (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
                  FROM variation_size vs JOIN size s ON s.id = vs.size_id WHERE vs.variation_id = v.id),
        'colors', (SELECT COALESCE(json_agg(json_build_object('id', co.id, 'name', co.name,
                                                            'hex_code', co.hex_code) ORDER BY co.id), '[]')
                   FROM variation_color vc JOIN color co ON co.id = vc.color_id WHERE vc.variation_id = v.id)
    ) ORDER BY v.is_default DESC, v.id), '[]')
    FROM product_variation v WHERE v.product_id = p.id)"""

_DETAIL_SQL = f"""SELECT {_ITEM_COLUMNS}, p.base_price::text, p.discount_type, p.discount_value::text,
    ARRAY(SELECT t.tag_id FROM product_tag t WHERE t.product_id = p.id ORDER BY t.tag_id),
    {_VARIATIONS_SQL}, {attributes.PRODUCT_ATTRIBUTES_SQL},
    p.backorder_limit, p.restock_date, p.lead_time_days, p.backordered
    {_FROM} WHERE p.id = %(id)s AND (p.status = 'published' OR %(staff)s)"""


_DETAIL_BY_SLUG_SQL = _DETAIL_SQL.replace("WHERE p.id = %(id)s", "WHERE p.slug = %(slug)s")


def _variation(v: dict[str, Any], base_price: str, selling_price: Any, today: dt.date) -> dict[str, Any]:
    v["final_price"] = money_number(variation_price(base_price, v["price_adjustment"]))  # a number in the spec
    # What the customer pays for it (the discount applied), as in the cart and orders.
    v["price"] = f"{line_unit_price(selling_price, v['price_adjustment']):.2f}"
    # Its effective stock policy (stock_terms: its own terms, else the product's) and when one unit
    # bought today would ship.
    limit, restock, lead, backordered = v.pop("_terms")
    terms = StockTerms(v["stock_policy"], limit, dt.date.fromisoformat(restock) if restock else None, lead)
    v["expected_ship_date"] = iso_date(ship_date_for(terms, v["stock_quantity"], backordered, 1, today))
    return v


async def product_detail(product_id: int, user: Any = None) -> dict[str, Any]:
    """The product page: list fields plus variations, tags and pricing (one query).

    Raises NotFound("Product not found") for a missing product, or one not
    published when ``user`` is not staff.
    """
    if not 0 < product_id <= MAX_ID:  # the prepared statement's parameter is an integer
        raise NotFound("Product not found")
    rows = await fetch_prepared(_DETAIL_SQL, {"id": product_id, "staff": is_staff(user)})
    return await _detail(rows, user)


async def product_detail_by_slug(slug: str, user: Any = None) -> dict[str, Any]:
    """The product page by the product's slug (stable: made at create, kept on rename). One query."""
    if not slug or len(slug) > 280:
        raise NotFound("Product not found")
    rows = await fetch_prepared(_DETAIL_BY_SLUG_SQL, {"slug": slug, "staff": is_staff(user)})
    return await _detail(rows, user)


async def _detail(rows: list[tuple], user: Any) -> dict[str, Any]:
    if not rows:
        raise NotFound("Product not found")
    row = rows[0]
    product_id = row[0]
    item = product_item(row, await liked_product_ids(user, [product_id]))
    base_price, discount_type, discount_value, tags, variations, attrs = row[20:26]
    limit, restock, lead, backordered = row[26:30]
    policy = item["stock_policy"]
    today = utcnow().date()
    selling = item["price"] if item["price"] is not None else base_price
    item.update({
        "base_price": base_price,
        "discount_type": discount_type,
        "discount_percentage": discount_value,
        "tags": tags,
        "variations": [_variation(v, base_price, selling, today) for v in variations],
        "attributes": attributes.product_attributes(attrs),
        # The product's own stock policy and when one unit bought today would ship (null: it cannot
        # be sold now); each variation has its own (it may override the product's terms).
        "expected_ship_date": iso_date(ship_date_for(StockTerms(policy, limit, restock, lead), item["stock_quantity"],
                                                     backordered, 1, today)),
    })
    return item


async def load_visible_product(product_id: int, user: Any = None) -> tuple:
    """(id, category_id, status) of a product the user may see; NotFound otherwise."""
    rows = await fetch_all("SELECT id, category_id, status FROM product WHERE id = %s "
                           "AND (status = 'published' OR %s)", [product_id, is_staff(user)])
    if not rows:
        raise NotFound("Product not found")
    return rows[0]


# --- categories and views ------------------------------------------------------------

async def list_categories() -> list[dict[str, Any]]:
    """Every category, parents before children in creation order (one query)."""
    rows = await fetch_prepared("SELECT id, name, slug, parent_id FROM category ORDER BY id", {})
    return [{"id": r[0], "name": r[1], "slug": r[2], "parent": r[3]} for r in rows]


async def category_by_slug(slug: str) -> dict[str, Any]:
    """One category by its slug (as in the category list). NotFound otherwise."""
    row = await fetch_all("SELECT id, name, slug, parent_id FROM category WHERE slug = %s", [slug[:200]])
    if not row:
        raise NotFound("Category not found")
    return {"id": row[0][0], "name": row[0][1], "slug": row[0][2], "parent": row[0][3]}


async def record_view(product_id: int, user: Any) -> None:
    """Count one view of a product the user may see (one query); NotFound otherwise."""
    rows = await fetch_all(
        "INSERT INTO product_view (product_id, user_id, viewed_at) "
        "SELECT p.id, %s, now() at time zone 'utc' FROM product p "
        "WHERE p.id = %s AND (p.status = 'published' OR %s) RETURNING id",
        [user.id if user is not None else None, product_id, is_staff(user)])
    if not rows:
        raise NotFound("Product not found")
