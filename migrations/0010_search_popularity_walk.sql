-- Issue 11: a search's first pages read from the most popular products down
-- (models/catalog/search.py, page_sql): product_search in ranking order within
-- a tier (popularity, then id), so that a query matching thousands of products
-- in their names ranks a few thousand rows at most, not every match.
CREATE INDEX "product_search_popularity" ON "product_search" ("num_ratings" DESC, "id" DESC);
ANALYZE product_search;
