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
"""
