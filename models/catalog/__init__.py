"""The catalog: products with variations and images, categories, tags, sizes,
colors, reviews, views and recommendations.

- ``tables``: the peewee models.
- ``queries``: the storefront's read side (filters, search, bulk serialisers).
- ``admin``: staff use cases, one module per section (create/update with nested variations, images,
  bulk actions, exports).
- ``reviews``: reviews and helpful votes; ``recommend``: recommendations.
- ``seed``: the demo catalog.
"""
