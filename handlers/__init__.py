"""HTTP layer: one module per resource, each ending with its ``routes`` (the
table's order is ``handlers.core.routing.MODULES``); the machinery they share
(routing, BaseHandler, validation, fields, OpenAPI, idempotency, the server)
lives in ``handlers/core/``."""
