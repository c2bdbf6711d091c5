"""Checkout: the flow above cart, orders and payments (orders never import
payments; payments import no other domain).

- ``quote``: initiate (a quoted cart for a delivery address), summary, pay
  exactly the quote;
- ``payment``: pay and place an order through a card or hosted gateway,
  cancel an order whose payment never started, finish a hosted checkout
  once its payment is confirmed;
- ``settle``: provider webhook events → payments and orders (revive or
  refund a payment that arrives after a failure; refuse wrong amounts);
- ``refunds``: the one refund action for every provider.

Triggers (migrations/README.md): the orders, payments and stock it writes fire
those of models/orders/actions.py (status counts, rollups, order version at
commit; payment rows 0008 order_version_payment) and models/orders/stock.py
(stock movements, back-in-stock emails, band counts, search index).
"""
