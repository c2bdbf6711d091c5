"""After the sale: shipments (some or all units of a paid order's lines, with a
carrier and a tracking number; the order's status follows from them) and
returns (a customer sends back some units of a delivered order; staff approve,
receive and refund them through the one refund action, models/checkout/refunds.py).

Above checkout in models/core/domains.py: a return's refund is a checkout
refund. Tables and constraints: migrations/0022_shipments_and_returns.sql.
"""
