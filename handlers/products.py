"""Catalog routes. URLs that shoppers and staff share (the product list and
detail, categories) are one handler class each, whose methods come from
``catalog_store`` (storefront reads, reviews, recommendations) and
``catalog_admin`` (staff writes, images, exports, dashboard)."""
from __future__ import annotations

from handlers import catalog_admin as admin
from handlers import catalog_store as store
from handlers.core.base import ADMIN, USER, BaseHandler
from handlers.core.routing import Route


class ProductListHandler(BaseHandler):
    roles = {"POST": ADMIN}
    get = store.list_products
    post = admin.create_product


class ProductHandler(BaseHandler):
    not_found_message = "Product not found"
    roles = {"PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}
    get = store.get_product
    put = admin.replace_product
    patch = admin.update_product
    delete = admin.delete_product


class ProductCategoryListHandler(BaseHandler):
    roles = {"POST": ADMIN}
    get = store.list_categories
    post = admin.create_category


class ProductSearchHandler(BaseHandler):
    get = store.search_products


class ProductBySlugHandler(BaseHandler):
    not_found_message = "Product not found"
    get = store.get_product_by_slug


class CategoryBySlugHandler(BaseHandler):
    not_found_message = "Category not found"
    get = store.get_category_by_slug


class ProductFacetsHandler(BaseHandler):
    get = store.product_facets


class RecordViewHandler(BaseHandler):
    role = USER
    post = store.record_view


class RecommendationsHandler(BaseHandler):
    not_found_message = "Product not found"
    get = store.recommendations


class RecommendationsByTypeHandler(BaseHandler):
    not_found_message = "Product not found"
    get = store.recommendations_by_type


class ProductReviewsHandler(BaseHandler):
    not_found_message = "Product not found"
    roles = {"POST": USER}
    get = store.list_reviews
    post = store.create_review


class MarkHelpfulHandler(BaseHandler):
    role = USER
    post = store.mark_helpful


class ReviewTagListHandler(BaseHandler):
    get = store.list_review_tags


routes = [
    Route("/api/products/", ProductListHandler),
    Route("/api/products/categories/", ProductCategoryListHandler),
    Route("/api/products/search/", ProductSearchHandler),
    Route("/api/products/facets/", ProductFacetsHandler),
    Route("/api/products/by-slug/{slug}/", ProductBySlugHandler),
    Route("/api/categories/by-slug/{slug}/", CategoryBySlugHandler),
    Route("/api/products/record-view/", RecordViewHandler),
    Route("/api/products/{id:int}/", ProductHandler),
    Route("/api/products/{id:int}/recommendations/", RecommendationsHandler),
    Route("/api/products/{id:int}/recommendations/{rec_type}/", RecommendationsByTypeHandler),
    Route("/api/products/{id:int}/reviews/", ProductReviewsHandler),
    Route("/api/reviews/{id:int}/mark-helpful/", MarkHelpfulHandler),
    Route("/api/review-tags/", ReviewTagListHandler),
] + admin.routes
