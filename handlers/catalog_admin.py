"""Staff catalog endpoints (product methods are composed into handlers/products.py;
admin-only URLs are declared in ``routes`` below)."""
from __future__ import annotations


async def create_product(self):
    raise NotImplementedError


async def replace_product(self, id: str):
    raise NotImplementedError


async def update_product(self, id: str):
    raise NotImplementedError


async def delete_product(self, id: str):
    raise NotImplementedError


async def create_category(self):
    raise NotImplementedError


routes: list = []
