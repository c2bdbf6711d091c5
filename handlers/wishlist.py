"""The signed-in user's wishlist and stock notifications."""
from __future__ import annotations

from pydantic import AliasChoices, Field

from handlers.cart import CartItemOut
from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Flag, IdList, In, MoneyText, Out, PositiveQuantity, RequiredPk
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.core.errors import ValidationFailed
from models.wishlist import actions as wishlist


class WishlistItemIn(In):
    product: RequiredPk = Field(validation_alias=AliasChoices("product", "product_id"),
                                description="Product id (product_id accepted too)")


class MoveToCartIn(In):
    ignored_fields = ("wishlist_item_id",)  # the spec's example repeats the path's id in the body
    quantity: PositiveQuantity = Field(default=1, json_schema_extra={"maximum": 10000})


class BulkDeleteIn(In):
    wishlist_item_ids: IdList = Field(min_length=1, max_length=500)


class NotificationsQuery(In):
    unread: Flag | None = Field(default=None, description="true: unread notifications only")


class WishlistProductOut(Out):
    id: int
    wishlist_item_id: int
    name: str
    description: str
    main_image: str | None
    images: list[str]
    price: MoneyText
    is_liked: bool
    status: str
    stock_quantity: int
    added_at: str


class WishlistOut(Out):
    id: int | None
    user: int
    products: list[WishlistProductOut]
    products_count: int


class ProductDetailsOut(Out):
    id: int
    name: str
    description: str
    main_image: str | None
    images: list[str]
    price: MoneyText
    status: str
    is_liked: bool


class WishlistItemOut(Out):
    id: int
    wishlist: int
    product: int
    added_at: str
    product_details: ProductDetailsOut


class MovedOut(Out):
    success: bool
    message: str
    cart_item: CartItemOut


class NotificationOut(Out):
    id: int
    notification_type: str = Field(description="BACK_IN_STOCK or PRICE_DROP")
    message: str
    is_read: bool
    created_at: str
    product: int
    variation: int | None
    old_price: MoneyText | None
    new_price: MoneyText | None


class MarkedOut(Out):
    success: bool
    updated: int


class WishlistHandler(BaseHandler):
    role = USER

    @api(response=WishlistOut)
    async def get(self):
        """The user's wishlist, latest first."""
        self.reply(await wishlist.wishlist_payload(self.current_user.id))


class WishlistItemListHandler(BaseHandler):
    role = USER

    @api(body=WishlistItemIn, response=WishlistItemOut, status=201, responses={200: WishlistItemOut})
    async def post(self):
        """Add a product to the wishlist (201; 200 when it was already there)."""
        data = self.parse(WishlistItemIn)
        payload, created = await wishlist.add_to_wishlist(self.current_user, data.product)
        self.reply(payload, 201 if created else 200)


class WishlistItemHandler(BaseHandler):
    role = USER

    @api(status=204)
    async def delete(self, id: str):
        """Remove a wishlist item by its id."""
        await wishlist.remove_item(self.current_user.id, int(id))
        self.reply(status=204)


class WishlistProductRemoveHandler(BaseHandler):
    role = USER

    @api(status=204)
    async def delete(self, product_id: str):
        """Remove a product from the wishlist by the product's id."""
        await wishlist.remove_product(self.current_user.id, int(product_id))
        self.reply(status=204)

    post = delete


class MoveToCartHandler(BaseHandler):
    role = USER

    @api(body=MoveToCartIn, response=MovedOut, status=201)
    async def post(self, pk: str):
        """Move a wishlist item (by its id) into the cart."""
        try:
            data = self.parse(MoveToCartIn)
        except ValidationFailed as exc:
            raise ValidationFailed("Invalid wishlist item or quantity", errors=exc.errors) from None
        line = await wishlist.move_to_cart(self.current_user.id, int(pk), data.quantity)
        self.reply({"success": True, "message": "Item moved to cart successfully", "cart_item": line.payload()}, 201)


class BulkDeleteHandler(BaseHandler):
    role = USER

    @api(body=BulkDeleteIn, status=204)
    async def post(self):
        """Remove several wishlist items (ids of other users' items are ignored)."""
        data = self.parse(BulkDeleteIn)
        await wishlist.bulk_remove(self.current_user.id, data.wishlist_item_ids)
        self.reply(status=204)


class StockNotificationListHandler(BaseHandler):
    role = USER

    @api(query=NotificationsQuery, response=list[NotificationOut])
    async def get(self):
        """The user's back-in-stock and price-drop notifications, newest first (latest 100)."""
        query = self.query(NotificationsQuery)
        self.reply(await wishlist.list_notifications(self.current_user.id, bool(query.unread)))


class StockNotificationReadHandler(BaseHandler):
    role = USER

    @api(response=NotificationOut)
    async def post(self, id: str):
        """Mark a notification read."""
        self.reply(await wishlist.mark_read(self.current_user.id, int(id)))


class StockNotificationReadAllHandler(BaseHandler):
    role = USER

    @api(response=MarkedOut)
    async def post(self):
        """Mark every notification read."""
        self.reply({"success": True, "updated": await wishlist.mark_all_read(self.current_user.id)})


routes = [
    Route("/api/wishlist/", WishlistHandler),
    Route("/api/wishlist-items/", WishlistItemListHandler),
    Route("/api/wishlist-items/{id:int}/", WishlistItemHandler),
    Route("/api/wishlist-items/{product_id:int}/remove/", WishlistProductRemoveHandler),
    Route("/api/wishlist/move-to-cart/{pk:int}/", MoveToCartHandler),
    Route("/api/wishlist/bulk-delete/", BulkDeleteHandler),
    Route("/api/wishlist/stock-notifications/", StockNotificationListHandler),
    Route("/api/wishlist/stock-notifications/mark-all-read/", StockNotificationReadAllHandler),
    Route("/api/wishlist/stock-notifications/{id:int}/read/", StockNotificationReadHandler),
]
