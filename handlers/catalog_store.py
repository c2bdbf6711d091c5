"""Storefront catalog endpoints (methods composed into handlers/products.py):
the product list, detail, categories, search, views, recommendations and
reviews. Each method parses, calls one function of ``models.catalog`` and
replies; the payloads are built there as plain dicts (no pydantic on the way
out: these are the shop's busiest requests)."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from handlers.core.fields import (
    Doc,
    In,
    MoneyText,
    OptionalText,
    Out,
    PageParam,
    PageSizeParam,
    PkList,
    Query,
    QueryFlag,
    RequiredPk,
    ascii_digits,
    choices_doc,
    list_pattern,
)
from handlers.core.openapi import api
from models.catalog import attributes, queries, recommend, reviews
from models.catalog.tables import STATUS_SYNONYMS


def _blank_to_none(value: object) -> object:
    # Storefront forms send empty parameters (``?category=&in_stock=``): no filter.
    return None if isinstance(value, str) and not value.strip() else value


def _rating(value: object) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and ascii_digits(value))):
        raise ValueError("A valid integer is required.")
    if not 1 <= int(value) <= 5:
        raise ValueError("Ensure this value is between 1 and 5.")
    return int(value)


Opt = BeforeValidator(_blank_to_none)


def _filter_id(value: object) -> int | None:
    # A filter on an id no row has (however large) matches nothing: no error.
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"Incorrect type. Expected pk value, received {type(value).__name__}.")


def _price_filter(value: object) -> Decimal | None:
    # A price bound to filter on: any decimal number, rounded half-up to the cent.
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and not _PRICE_TEXT.fullmatch(value.strip()):
        raise ValueError("A valid number is required.")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, TypeError):
        raise ValueError("A valid number is required.") from None
    if not number.is_finite():
        raise ValueError("A valid number is required.")
    if number < 0:
        raise ValueError("Ensure this value is greater than or equal to 0.")
    if number > MAX_PRICE:
        raise ValueError(f"Ensure this value is less than or equal to {MAX_PRICE}.")
    return number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


_PRICE_TEXT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")  # ASCII digits only
MAX_PRICE = Decimal("9999999999.99")
PriceFilter = Annotated[Decimal | None, BeforeValidator(_price_filter),
                        Doc({"anyOf": [{"type": "number", "minimum": 0, "maximum": float(MAX_PRICE)},
                                       {"type": "string", "maxLength": 0}]})]

FilterId = Annotated[int | None, BeforeValidator(_filter_id),
                     Doc({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 0}]})]


# --- query and body schemas ---------------------------------------------------

class ProductListQuery(Query):
    search: Annotated[str | None, Opt] = Field(default=None, description="Full-text and typo-tolerant search")
    q: Annotated[str | None, Opt] = Field(default=None, description="Same as search")
    category: FilterId = Field(default=None, description="Category id (its subcategories too)")
    min_price: PriceFilter = Field(default=None, description="Minimum effective (discounted) price")
    max_price: PriceFilter = Field(default=None, description="Maximum effective (discounted) price")
    in_stock: Annotated[QueryFlag, Opt] = Field(default=None, description="true/false")
    ordering: Annotated[str | None, Opt, Doc({"type": "string", "pattern": list_pattern(list(queries.ORDERINGS))})] = \
        Field(default=None, description="Comma-separated: " + ", ".join(queries.ORDERINGS))
    tab: Annotated[str | None, Opt, choices_doc(queries.TABS + tuple(STATUS_SYNONYMS))] = Field(
        default=None, description="Staff only beyond ``all``/``published``: low_stock, out_of_stock, draft, archived")
    page: PageParam = None
    page_size: PageSizeParam = Field(default=None, description="Items per page (default 12, max 100)")


class FacetQuery(Query):
    search: Annotated[str | None, Opt] = Field(default=None, description="Full-text and typo-tolerant search")
    q: Annotated[str | None, Opt] = Field(default=None, description="Same as search")
    category: FilterId = Field(default=None, description="Category id (its subcategories too)")
    min_price: PriceFilter = Field(default=None, description="Minimum effective (discounted) price")
    max_price: PriceFilter = Field(default=None, description="Maximum effective (discounted) price")
    in_stock: Annotated[QueryFlag, Opt] = Field(default=None, description="true/false")
    tab: Annotated[str | None, Opt, choices_doc(queries.TABS + tuple(STATUS_SYNONYMS))] = Field(
        default=None, description="Staff only beyond ``all``/``published``")


class SearchQuery(Query):
    q: Annotated[str | None, Opt] = Field(default=None, description="Search query")
    search: Annotated[str | None, Opt] = Field(default=None, description="Same as q")
    category: FilterId = Field(default=None, description="Category id (its subcategories too)")
    page: PageParam = None
    page_size: PageSizeParam = Field(default=None, description="Items per page (default 12, max 100)")


class RecordViewIn(In):
    product_id: RequiredPk


class ReviewIn(In):
    rating: Annotated[int, BeforeValidator(_rating), Doc({"anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 5}, {"type": "string", "enum": ["1", "2", "3", "4", "5"]}]})]
    content: OptionalText = Field(default="", max_length=5000)
    tag_ids: PkList = Field(default_factory=list, max_length=20)


# --- response schemas (documentation) ------------------------------------------

StockPolicyName = Literal["deny", "backorder", "made_to_order"]  # models/catalog/stock_policy.py STOCK_POLICIES

class ProductItemOut(Out):
    id: int
    name: str
    slug: str
    description: str
    price: MoneyText
    category: int | None
    category_name: str | None
    images: list[str]
    main_image: str | None
    stock_quantity: int
    is_featured: bool
    is_physical_product: bool
    sku: str
    status: str
    rating: str
    num_ratings: int
    is_liked: bool
    product_details: list[str]
    created_at: str
    updated_at: str
    stock_policy: StockPolicyName = Field(description=(
        "The product's stock policy: deny (only what is in stock), backorder (beyond the stock up to a limit, "
        "shipped on the restock date) or made_to_order (shipped after a lead time); a variation may have its own"))


class ProductPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[ProductItemOut]


class SizeOut(Out):
    id: int
    name: str


class ColorOut(Out):
    id: int
    name: str
    hex_code: str


class VariationFieldsOut(Out):
    """What the storefront and staff both see of a variation."""

    id: int
    variation_type: str
    variation: str
    price_adjustment: MoneyText
    stock_quantity: int
    sku: str | None
    is_default: bool
    final_price: float = Field(description="Base price + adjustment (before the product's discount)")
    price: str = Field(description="What the customer pays: the product's selling price + adjustment")
    sizes: list[SizeOut]
    colors: list[ColorOut]


SHIP_DATE_DOC = ("When one unit bought today would ship (YYYY-MM-DD): today from the shelf, else the restock date "
                 "(backorder) or today plus the lead time (made_to_order); null when it cannot be sold now "
                 "(or a backorder has no restock date)")


class VariationOut(VariationFieldsOut):
    stock_policy: StockPolicyName = Field(description="The stock policy in force for this variation: its own "
                                                      "when staff set one, else the product's")
    expected_ship_date: str | None = Field(description=SHIP_DATE_DOC)


class ProductDetailOut(ProductItemOut):
    base_price: MoneyText
    discount_type: str | None
    discount_percentage: MoneyText | None
    tags: list[int]
    variations: list[VariationOut]
    attributes: list[ProductAttributeOut] = Field(description="Its typed attributes (material, width, ...)")
    expected_ship_date: str | None = Field(description=SHIP_DATE_DOC + " (the product itself; with variations, "
                                                                        "see each variation's)")


class CategoryOut(Out):
    id: int
    name: str
    slug: str
    parent: int | None


class SearchItemOut(Out):
    id: int
    name: str
    slug: str
    description: str
    price: MoneyText
    main_image: str | None
    category_name: str | None


class SearchPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[SearchItemOut]


class SuccessOut(Out):
    success: bool


class RecommendationOut(Out):
    id: int
    name: str
    price: MoneyText
    main_image: str | None
    slug: str
    rating: str
    stock_quantity: int


class ReviewTagCountOut(Out):
    id: int
    name: str
    slug: str
    count: int


class ReviewOut(Out):
    id: int
    product: int
    user_email: str
    rating: int
    content: str
    images: list[str]
    tags: list[ReviewTagCountOut]
    helpful_count: int
    is_helpful: bool
    variant: int | None
    is_verified_purchase: bool
    created_at: str


class HelpfulOut(Out):
    success: bool
    helpful_count: int


class AttributeValueRefOut(Out):
    slug: str
    value: str


class ProductAttributeOut(Out):
    slug: str
    name: str
    kind: str = Field(description="choice or number")
    unit: str
    values: list[AttributeValueRefOut] = Field(description="A choice attribute's values ([] for a number)")
    number: MoneyText | None = Field(description="A number attribute's value (None for a choice)")


class FacetValueOut(Out):
    slug: str
    value: str
    count: int = Field(description="Products of the current query with this value (this attribute's own "
                                   "filter left out)")
    selected: bool


class FacetOut(Out):
    slug: str
    name: str
    kind: str = Field(description="choice or number")
    unit: str
    param: str = Field(description="The query parameter that filters on it (number: add _min / _max)")
    values: list[FacetValueOut]
    min: MoneyText | None = Field(description="Number: the smallest value among the products (None for a choice)")
    max: MoneyText | None = Field(description="Number: the largest value")
    count: int = Field(description="Products of the current query that have this attribute")
    selected_min: MoneyText | None
    selected_max: MoneyText | None


class FacetsOut(Out):
    count: int = Field(description="Products of the current query (every filter applied)")
    attributes: list[FacetOut]


class ReviewTagOut(Out):
    id: int
    name: str
    slug: str


# --- products ------------------------------------------------------------------------

def _raw_arguments(self) -> dict[str, str]:
    return {k: v[-1].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}


@api(query=ProductListQuery, response=ProductPageOut,
     rejects={400: "an unknown attribute or attribute value in an attr_ filter"})
async def list_products(self):
    """Products, filtered, searched, ordered and paginated (shoppers see published ones only).

    ``count`` of a search is exact (searches are answered from each server process's index;
    only when it is turned off, ``SEARCH_INDEX=0``, is a count above 1,000 on the first pages of a
    relevance-ordered search an estimate). ``next`` links reach every match.

    Attribute filters (any number, ANDed across attributes): ``attr_<slug>=<value>,<value>`` for a
    choice attribute (products with any of the values, e.g. ``attr_material=oak,walnut``),
    ``attr_<slug>_min`` / ``attr_<slug>_max`` for a number attribute (bounds included, e.g.
    ``attr_width_min=50&attr_width_max=120``); the slugs are in ``GET /api/products/facets/``. An
    unknown attribute or value is a 400 naming the valid ones.
    """
    args = self.query(ProductListQuery)
    page, size = self.page_params()
    user = self.current_user
    filters = queries.ProductFilters(
        search=args.search or args.q, category_id=args.category, min_price=args.min_price,
        max_price=args.max_price, in_stock=args.in_stock, ordering=args.ordering, tab=args.tab,
        staff=queries.is_staff(user), attribute_query=attributes.query_of(_raw_arguments(self)))
    count, items = await queries.product_page(filters, page, size, user)
    self.reply(self.page_envelope(page, size, count, items))


@api(response=ProductDetailOut)
async def get_product(self, id: str):
    """One product with its variations, tags and pricing."""
    self.reply(await queries.product_detail(int(id), self.current_user))


@api(response=ProductDetailOut)
async def get_product_by_slug(self, slug: str):
    """One product by its slug (stable: made from the name at create, kept on rename); as ``/products/{id}/``."""
    self.reply(await queries.product_detail_by_slug(slug, self.current_user))


@api(response=CategoryOut)
async def get_category_by_slug(self, slug: str):
    """One category by its slug."""
    self.reply(await queries.category_by_slug(slug))


@api(response=list[CategoryOut])
async def list_categories(self):
    """All product categories (a flat list; ``parent`` links the tree)."""
    self.reply(await queries.list_categories())


@api(query=SearchQuery, response=SearchPageOut,
     rejects={400: "an unknown attribute or attribute value in an attr_ filter"})
async def search_products(self):
    """Search products by relevance, tolerating typos ("ergonmic chiar").

    ``count`` of a search is exact (searches are answered from each server process's index;
    only when it is turned off, ``SEARCH_INDEX=0``, is a count above 1,000 on the first pages of a
    relevance-ordered search an estimate). ``next`` links reach every match. The attr_ filters of
    ``GET /api/products/`` apply here too."""
    args = self.query(SearchQuery)
    page, size = self.page_params()
    count, items = await queries.search_page(args.q or args.search, args.category, page, size,
                                             queries.is_staff(self.current_user),
                                             attributes.query_of(_raw_arguments(self)))
    self.reply(self.page_envelope(page, size, count, items))


@api(query=FacetQuery, response=FacetsOut, rejects={400: "an unknown attribute or attribute value in an attr_ filter"})
async def product_facets(self):
    """Facet counts for a product list or search: the same filters as ``GET /api/products/``
    (``search``/``q``, ``category``, prices, ``in_stock``, and the attr_ filters). Per choice attribute
    the products per value, per number attribute the count and min/max; each attribute's own filter is
    left out of its counts. Cached per process until the catalog changes.

    Attribute filters (any number, ANDed across attributes): ``attr_<slug>=<value>,<value>`` for a
    choice attribute (products with any of the values, e.g. ``attr_material=oak,walnut``),
    ``attr_<slug>_min`` / ``attr_<slug>_max`` for a number attribute (bounds included, e.g.
    ``attr_width_min=50&attr_width_max=120``); the slugs are in ``GET /api/products/facets/``. An
    unknown attribute or value is a 400 naming the valid ones.
    """
    args = self.query(FacetQuery)
    user = self.current_user
    filters = queries.ProductFilters(
        search=args.search or args.q, category_id=args.category, min_price=args.min_price,
        max_price=args.max_price, in_stock=args.in_stock, tab=args.tab, staff=queries.is_staff(user))
    self.reply(await queries.product_facets(filters, _raw_arguments(self)))


@api(body=RecordViewIn, response=SuccessOut, status=201, errors={404: "No product has this id"})
async def record_view(self):
    """Record that the current user viewed a product."""
    data = self.parse(RecordViewIn)
    await queries.record_view(data.product_id, self.current_user)
    self.reply({"success": True}, 201)


@api(response=list[RecommendationOut])
async def recommendations(self, id: str):
    """Up to eight products to show beside this one."""
    self.reply(await recommend.recommendations(int(id), self.current_user))


@api(response=list[RecommendationOut], path={"rec_type": {"enum": list(recommend.REC_TYPES), "pattern": None}})
async def recommendations_by_type(self, id: str, rec_type: str):
    """Up to eight similar or complementary (bought together) products."""
    self.reply(await recommend.recommendations(int(id), self.current_user, rec_type))


# --- reviews ---------------------------------------------------------------------------

@api(response=list[ReviewOut])
async def list_reviews(self, id: str):
    """A product's reviews, newest first."""
    self.reply(await reviews.list_reviews(int(id), self.current_user))


@api(body=ReviewIn, response=ReviewOut, status=201,
     rejects={400: "a second review of the same product, or a review tag id that does not exist"})
async def create_review(self, id: str):
    """Review a product (once per user); updates the product's rating."""
    data = self.parse(ReviewIn)
    review = await reviews.create_review(self.current_user, int(id), data.rating,
                                         data.content, data.tag_ids)
    self.reply(review, 201)


@api(response=HelpfulOut, rejects={400: "the caller's own review (one cannot mark it helpful)"})
async def mark_helpful(self, id: str):
    """Mark a review helpful (one vote per user)."""
    count = await reviews.mark_helpful(self.current_user, int(id))
    self.reply({"success": True, "helpful_count": count})


@api(response=list[ReviewTagOut])
async def list_review_tags(self):
    """The tags a reviewer can attach to a review."""
    self.reply(await reviews.list_review_tags())
