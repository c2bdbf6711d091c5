"""Orders: placing them (taking stock atomically), the customer's and the
admin's lists and details, status changes with tracking events, exports,
bulk actions, Idempotency-Key records and the order seed.

- ``tables``: the peewee models; ``stock``: taking and giving back stock;
- ``actions``: use cases (place, update, cancel, track);
- ``queries``: the hand-written read side (lists, detail payloads, counts);
- ``idempotency``: the Idempotency-Key records of POST /orders/ and /checkout/payment/;
- ``seed``: bulk orders for demos and benchmarks.
"""
