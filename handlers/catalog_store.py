"""Storefront catalog endpoints (methods composed into handlers/products.py):
the product list, detail, categories, search, views, recommendations and
reviews. Each method parses, calls one function of ``models.catalog`` and
replies; the payloads are built there as plain dicts (no pydantic on the way
out: these are the shop's busiest requests)."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from handlers.base import api
from handlers.fields import In, OptionalMoney, OptionalText, Out, Pk, PkList
from models.catalog import queries, recommend, reviews


def _blank_to_none(value: object) -> object:
    # Storefront forms send empty parameters (``?category=&in_stock=``): no filter.
    return None if isinstance(value, str) and not value.strip() else value


def _required_pk(value: object) -> int:
    if value is None or value == "":
        raise ValueError("This field may not be null.")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError(f"Incorrect type. Expected pk value, received {type(value).__name__}.")
    return int(value)


def _rating(value: object) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError("A valid integer is required.")
    if not 1 <= int(value) <= 5:
        raise ValueError("Ensure this value is between 1 and 5.")
    return int(value)


Opt = BeforeValidator(_blank_to_none)
RequiredPk = Annotated[int, BeforeValidator(_required_pk)]


# --- query and body schemas ---------------------------------------------------

class ProductListQuery(In):
    search: Annotated[str | None, Opt] = Field(default=None, description="Full-text and typo-tolerant search")
    q: Annotated[str | None, Opt] = Field(default=None, description="Same as search")
    category: Pk = Field(default=None, description="Category id (its subcategories too)")
    min_price: OptionalMoney = Field(default=None, description="Minimum effective (discounted) price")
    max_price: OptionalMoney = Field(default=None, description="Maximum effective (discounted) price")
    in_stock: Annotated[bool | None, Opt] = Field(default=None, description="true/false")
    ordering: Annotated[str | None, Opt] = Field(
        default=None, description="price, -price, name, -name, created_at, -created_at, rating, -rating")
    tab: Annotated[str | None, Opt] = Field(
        default=None, description="all, published, low_stock, out_of_stock, draft, archived (staff)")
    page: str | None = Field(default=None, description="Page number, from 1")
    page_size: str | None = Field(default=None, description="Items per page (default 12, max 100)")


class SearchQuery(In):
    q: Annotated[str | None, Opt] = Field(default=None, description="Search query")
    search: Annotated[str | None, Opt] = Field(default=None, description="Same as q")
    category: Pk = Field(default=None, description="Category id (its subcategories too)")
    page: str | None = Field(default=None, description="Page number, from 1")
    page_size: str | None = Field(default=None, description="Items per page (default 12, max 100)")


class RecordViewIn(In):
    product_id: RequiredPk


class ReviewIn(In):
    rating: Annotated[int, BeforeValidator(_rating)]
    content: OptionalText = Field(default="", max_length=5000)
    tag_ids: PkList = Field(default_factory=list, max_length=20)


# --- response schemas (documentation) ------------------------------------------

class ProductItemOut(Out):
    id: int
    name: str
    slug: str
    description: str
    price: str
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
    product_details: list[Any]
    created_at: str
    updated_at: str


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


class VariationOut(Out):
    id: int
    variation_type: str
    variation: str
    price_adjustment: str
    stock_quantity: int
    sku: str | None
    is_default: bool
    final_price: float
    sizes: list[SizeOut]
    colors: list[ColorOut]


class ProductDetailOut(ProductItemOut):
    base_price: str
    discount_type: str | None
    discount_percentage: str | None
    tags: list[int]
    variations: list[VariationOut]


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
    price: str
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
    price: str
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


class ReviewTagOut(Out):
    id: int
    name: str
    slug: str


# --- products ------------------------------------------------------------------------

@api(query=ProductListQuery, response=ProductPageOut)
async def list_products(self):
    """Products, filtered, searched, ordered and paginated (shoppers see published ones only).

    ``count`` of a search ordered by relevance: exact up to 1,000 matches; above 1,000, on the
    first pages (page x page_size <= 120), an estimate (always more than 1,000), exact again on
    deeper pages. ``next`` links reach every match either way."""
    args = self.query(ProductListQuery)
    page, size = self.page_params()
    user = self.current_user
    filters = queries.ProductFilters(
        search=args.search or args.q, category_id=args.category, min_price=args.min_price,
        max_price=args.max_price, in_stock=args.in_stock, ordering=args.ordering, tab=args.tab,
        staff=queries.is_staff(user))
    count, items = await queries.product_page(filters, page, size, user)
    self.reply(self.page_envelope(page, size, count, items))


@api(response=ProductDetailOut)
async def get_product(self, id: str):
    """One product with its variations, tags and pricing."""
    self.reply(await queries.product_detail(int(id), self.current_user))


@api(response=list[CategoryOut])
async def list_categories(self):
    """All product categories (a flat list; ``parent`` links the tree)."""
    self.reply(await queries.list_categories())


@api(query=SearchQuery, response=SearchPageOut)
async def search_products(self):
    """Search products by relevance, tolerating typos ("ergonmic chiar").

    ``count`` of a search ordered by relevance: exact up to 1,000 matches; above 1,000, on the
    first pages (page x page_size <= 120), an estimate (always more than 1,000), exact again on
    deeper pages. ``next`` links reach every match either way."""
    args = self.query(SearchQuery)
    page, size = self.page_params()
    count, items = await queries.search_page(args.q or args.search, args.category, page, size,
                                             queries.is_staff(self.current_user))
    self.reply(self.page_envelope(page, size, count, items))


@api(body=RecordViewIn, response=SuccessOut, status=201)
async def record_view(self):
    """Record that the current user viewed a product."""
    data = self.parse(RecordViewIn)
    await queries.record_view(data.product_id, self.current_user)
    self.reply({"success": True}, 201)


@api(response=list[RecommendationOut])
async def recommendations(self, id: str):
    """Up to eight products to show beside this one."""
    self.reply(await recommend.recommendations(int(id), self.current_user))


@api(response=list[RecommendationOut])
async def recommendations_by_type(self, id: str, rec_type: str):
    """Up to eight similar or complementary (bought together) products."""
    self.reply(await recommend.recommendations(int(id), self.current_user, rec_type))


# --- reviews ---------------------------------------------------------------------------

@api(response=list[ReviewOut])
async def list_reviews(self, id: str):
    """A product's reviews, newest first."""
    self.reply(await reviews.list_reviews(int(id), self.current_user))


@api(body=ReviewIn, response=ReviewOut, status=201)
async def create_review(self, id: str):
    """Review a product (once per user); updates the product's rating."""
    data = self.parse(ReviewIn)
    review = await reviews.create_review(self.current_user, int(id), data.rating,
                                         data.content, data.tag_ids)
    self.reply(review, 201)


@api(response=HelpfulOut)
async def mark_helpful(self, id: str):
    """Mark a review helpful (one vote per user)."""
    count = await reviews.mark_helpful(self.current_user, int(id))
    self.reply({"success": True, "helpful_count": count})


@api(response=list[ReviewTagOut])
async def list_review_tags(self):
    """The tags a reviewer can attach to a review."""
    self.reply(await reviews.list_review_tags())
