"""Staff catalog endpoints. The product methods (create, PUT, PATCH, DELETE,
category POST) are composed into handlers/products.py; the admin-only URLs
are declared in ``routes`` below. Business rules live in models/catalog/admin/.

Field errors use DRF's messages. Errors inside ``variations`` are keyed by
their path, e.g. ``variations.0.sku``.
"""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, create_model

from handlers.catalog_store import ColorOut, ProductAttributeOut, SizeOut, StockPolicyName, VariationFieldsOut
from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import (
    PK_DOC,
    QUERY_FLAG_DOC,
    Adjustment,
    Code,
    Details,
    Dimension,
    Doc,
    Flag,
    HexColor,
    In,
    IsoDate,
    Money,
    MoneyText,
    OptionalMoney,
    OptionalText,
    OrNull,
    Out,
    PageParam,
    PageSizeParam,
    Pk,
    PkList,
    Quantity,
    Query,
    Text,
    choice,
    choice_doc,
    choices_doc,
    none_to_list,
    partial,
    pk_list,
)
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.core.validation import UNKNOWN_FIELD, check_json, input_names
from handlers.exports import ExportStartedOut, export_csv
from models.catalog import admin
from models.catalog.tables import DISCOUNT_TYPES, PRODUCT_STATUSES, STATUS_SYNONYMS
from models.core.errors import AppError, ValidationFailed

Status = Annotated[str, choice(PRODUCT_STATUSES, STATUS_SYNONYMS), choice_doc(PRODUCT_STATUSES, STATUS_SYNONYMS)]
SLUG_RE = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str | None, Field(max_length=120, pattern=SLUG_RE)]
AttributeChoice = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
# attribute slug -> value slugs/names (choice) or a number (number); None leaves them unchanged.
AttributeAssignment = dict[Annotated[str, Field(max_length=60)],
                           list[AttributeChoice] | AttributeChoice | float | None] | None
DiscountType = Annotated[str | None, choice(DISCOUNT_TYPES, null=True), choice_doc(DISCOUNT_TYPES, null=True)]


# --- schemas ---------------------------------------------------------------------

StockPolicy = Annotated[Literal["deny", "backorder", "made_to_order"], BeforeValidator(
    lambda v: v.strip().lower() if isinstance(v, str) else v)]


class VariationIn(In):
    id: Pk = None  # an existing variation of this product is updated in place
    variation_type: OptionalText = Field(default="", max_length=50)
    variation: OptionalText = Field(default="", max_length=100)
    price_adjustment: Adjustment = Decimal("0.00")
    stock_quantity: Quantity = 0
    sku: Code = Field(default=None, max_length=64)
    is_default: Flag = False
    size_ids: PkList = []
    color_ids: PkList = []
    # Its own stock policy terms (models/catalog/stock_policy.py effective_terms); null or left out: the
    # product's value applies. Validated as the product's.
    stock_policy: StockPolicy | None = Field(default=None, description=(
        "This variation's own stock policy (deny, backorder or made_to_order); null: the product's"))
    backorder_limit: Quantity | None = Field(default=None, le=1_000_000, description=(
        "Units of this variation that may be owed at once (backorder); null: the product's limit"))
    restock_date: Annotated[IsoDate, OrNull()] = Field(default=None, description=(
        "When this variation's backordered units ship (YYYY-MM-DD); null: the product's"))
    lead_time_days: Quantity | None = Field(default=None, le=365, description=(
        "Days to make a made-to-order unit of this variation (0-365); null: the product's"))


class ProductIn(In):
    # The spec's example sends these two (images come through upload-image): accepted and ignored.
    ignored_fields = ("main_image", "image_files")
    name: Text = Field(max_length=255)
    description: OptionalText = ""
    product_details: Details = []
    category: Pk = None
    tags: PkList = []
    base_price: Money = Field(validation_alias=AliasChoices("base_price", "price"),
                              description="Also accepted as ``price``; errors are keyed by the name sent")
    discount_type: DiscountType = None
    discount_percentage: OptionalMoney = None
    vat_amount: OptionalMoney = None
    sku: Text = Field(max_length=64)
    barcode: Code = Field(default=None, max_length=64)
    stock_quantity: Quantity = 0
    status: Status = "draft"  # "active" means published
    is_featured: Flag = False
    is_physical_product: Flag = True
    weight: Dimension = None
    height: Dimension = None
    length: Dimension = None
    width: Dimension = None
    # Shipping and stock policy (models/catalog/stock_policy.py); weight in kg, dimensions in cm.
    is_bulky: Flag = Field(default=False, description="Delivered only by methods that handle bulky items, "
                                                      "on a date the shopper picks")
    stock_policy: StockPolicy = Field(default="deny", description=(
        "deny: sell only what is in stock; backorder: sell beyond it up to backorder_limit units owed, "
        "shipped on restock_date; made_to_order: no limit, shipped lead_time_days after the order"))
    backorder_limit: Quantity = Field(default=0, le=1_000_000, description="Units that may be owed at once (backorder)")
    restock_date: Annotated[IsoDate, OrNull()] = Field(default=None, description="When backordered units ship (YYYY-MM-DD)")
    lead_time_days: Quantity = Field(default=0, le=365, description="Days to make a made-to-order unit")
    variations: Annotated[list[VariationIn], BeforeValidator(none_to_list), OrNull()] = []
    slug: Slug = Field(default=None, description="Made from the name at create and kept on rename; "
                                                 "give one to change it")
    attributes: AttributeAssignment = Field(
        default=None, description='Typed attributes, e.g. {"material": ["oak", "walnut"], "width": 120}: '
                                  "attribute slug to value slugs (or names) or a number; the attributes named "
                                  "are set (null or [] removes one), the others stay")


ProductPatch = partial(ProductIn, "ProductPatch")


class GalleryImageOut(Out):
    id: int
    image_url: str
    is_main: bool


class AllImagesOut(Out):
    main_image: str | None
    gallery: list[GalleryImageOut]


class AdminVariationOut(VariationFieldsOut):
    stock_policy: StockPolicyName | None = Field(description="Its own stock policy; null: the product's applies")
    backorder_limit: int | None = Field(description="Its own backorder limit; null: the product's")
    restock_date: str | None = Field(description="Its own restock date; null: the product's")
    lead_time_days: int | None = Field(description="Its own lead time in days; null: the product's")
    backordered: int = Field(description="Units of this variation sold beyond its stock and not yet covered")
    effective_stock_policy: StockPolicyName = Field(description="The policy in force: its own, else the product's")


class ProductOut(Out):
    id: int
    name: str
    description: str
    product_details: list[str]
    category: int | None
    category_name: str | None
    tags: list[int]
    status: str
    status_display: str
    main_image: str | None
    images: list[str]
    is_featured: bool
    is_liked: bool
    available_sizes: list[SizeOut]
    available_colors: list[ColorOut]
    base_price: MoneyText
    discount_type: str | None
    discount_percentage: MoneyText | None
    vat_amount: MoneyText | None
    sku: str
    barcode: str | None
    stock_quantity: int
    variations: list[AdminVariationOut]
    is_physical_product: bool
    weight: str | None
    height: str | None
    length: str | None
    width: str | None
    is_bulky: bool
    stock_policy: str = Field(description="deny, backorder or made_to_order")
    backorder_limit: int
    backordered: int = Field(description="Units sold beyond the stock and not yet covered (the product's own; "
                                         "variations count theirs)")
    restock_date: str | None
    lead_time_days: int
    created_at: str
    added_date_formatted: str
    variants_count: int
    all_images: AllImagesOut
    price: MoneyText
    slug: str
    updated_at: str
    attributes: list[ProductAttributeOut]


class CategoryIn(In):
    name: Text = Field(max_length=100)
    parent: Pk = None
    description: OptionalText = ""
    slug: Slug = Field(default=None, description="Made from the name at create and kept on rename; "
                                                 "give one to change it")


class CategoryAdminOut(Out):
    id: int
    name: str
    slug: str
    parent: int | None
    description: str


class TagIn(In):
    name: Text = Field(max_length=50)


class TagOut(Out):
    id: int
    name: str
    slug: str


class SizeIn(In):
    name: Text = Field(max_length=50)


class ColorIn(In):
    name: Text = Field(max_length=50)
    hex_code: HexColor


class BulkStatusIn(In):
    product_ids: PkList
    status: Status


class BulkActionIn(In):
    action: Annotated[str, Doc({"type": "string", "enum": list(admin.BULK_ACTIONS)})]
    product_ids: Annotated[list[int], Doc({"type": "array", "items": PK_DOC, "minItems": 1})]


class ActionMessageOut(Out):
    success: bool | None = None
    message: str


class ImageUploadOut(Out):
    success: bool
    image_url: str
    image_id: int


class ProductFilters(Query):
    tab: Annotated[str | None, choices_doc(admin.TABS)] = None
    search: str | None = Field(default=None, description="name, SKU or category name")
    category: str | None = Field(default=None, description="category slug (or id)")


class DashboardQuery(ProductFilters):
    page: PageParam = None
    page_size: PageSizeParam = Field(default=None, description="default 10, at most 100")


# ``async`` is a Python keyword, hence create_model.
ExportQuery = create_model("ExportQuery", __base__=ProductFilters, **{"async": (
    Annotated[str | None, Doc(QUERY_FLAG_DOC)],
    Field(default=None, description="1: build the file in the background (202 and a job)"))})


class OrderFormSearchQuery(Query):
    q: str | None = Field(default=None, description="2+ characters: name, SKU or description")


class OrderFormProductOut(Out):
    id: int
    name: str
    sku: str
    price: MoneyText
    stock_quantity: int
    image: str | None


# --- product methods composed into handlers/products.py ------------------------------------

PRODUCT_REJECTS = ("a category, tag, size or color id that does not exist, a SKU, barcode or slug already in use, "
                   "or an unknown attribute or attribute value")

@api(body=ProductIn, response=ProductOut, status=201, rejects={400: PRODUCT_REJECTS})
async def create_product(self):
    """Create a product with its tags and variations."""
    data = self.parse(ProductIn)
    self.reply(await admin.create_product(data.model_dump()), 201)


@api(body=ProductIn, response=ProductOut, rejects={400: PRODUCT_REJECTS})
async def replace_product(self, id: str):
    """Replace a product: fields left out take their defaults; tags and variations are replaced."""
    data = self.parse(ProductIn)
    self.reply(await admin.update_product(int(id), data.model_dump()))


@api(body=ProductPatch, response=ProductOut, rejects={400: PRODUCT_REJECTS})
async def update_product(self, id: str):
    """Change the given fields; ``variations``, when given, replace the product's variations."""
    data = self.parse(ProductPatch)
    self.reply(await admin.update_product(int(id), data.model_dump(exclude_unset=True)))


@api(status=204, rejects={400: "a product referenced by orders (archive it instead)"})
async def delete_product(self, id: str):
    """Delete a product with its variations and images."""
    await admin.delete_product(int(id))
    self.reply(status=204)


@api(body=CategoryIn, response=CategoryAdminOut, status=201,
     rejects={400: "a name or slug already in use, or a parent id that does not exist"})
async def create_category(self):
    """Create a category (slug made unique from the name)."""
    data = self.parse(CategoryIn)
    self.reply(await admin.create_category(data.model_dump()), 201)


# --- admin-only handlers ---------------------------------------------------------------

class ProductImageUploadHandler(BaseHandler):
    role = ADMIN

    @api(response=ImageUploadOut, files={"image": "JPG or PNG, 5 MB at most"},
         rejects={400: "a file that is not a JPG or PNG image, or larger than 5 MB"})
    async def post(self, id: str):
        """Add an image (form field ``image``; JPG/PNG, 5 MB at most); the first becomes the main image."""
        files = self.request.files.get("image")
        if not files:
            raise ValidationFailed.field("image", "No file was submitted.")
        self.reply(await admin.add_product_image(int(id), files[0].body))


class ProductImageRemoveHandler(BaseHandler):
    role = ADMIN

    @api(response=ActionMessageOut)
    async def delete(self, id: str, image_id: str):
        """Remove an image; the next one becomes the main image if needed."""
        await admin.remove_product_image(int(id), int(image_id))
        self.reply({"success": True, "message": "Image removed successfully"})


class ProductExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """Products as CSV, streamed (``?async=1``: 202 and a background job)."""
        self.query(ExportQuery)
        await export_csv(self, "products")


class BulkUpdateStatusHandler(BaseHandler):
    role = ADMIN

    @api(body=BulkStatusIn, response=ActionMessageOut)
    async def post(self):
        """Set the status of several products."""
        data = self.parse(BulkStatusIn)
        self.reply({"success": True, "message": await admin.bulk_update_status(data.product_ids, data.status)})


class ProductTagsHandler(BaseHandler):
    role = ADMIN

    @api(response=list[TagOut])
    async def get(self):
        """All product tags."""
        self.reply(await admin.tags.list())


class ProductSizesHandler(BaseHandler):
    role = ADMIN

    @api(response=list[SizeOut])
    async def get(self):
        """All sizes (for the variation form)."""
        self.reply(await admin.sizes.list())


class ProductColorsHandler(BaseHandler):
    role = ADMIN

    @api(response=list[ColorOut])
    async def get(self):
        """All colors (for the variation form)."""
        self.reply(await admin.colors.list())


TabCountsOut = create_model("TabCountsOut", __base__=Out, **{tab: (int, ...) for tab in admin.TABS})


class DashboardProductOut(Out):
    id: int
    name: str
    sku: str
    category: str | None
    category_id: int | None
    variants: str = Field(description='"2 Variants"')
    variant_count: int
    stock_quantity: int
    stock_status: str
    stock_label: str
    stock_color: str
    price: float = Field(description="A number, as the spec shows")
    status: str
    status_color: str
    created_at: str = Field(description='"07 Dec 2026", as the spec shows')
    updated_at: str
    created_at_iso: str = Field(description="created_at as ISO 8601 UTC", examples=["2026-12-07T15:48:22Z"])
    updated_at_iso: str = Field(description="updated_at as ISO 8601 UTC", examples=["2026-12-07T15:48:22Z"])
    main_image: str | None
    is_featured: bool
    rating: float
    num_ratings: int


class PaginationOut(Out):
    current_page: int
    total_pages: int
    total_count: int
    page_size: int
    has_next: bool
    has_previous: bool


class DashboardFiltersOut(Out):
    tab: str
    search: str
    category: str | None


class DashboardProductsOut(Out):
    products: list[DashboardProductOut]
    pagination: PaginationOut
    filters: DashboardFiltersOut
    tab_counts: TabCountsOut  # type: ignore[valid-type]


class TabCountsHandler(BaseHandler):
    role = ADMIN

    @api(response=TabCountsOut)
    async def get(self):
        """Products per dashboard tab (all, published, low_stock, draft, out_of_stock)."""
        self.reply(await admin.tab_counts())


class DashboardProductsHandler(BaseHandler):
    role = ADMIN

    @api(query=DashboardQuery, response=DashboardProductsOut)
    async def get(self):
        """The dashboard's product table: products, pagination, filters and tab counts."""
        filters = admin.clean_product_filters(self.query(ProductFilters).model_dump())
        page, size = self.page_params(10)
        self.reply(await admin.dashboard_products(filters, page, size))


class BulkProductActionHandler(BaseHandler):
    role = ADMIN

    @api(body=BulkActionIn, response=ActionMessageOut)
    async def post(self):
        """Delete, publish, draft, feature or unfeature several products."""
        body = self.json_body(check=False)
        body = body if isinstance(body, dict) else {}
        unknown = {str(k)[:100]: [UNKNOWN_FIELD] for k in body if k not in input_names(BulkActionIn)}
        if unknown:
            raise ValidationFailed(errors=unknown)
        check_json(body)
        action, ids = body.get("action"), body.get("product_ids")
        if not action or not ids:
            missing = {k: ["This field is required."] for k, v in (("action", action), ("product_ids", ids)) if not v}
            raise AppError("Action and product_ids are required", missing,
                           error="Action and product_ids are required")
        if not isinstance(action, str) or action not in admin.BULK_ACTIONS:
            raise AppError("Invalid action", {"action": [f'"{action}" is not a valid choice.']},
                           error="Invalid action", valid_actions=list(admin.BULK_ACTIONS))
        try:
            product_ids = pk_list(ids)
        except ValueError as exc:
            raise ValidationFailed.field("product_ids", str(exc)) from None
        self.reply({"message": await admin.bulk_action(action, product_ids)})


class DashboardExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """The dashboard's products CSV (tab/search/category filters; ``?async=1`` for a job)."""
        self.query(ExportQuery)
        await export_csv(self, "products")


class OrderFormProductSearchHandler(BaseHandler):
    role = ADMIN

    @api(query=OrderFormSearchQuery, response=list[OrderFormProductOut])
    async def get(self):
        """Products for the admin order form: at most 10, [] for a query under 2 characters."""
        self.reply(await admin.search_for_order_form(self.query(OrderFormSearchQuery).q or ""))


def _crud_routes(path: str, label: str, store: Any, schema_in: type[In], schema_out: type[Out]) -> list[Route]:
    """List/create at ``path`` and read/replace/update/delete at ``path{id}/``, admin only."""
    schema_patch = partial(schema_in, f"{schema_in.__name__[:-2]}Patch")
    plural = f"{label.lower()}s" if not label.endswith("y") else f"{label[:-1].lower()}ies"

    class ListHandler(BaseHandler):
        role = ADMIN

        @api(response=list[schema_out], summary=f"All {plural}.")
        async def get(self):
            self.reply(await store.list())

        @api(body=schema_in, response=schema_out, status=201, summary=f"Create a {label.lower()}.",
             rejects={400: "a name already in use" + (", a slug already in use, or a parent id that does not "
                                                      "exist" if label == "Category" else "")})
        async def post(self):
            self.reply(await store.create(self.parse(schema_in).model_dump()), 201)

    class ItemHandler(BaseHandler):
        role = ADMIN

        @api(response=schema_out, summary=f"One {label.lower()}.")
        async def get(self, id: str):
            self.reply(await store.get(int(id)))

        @api(body=schema_in, response=schema_out, summary=f"Replace a {label.lower()}.",
             rejects={400: "a name already in use" + (", a slug already in use, or a parent that does not exist "
                                                      "or would make a cycle" if label == "Category" else "")})
        async def put(self, id: str):
            self.reply(await store.update(int(id), self.parse(schema_in).model_dump()))

        @api(body=schema_patch, response=schema_out, summary=f"Change some fields of a {label.lower()}.",
             rejects={400: "a name already in use" + (", a slug already in use, or a parent that does not exist "
                                                      "or would make a cycle" if label == "Category" else "")})
        async def patch(self, id: str):
            self.reply(await store.update(int(id), self.parse(schema_patch).model_dump(exclude_unset=True)))

        @api(status=204, summary=f"Delete a {label.lower()}.")
        async def delete(self, id: str):
            await store.delete(int(id))
            self.reply(status=204)

    ListHandler.__name__ = ListHandler.__qualname__ = f"{label}ListHandler"
    ItemHandler.__name__ = ItemHandler.__qualname__ = f"{label}Handler"
    return [Route(path, ListHandler), Route(path + "{id:int}/", ItemHandler)]


_categories = SimpleNamespace(list=admin.list_categories, get=admin.get_category, create=admin.create_category,
                              update=admin.update_category, delete=admin.delete_category)

routes = [
    Route("/api/products/{id:int}/upload-image/", ProductImageUploadHandler),
    Route("/api/products/{id:int}/remove-image/{image_id:int}/", ProductImageRemoveHandler),
    Route("/api/products/export/", ProductExportHandler),
    Route("/api/products/bulk-update-status/", BulkUpdateStatusHandler),
    Route("/api/products/tags/", ProductTagsHandler),
    Route("/api/products/sizes/", ProductSizesHandler),
    Route("/api/products/colors/", ProductColorsHandler),
    Route("/api/products/tab_counts/", TabCountsHandler),
    Route("/api/dashboard/product_management_data/", DashboardProductsHandler),
    Route("/api/dashboard/bulk_product_action/", BulkProductActionHandler),
    Route("/api/dashboard/export_products/", DashboardExportHandler),
    Route("/api/product-search/", OrderFormProductSearchHandler),
    *_crud_routes("/api/categories/", "Category", _categories, CategoryIn, CategoryAdminOut),
    *_crud_routes("/api/tags/", "Tag", admin.tags, TagIn, TagOut),
    *_crud_routes("/api/sizes/", "Size", admin.sizes, SizeIn, SizeOut),
    *_crud_routes("/api/colors/", "Color", admin.colors, ColorIn, ColorOut),
]
