-- Storefront search: how similar a query word must be to a word of a product
-- name for the typo-tolerant branch of the search (models/catalog/queries.py,
-- the trigram operator served by the product_name_trgm index). pg_trgm's default 0.6
-- misses common slips: word_similarity('ergonmic', 'Ergonomic Office Chair')
-- is 0.58. 0.55 keeps "table" from matching "Cable" (0.5).
-- Only the database owner may do this; elsewhere search keeps the default.
-- (No percent signs in migrations: they go through the driver's parameter formatting.)
DO $$
BEGIN
  EXECUTE 'ALTER DATABASE ' || quote_ident(current_database()) || ' SET pg_trgm.word_similarity_threshold = 0.55';
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'pg_trgm.word_similarity_threshold not set (not the database owner): typo-tolerant search uses 0.6';
END
$$;

-- Product counts by category and status, kept exact by triggers, so that the
-- product list's total (shown on every page) is a sum over a few dozen rows
-- instead of a count over every published product. Only INSERT, DELETE and
-- changes of status or category touch it (not stock or price updates), so
-- checkouts never wait on it. category_id 0 stands for "no category".
CREATE TABLE "product_count" ("category_id" INTEGER NOT NULL, "status" VARCHAR(10) NOT NULL,
  "n" INTEGER NOT NULL, PRIMARY KEY ("category_id", "status"));

INSERT INTO product_count (category_id, status, n)
  SELECT coalesce(category_id, 0), status, count(*) FROM product GROUP BY 1, 2;

-- Rows are changed in key order, so that concurrent writers cannot deadlock on them.
CREATE FUNCTION product_count_apply(changes JSONB) RETURNS void AS $$
  INSERT INTO product_count AS pc (category_id, status, n)
  SELECT (c->>'category_id')::int, c->>'status', (c->>'n')::int FROM jsonb_array_elements(changes) c
  ORDER BY 1, 2
  ON CONFLICT (category_id, status) DO UPDATE SET n = pc.n + EXCLUDED.n;
$$ LANGUAGE sql;

CREATE FUNCTION product_count_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(coalesce(jsonb_agg(jsonb_build_object('category_id', k.category_id,
    'status', k.status, 'n', k.n)), '[]'))
  FROM (SELECT coalesce(category_id, 0) AS category_id, status, count(*) AS n FROM new_rows GROUP BY 1, 2) k;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION product_count_deleted() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(coalesce(jsonb_agg(jsonb_build_object('category_id', k.category_id,
    'status', k.status, 'n', -k.n)), '[]'))
  FROM (SELECT coalesce(category_id, 0) AS category_id, status, count(*) AS n FROM old_rows GROUP BY 1, 2) k;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION product_count_moved() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(jsonb_build_array(
    jsonb_build_object('category_id', coalesce(OLD.category_id, 0), 'status', OLD.status, 'n', -1),
    jsonb_build_object('category_id', coalesce(NEW.category_id, 0), 'status', NEW.status, 'n', 1)));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION product_count_truncated() RETURNS trigger AS $$
BEGIN
  DELETE FROM product_count;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER product_count_insert AFTER INSERT ON product REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION product_count_inserted();
CREATE TRIGGER product_count_delete AFTER DELETE ON product REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION product_count_deleted();
CREATE TRIGGER product_count_update AFTER UPDATE OF status, category_id ON product FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.category_id IS DISTINCT FROM NEW.category_id)
  EXECUTE FUNCTION product_count_moved();
CREATE TRIGGER product_count_truncate AFTER TRUNCATE ON product
  FOR EACH STATEMENT EXECUTE FUNCTION product_count_truncated();

-- The catalog's version: a new value whenever something a cached storefront
-- read shows (names, descriptions, prices, status, categories, images) is
-- committed. Product search results are cached per process under it
-- (models/catalog/queries.py): a request reads this one row, and a cached
-- result is used only while the version is the one it was computed under.
-- The triggers are deferred to commit time, so the row is locked only while
-- committing (no lock waits inside transactions, no deadlocks), and stock or
-- rating updates (checkouts, reviews) do not touch it. Values come from a
-- sequence and are never reused, even after the table is emptied.
CREATE SEQUENCE "catalog_version_seq";
CREATE TABLE "catalog_version" ("id" BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CHECK ("id"),
  "version" BIGINT NOT NULL);
INSERT INTO catalog_version (id, version) VALUES (TRUE, nextval('catalog_version_seq'));

CREATE FUNCTION catalog_version_bump() RETURNS trigger AS $$
BEGIN
  INSERT INTO catalog_version AS cv (id, version) VALUES (TRUE, nextval('catalog_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('catalog_version_seq');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER catalog_version_product
  AFTER INSERT OR DELETE OR UPDATE OF name, slug, description, sku, status, category_id, base_price,
    discount_type, discount_value, main_image ON product
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_bump();
CREATE CONSTRAINT TRIGGER catalog_version_product_image AFTER INSERT OR DELETE OR UPDATE ON product_image
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_bump();
CREATE CONSTRAINT TRIGGER catalog_version_category AFTER INSERT OR DELETE OR UPDATE OF name, parent_id ON category
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_bump();
