"""The cart: lines per product + variation, promo codes, pricing for
checkout, abandoned-cart recovery.

For other domains (orders/checkout):
- ``price_cart(user_id, *, shipping_method_id=None, promo_code=None, destination=None) -> CartQuote``
  (its ``parcel``: weight, volume, goods, bulky, latest ship date, for models/shipping)
- ``clear_cart(user_id)`` — inside the caller's transaction
- ``redeem_promo_code(promo_code_id)`` — atomic, inside the order's transaction
- ``mark_cart_converted(user_id, order_id)`` — when an order is placed

Triggers (migrations/README.md): the cart's own tables fire only
abandoned_cart -> dashboard cache version (0011); the stock a checkout takes
or gives back (models/orders/stock.py) is what sends back-in-stock emails
(0006), records stock_movement rows (0008) and moves search and tab counts.
"""
from models.cart.abandoned import mark_cart_converted, process_abandoned_carts, restore_cart  # noqa: F401
from models.cart.actions import (  # noqa: F401
    CartQuote,
    OutOfStock,
    QuoteLine,
    add_item,
    apply_promo_code,
    clear_cart,
    price_cart,
    remove_item,
    remove_promo_code,
    update_quantity,
)
from models.cart.promo import PromoCodeRejected, redeem_promo_code  # noqa: F401
from models.cart.queries import CART_READ, cart_payload, load_cart, summary_payload  # noqa: F401
from models.cart.tables import AbandonedCart, Cart, CartItem, PromoCode  # noqa: F401
