"""The signed-in user's (or a guest's, by its X-Cart-Token: ``guest_ok``) cart:
lines, quantities, promo code, clearing, and the restore link of abandoned-cart
reminders."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import In, MoneyText, Out, Pk, PositiveQuantity, RequiredPk, Text
from handlers.core.openapi import api
from handlers.core.routing import Route
from models import cart
from models.cart import abandoned


class LineIn(In):
    """A cart line: ``product_id`` (+ ``variation_id``), or ``item_id`` (also
    accepted as ``cart_item_id``, the name the cart's lines carry)."""

    product_id: Pk = Field(default=None, description="Product id (with variation_id for a variation's line)")
    variation_id: Pk = Field(default=None, description="Variation id (optional)")
    item_id: Pk = Field(default=None, description="The cart line's id (instead of product_id)")
    cart_item_id: Pk = Field(default=None, description="Same as item_id: the cart line's ``cart_item_id``")

    @model_validator(mode="after")
    def _one_line_id(self) -> "LineIn":
        if self.cart_item_id is not None:
            if self.item_id is not None and self.item_id != self.cart_item_id:
                raise ValueError("item_id and cart_item_id name different lines.")
            self.item_id = self.cart_item_id
        return self


class AddItemIn(In):
    product_id: RequiredPk
    variation_id: Pk = Field(default=None, description="Variation id (optional)")
    quantity: PositiveQuantity = Field(default=1, json_schema_extra={"maximum": 10000})


class UpdateQuantityIn(LineIn):
    quantity: PositiveQuantity = Field(json_schema_extra={"maximum": 10000})


class DiscountIn(In):
    code: Text = Field(max_length=50)


class CartItemOut(Out):
    cart_item_id: int
    product: int
    variation: int | None
    variation_name: str | None
    quantity: int
    product_name: str
    sku: str
    product_price: MoneyText
    line_total: MoneyText
    stock_status: str = Field(description="active, out_of_stock, insufficient_stock or unavailable (judged "
                                          "against what the stock policy can sell: shelf plus backorders left)")
    stock_quantity: int
    product_image: str | None
    stock_policy: Literal["deny", "backorder", "made_to_order"] = Field(
        description="The policy in force (the variation's own when staff set one, else the product's). deny: "
                    "only what is in stock; backorder: beyond the stock up to a limit, shipped on the "
                    "restock date; made_to_order: no limit, shipped after the lead time")
    expected_ship_date: str | None = Field(description="When the line is expected to ship (YYYY-MM-DD; null: "
                                                       "unknown restock date or not available)")


class AppliedPromoOut(Out):
    code: str
    discount_percentage: MoneyText | None = Field(description="None unless a percentage discount")
    discount_type: str = Field(description="percentage, fixed or free_shipping")
    is_valid: bool = Field(description="Whether the code's own rules are met")
    applied: bool = Field(description="Whether it is the promotion applied (a bigger automatic one may win)")
    message: str | None


class DiscountLineOut(Out):
    """The promotion applied and what it takes off (models/cart/promo.py best_discount)."""

    promotion_id: int
    code: str | None = Field(description="None for an automatic promotion")
    name: str
    discount_type: str = Field(description="percentage, fixed or free_shipping")
    amount: MoneyText = Field(description="Off the goods")
    shipping_discount: MoneyText = Field(description="Off the shipping (free shipping; 0 until a method is chosen)")
    description: str


class CartOut(Out):
    cart_id: int | None
    user: int
    items: list[CartItemOut]
    total_items: int
    items_count: int
    subtotal: MoneyText
    discount: MoneyText
    total: MoneyText
    promo_code: AppliedPromoOut | None
    discount_lines: list[DiscountLineOut] = Field(
        description="The promotion applied (the best of the entered code and the automatic ones); [] without one")
    created_at: str | None
    updated_at: str | None


class SummaryOut(Out):
    total_items: int
    total: MoneyText = Field(description="After the promo discount (as in GET /cart/)")
    total_price: MoneyText = Field(description="The same as total (the spec's name)")
    items_count: int
    subtotal: MoneyText
    discount: MoneyText
    promo_code: AppliedPromoOut | None
    discount_lines: list[DiscountLineOut]


class CartItemReplyOut(Out):
    success: bool
    message: str
    cart_item: CartItemOut


class DiscountOut(Out):
    success: bool
    message: str
    code: str
    discount_type: str
    discount_percentage: MoneyText | None
    discount_amount: MoneyText = Field(description="The goods discount now (the best promotion's)")
    total_before_discount: MoneyText
    total_after_discount: MoneyText
    discount_lines: list[DiscountLineOut]


class MessageOut(Out):
    success: bool
    message: str


class CartHandler(BaseHandler):
    role = USER
    guest_ok = True
    reads = {"GET": cart.CART_READ}  # read with the user: one statement in all

    @api(response=CartOut)
    async def get(self):
        """The user's cart with current prices, totals and the applied promo code."""
        self.reply(cart.cart_payload(await cart.load_cart(self.current_user.id, self.read_rows)))


class CartSummaryHandler(BaseHandler):
    role = USER
    guest_ok = True
    reads = {"GET": cart.CART_READ}

    @api(response=SummaryOut)
    async def get(self):
        """How many items and what they cost (after the promo discount)."""
        self.reply(cart.summary_payload(await cart.load_cart(self.current_user.id, self.read_rows)))


class AddItemHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=AddItemIn, response=CartItemReplyOut, status=201,
         rejects={400: "a quantity above the stock left (\"Only N left\") or a product out of stock"})
    async def post(self):
        """Add a product (or one of its variations); an existing line grows."""
        data = self.parse(AddItemIn)
        line = await cart.add_item(self.current_user.id, data.product_id, data.quantity, data.variation_id)
        self.reply({"success": True, "message": "Item added to cart", "cart_item": line.payload()}, 201)


class UpdateQuantityHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=UpdateQuantityIn, response=CartItemReplyOut,
         rejects={400: "neither item_id (cart_item_id) nor product_id, or a quantity above the stock left (\"Only N left\")"})
    async def post(self):
        """Set a line's quantity."""
        data = self.parse(UpdateQuantityIn)
        line = await cart.update_quantity(self.current_user.id, data.quantity, item_id=data.item_id,
                                          product_id=data.product_id, variation_id=data.variation_id)
        self.reply({"success": True, "message": "Quantity updated", "cart_item": line.payload()})


class RemoveItemHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=LineIn, status=204, rejects={400: "neither item_id (cart_item_id) nor product_id"})
    async def post(self):
        """Remove a line."""
        data = self.parse(LineIn)
        await cart.remove_item(self.current_user.id, item_id=data.item_id, product_id=data.product_id,
                               variation_id=data.variation_id)
        self.reply(status=204)


class ApplyDiscountHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=DiscountIn, response=DiscountOut,
         rejects={400: "an empty cart, or a code that is unknown, expired, used up or not met by the cart"})
    async def post(self):
        """Apply a promo code (case-insensitive) to the cart."""
        data = self.parse(DiscountIn)
        self.reply(await cart.apply_promo_code(self.current_user.id, data.code))

    @api(status=204)
    async def delete(self):
        """Take the promo code off the cart."""
        await cart.remove_promo_code(self.current_user.id)
        self.reply(status=204)


class RemoveDiscountHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(response=MessageOut)
    async def post(self):
        """Take the promo code off the cart."""
        await cart.remove_promo_code(self.current_user.id)
        self.reply({"success": True, "message": "Discount removed"})


class ClearCartHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(response=MessageOut)
    async def post(self):
        """Remove every line (and the promo code)."""
        await cart.clear_cart(self.current_user.id)
        self.reply({"success": True, "message": "Cart cleared successfully"})


class RestoreCartHandler(BaseHandler):
    """An abandoned-cart reminder links to the storefront's restore page, which
    POSTs the token here (the token is the credential). A GET changes nothing:
    a mail scanner or link preview must not restore a cart."""

    @api(status=302, summary="Go to the storefront's restore page (changes nothing)")
    async def get(self, token: str):
        """Links from reminders sent before they pointed at the storefront: on to its restore page."""
        self.redirect(abandoned.restore_page(token))

    @api(response=MessageOut)
    async def post(self, token: str):
        """Restore an abandoned cart (JSON answer, for the storefront)."""
        await abandoned.restore_cart(token)
        self.reply({"success": True, "message": "Cart restored"})


routes = [
    Route("/api/cart/", CartHandler),
    Route("/api/cart/summary/", CartSummaryHandler),
    Route("/api/cart/add-item/", AddItemHandler),
    Route("/api/cart/update-quantity/", UpdateQuantityHandler),
    Route("/api/cart/remove-item/", RemoveItemHandler),
    Route("/api/cart/apply-discount/", ApplyDiscountHandler),
    Route("/api/cart/remove-discount/", RemoveDiscountHandler),
    Route("/api/cart/clear/", ClearCartHandler),
    Route("/api/cart/restore/{token}/", RestoreCartHandler),
]
