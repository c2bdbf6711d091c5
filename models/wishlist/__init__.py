"""The wishlist, and the stock notifications it brings.

Back in stock and price drops are detected by PostgreSQL triggers on
``product`` and ``product_variation`` (migrations/0006): whatever changes the
stock (an admin edit, a bulk action, a cancelled order, a script), a
published product's (or variation's) stock going from 0 to more than 0
writes one BACK_IN_STOCK ``stock_notification`` per user who has the
product on their wishlist and queues one email each through the outbox, in
the same transaction; the effective price falling writes PRICE_DROP ones
likewise. Restocking what is in stock writes nothing.
"""
from models.wishlist.tables import StockNotification, Wishlist, WishlistItem  # noqa: F401
