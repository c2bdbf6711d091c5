"""Domain layer: tables, query helpers and the async actions that use them."""
