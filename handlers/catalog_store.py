"""Storefront catalog endpoints (methods composed into handlers/products.py)."""
from __future__ import annotations


async def list_products(self):
    raise NotImplementedError


async def get_product(self, id: str):
    raise NotImplementedError


async def list_categories(self):
    raise NotImplementedError


async def search_products(self):
    raise NotImplementedError


async def record_view(self):
    raise NotImplementedError


async def recommendations(self, id: str):
    raise NotImplementedError


async def recommendations_by_type(self, id: str, rec_type: str):
    raise NotImplementedError


async def list_reviews(self, id: str):
    raise NotImplementedError


async def create_review(self, id: str):
    raise NotImplementedError


async def mark_helpful(self, id: str):
    raise NotImplementedError


async def list_review_tags(self):
    raise NotImplementedError
