-- Typed product attributes (issue 22, item 3) and slugs (item 5).
--
-- attribute: a named, typed property shoppers filter on: kind 'choice'
-- (values from attribute_value: material, colour, style) or 'number'
-- (a measure with a unit: width, height, depth in cm). Slugs name them in
-- query strings (?attr_material=oak,walnut&attr_width_min=50).
-- product_attribute_value: a product's choice values (several per attribute
-- allowed: oak and steel); attribute_id rides along (kept equal to the
-- value's by the composite foreign key) so facets group without a join.
-- product_attribute_number: a product's number per number attribute.
CREATE TABLE "attribute" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(100) NOT NULL,
  "slug" VARCHAR(60) NOT NULL, "kind" VARCHAR(10) NOT NULL, "unit" VARCHAR(20) NOT NULL DEFAULT '',
  "position" INTEGER NOT NULL DEFAULT 0, "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "attribute_kind_valid" CHECK ("kind" IN ('choice', 'number')),
  CONSTRAINT "attribute_slug_valid" CHECK ("slug" ~ '^[a-z0-9]+(-[a-z0-9]+)*$'));
CREATE UNIQUE INDEX "attribute_slug" ON "attribute" ("slug");

CREATE TABLE "attribute_value" ("id" SERIAL NOT NULL PRIMARY KEY,
  "attribute_id" INTEGER NOT NULL REFERENCES "attribute" ("id") ON DELETE CASCADE,
  "value" VARCHAR(100) NOT NULL, "slug" VARCHAR(120) NOT NULL, "position" INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT "attribute_value_slug_valid" CHECK ("slug" ~ '^[a-z0-9]+(-[a-z0-9]+)*$'));
CREATE UNIQUE INDEX "attribute_value_slug" ON "attribute_value" ("attribute_id", "slug");
CREATE UNIQUE INDEX "attribute_value_id_attribute" ON "attribute_value" ("id", "attribute_id");

CREATE TABLE "product_attribute_value" (
  "product_id" INTEGER NOT NULL REFERENCES "product" ("id") ON DELETE CASCADE,
  "value_id" INTEGER NOT NULL,
  "attribute_id" INTEGER NOT NULL,
  PRIMARY KEY ("product_id", "value_id"),
  FOREIGN KEY ("value_id", "attribute_id") REFERENCES "attribute_value" ("id", "attribute_id") ON DELETE CASCADE);
-- The filter (products of these values) and the facet counts (per value).
CREATE INDEX "product_attribute_value_value" ON "product_attribute_value" ("value_id", "product_id");

CREATE TABLE "product_attribute_number" (
  "product_id" INTEGER NOT NULL REFERENCES "product" ("id") ON DELETE CASCADE,
  "attribute_id" INTEGER NOT NULL REFERENCES "attribute" ("id") ON DELETE CASCADE,
  "value" NUMERIC(12, 2) NOT NULL,
  PRIMARY KEY ("product_id", "attribute_id"));
-- The range filter (attribute, value between) and the facets' min/max.
CREATE INDEX "product_attribute_number_value" ON "product_attribute_number" ("attribute_id", "value", "product_id");

-- The catalog cache version (0003) moves with attribute writes too: cached
-- facet counts (models/catalog/attributes.py) and search pages are keyed on it.
-- One bump per statement (an assignment of a product's attributes is a few rows).
CREATE FUNCTION catalog_version_bump_statement() RETURNS trigger AS $$
BEGIN
  PERFORM catalog_version_bump_now();
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER catalog_version_attribute AFTER INSERT OR DELETE OR UPDATE ON "attribute"
  FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump_statement();
CREATE TRIGGER catalog_version_attribute_value AFTER INSERT OR DELETE OR UPDATE ON "attribute_value"
  FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump_statement();
CREATE TRIGGER catalog_version_product_attribute_value AFTER INSERT OR DELETE OR UPDATE ON "product_attribute_value"
  FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump_statement();
CREATE TRIGGER catalog_version_product_attribute_number AFTER INSERT OR DELETE OR UPDATE ON "product_attribute_number"
  FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump_statement();

-- Slugs: product and category slugs exist since 0002 (unique, from the name
-- at create, kept on rename). Backfill any blank one left by an old import.
UPDATE "product" SET "slug" = 'product-' || "id" WHERE "slug" = '';
UPDATE "category" SET "slug" = 'category-' || "id" WHERE "slug" = '';
-- The sitemap lists published products by id (a page per 50,000 URLs).
CREATE INDEX IF NOT EXISTS "product_published_id" ON "product" ("id") WHERE "status" = 'published';
-- A category's slug may now change (explicitly, by staff): the catalog version
-- (and so the cached sitemap) follows it, as it follows a product's.
DROP TRIGGER IF EXISTS catalog_version_category ON "category";
CREATE CONSTRAINT TRIGGER catalog_version_category AFTER INSERT OR DELETE OR UPDATE OF name, slug, parent_id ON "category"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_version_bump();

-- The search index of every web process (models/catalog/engine.py, migration
-- 0012's change feed) holds each product's attribute values too: facet counts
-- and attribute filters are bitmap operations there. A change of a product's
-- attributes is logged like a change of its search columns.
CREATE FUNCTION search_feed_product_attributes() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM search_change_log('p', (SELECT array_agg(DISTINCT product_id) FROM new_rows), NULL);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM search_change_log('p', (SELECT array_agg(DISTINCT product_id) FROM old_rows), NULL);
  ELSE
    PERFORM search_change_log('p', (SELECT array_agg(DISTINCT product_id) FROM
      (SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows) x), NULL);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER search_feed_attribute_values_insert AFTER INSERT ON "product_attribute_value"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
CREATE TRIGGER search_feed_attribute_values_update AFTER UPDATE ON "product_attribute_value"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
CREATE TRIGGER search_feed_attribute_values_delete AFTER DELETE ON "product_attribute_value"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
CREATE TRIGGER search_feed_attribute_numbers_insert AFTER INSERT ON "product_attribute_number"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
CREATE TRIGGER search_feed_attribute_numbers_update AFTER UPDATE ON "product_attribute_number"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
CREATE TRIGGER search_feed_attribute_numbers_delete AFTER DELETE ON "product_attribute_number"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_product_attributes();
