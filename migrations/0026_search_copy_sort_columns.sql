-- The list's orderings in each web process's search index (issue 22: an
-- attribute-filtered product list at 100,000 products).
--
-- product_search (0007), the narrow copy the index loads and follows through
-- the change feed (0012), gains the two columns the list orders by that it
-- lacked: rating and created_at (price it has; num_ratings, the rating's tie
-- break, it has). The index then orders a filtered list itself and the page's
-- statement reads its rows by id (models/catalog/engine.py Orderings).
ALTER TABLE "product_search" ADD COLUMN "rating" NUMERIC(3, 2) NOT NULL DEFAULT 0,
  ADD COLUMN "created_at" TIMESTAMP NOT NULL DEFAULT 'epoch';
UPDATE product_search s SET rating = p.rating, created_at = p.created_at FROM product p
  WHERE p.id = s.id AND (s.rating, s.created_at) IS DISTINCT FROM (p.rating, p.created_at);
ALTER TABLE "product_search" ALTER COLUMN "rating" DROP DEFAULT, ALTER COLUMN "created_at" DROP DEFAULT;

CREATE OR REPLACE FUNCTION product_search_inserted() RETURNS trigger AS $$
BEGIN
  INSERT INTO product_search (id, status, category_id, price, stock_quantity, num_ratings, search_vector,
                              rating, created_at)
  SELECT id, status, category_id, price, stock_quantity, num_ratings, coalesce(search_vector, ''), rating, created_at
  FROM new_rows ORDER BY id;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION product_search_updated() RETURNS trigger AS $$
BEGIN
  UPDATE product_search s SET status = n.status, category_id = n.category_id, price = n.price,
    stock_quantity = n.stock_quantity, num_ratings = n.num_ratings, search_vector = coalesce(n.search_vector, ''),
    rating = n.rating, created_at = n.created_at
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE s.id = n.id
    AND (o.status, o.category_id, o.price, o.stock_quantity, o.num_ratings, o.search_vector, o.rating, o.created_at)
    IS DISTINCT FROM (n.status, n.category_id, n.price, n.stock_quantity, n.num_ratings, n.search_vector, n.rating,
                      n.created_at);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- The change feed: a new rating or creation time moves the product in the index's orderings.
CREATE OR REPLACE FUNCTION search_feed_products_updated() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('p', (SELECT array_agg(n.id) FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE (o.status, o.category_id, o.price, product_stock_band(o.stock_quantity), o.num_ratings, o.search_vector,
           o.rating, o.created_at)
      IS DISTINCT FROM
          (n.status, n.category_id, n.price, product_stock_band(n.stock_quantity), n.num_ratings, n.search_vector,
           n.rating, n.created_at)),
    NULL);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- Every web process reloads its index (the rows it holds gain the two columns).
SELECT search_feed_new_epoch();
