-- Catalog: categories, tags, sizes, colors, products with variations and images,
-- reviews, views, recommendations and export jobs.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE "category" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(100) NOT NULL, "slug" VARCHAR(120) NOT NULL, "parent_id" INTEGER, "description" TEXT NOT NULL, "created_at" TIMESTAMP NOT NULL, FOREIGN KEY ("parent_id") REFERENCES "category" ("id") ON DELETE SET NULL);
CREATE UNIQUE INDEX "category_slug" ON "category" ("slug");
CREATE INDEX "category_parent_id" ON "category" ("parent_id");
CREATE TABLE "tag" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(50) NOT NULL, "slug" VARCHAR(60) NOT NULL);
CREATE UNIQUE INDEX "tag_name" ON "tag" ("name");
CREATE UNIQUE INDEX "tag_slug" ON "tag" ("slug");
CREATE TABLE "size" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(50) NOT NULL);
CREATE UNIQUE INDEX "size_name" ON "size" ("name");
CREATE TABLE "color" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(50) NOT NULL, "hex_code" VARCHAR(7) NOT NULL);
CREATE UNIQUE INDEX "color_name" ON "color" ("name");
CREATE TABLE "product" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "slug" VARCHAR(280) NOT NULL, "description" TEXT NOT NULL, "product_details" JSONB NOT NULL, "category_id" INTEGER, "base_price" NUMERIC(12, 2) NOT NULL, "discount_type" VARCHAR(10), "discount_value" NUMERIC(12, 2), "price" NUMERIC(12, 2) GENERATED ALWAYS AS (CASE
    WHEN "discount_type" = 'percentage' AND "discount_value" IS NOT NULL THEN round("base_price" * (100 - "discount_value") / 100, 2)
    WHEN "discount_type" = 'fixed' AND "discount_value" IS NOT NULL THEN greatest("base_price" - "discount_value", 0)
    ELSE "base_price" END) STORED, "vat_amount" NUMERIC(12, 2), "sku" VARCHAR(64) NOT NULL, "barcode" VARCHAR(64), "stock_quantity" INTEGER NOT NULL, "status" VARCHAR(10) NOT NULL, "is_featured" BOOLEAN NOT NULL, "is_physical_product" BOOLEAN NOT NULL, "weight" NUMERIC(10, 2), "height" NUMERIC(10, 2), "length" NUMERIC(10, 2), "width" NUMERIC(10, 2), "main_image" VARCHAR(1000), "rating" NUMERIC(3, 2) NOT NULL, "num_ratings" INTEGER NOT NULL, "search_vector" TSVECTOR, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL, FOREIGN KEY ("category_id") REFERENCES "category" ("id") ON DELETE SET NULL,
  CONSTRAINT "product_stock_not_negative" CHECK ("stock_quantity" >= 0),
  CONSTRAINT "product_status_valid" CHECK ("status" IN ('draft', 'published', 'archived')),
  CONSTRAINT "product_discount_type_valid" CHECK ("discount_type" IS NULL OR "discount_type" IN ('percentage', 'fixed')),
  CONSTRAINT "product_discount_valid" CHECK ("discount_value" IS NULL OR ("discount_value" >= 0 AND ("discount_type" <> 'percentage' OR "discount_value" <= 100))),
  CONSTRAINT "product_base_price_valid" CHECK ("base_price" >= 0),
  CONSTRAINT "product_rating_valid" CHECK ("rating" >= 0 AND "rating" <= 5));
CREATE UNIQUE INDEX "product_slug" ON "product" ("slug");
CREATE INDEX "product_category_id" ON "product" ("category_id");
CREATE UNIQUE INDEX "product_sku" ON "product" ("sku");
CREATE INDEX "product_search_vector" ON "product" USING GIN ("search_vector");
CREATE TABLE "product_tag" ("product_id" INTEGER NOT NULL, "tag_id" INTEGER NOT NULL, PRIMARY KEY ("product_id", "tag_id"), FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE, FOREIGN KEY ("tag_id") REFERENCES "tag" ("id") ON DELETE CASCADE);
CREATE INDEX "product_tag_tag_id" ON "product_tag" ("tag_id");
CREATE TABLE "product_image" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "image" VARCHAR(500) NOT NULL, "image_url" VARCHAR(1000) NOT NULL, "is_main" BOOLEAN NOT NULL, "position" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL, FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE);
CREATE INDEX "product_image_product_id" ON "product_image" ("product_id");
CREATE TABLE "product_variation" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "variation_type" VARCHAR(50) NOT NULL, "variation" VARCHAR(100) NOT NULL, "price_adjustment" NUMERIC(12, 2) NOT NULL, "stock_quantity" INTEGER NOT NULL, "sku" VARCHAR(64), "is_default" BOOLEAN NOT NULL, "created_at" TIMESTAMP NOT NULL, FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE,
  CONSTRAINT "variation_stock_not_negative" CHECK ("stock_quantity" >= 0));
CREATE INDEX "product_variation_product_id" ON "product_variation" ("product_id");
CREATE UNIQUE INDEX "product_variation_sku" ON "product_variation" ("sku");
CREATE TABLE "variation_size" ("variation_id" INTEGER NOT NULL, "size_id" INTEGER NOT NULL, PRIMARY KEY ("variation_id", "size_id"), FOREIGN KEY ("variation_id") REFERENCES "product_variation" ("id") ON DELETE CASCADE, FOREIGN KEY ("size_id") REFERENCES "size" ("id") ON DELETE CASCADE);
CREATE INDEX "variation_size_size_id" ON "variation_size" ("size_id");
CREATE TABLE "variation_color" ("variation_id" INTEGER NOT NULL, "color_id" INTEGER NOT NULL, PRIMARY KEY ("variation_id", "color_id"), FOREIGN KEY ("variation_id") REFERENCES "product_variation" ("id") ON DELETE CASCADE, FOREIGN KEY ("color_id") REFERENCES "color" ("id") ON DELETE CASCADE);
CREATE INDEX "variation_color_color_id" ON "variation_color" ("color_id");
CREATE TABLE "product_view" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "user_id" INTEGER, "viewed_at" TIMESTAMP NOT NULL, FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);
CREATE INDEX "product_view_product_id" ON "product_view" ("product_id");
CREATE INDEX "product_view_user_id" ON "product_view" ("user_id");
CREATE INDEX "product_view_viewed_at" ON "product_view" ("viewed_at");
CREATE TABLE "product_recommendation" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "recommended_id" INTEGER NOT NULL, "kind" VARCHAR(20) NOT NULL, "score" REAL NOT NULL, FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE, FOREIGN KEY ("recommended_id") REFERENCES "product" ("id") ON DELETE CASCADE);
CREATE INDEX "product_recommendation_recommended_id" ON "product_recommendation" ("recommended_id");
CREATE UNIQUE INDEX "product_recommendation_product_id_kind_recommended_id" ON "product_recommendation" ("product_id", "kind", "recommended_id");
CREATE TABLE "review_tag" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(50) NOT NULL, "slug" VARCHAR(60) NOT NULL);
CREATE UNIQUE INDEX "review_tag_name" ON "review_tag" ("name");
CREATE UNIQUE INDEX "review_tag_slug" ON "review_tag" ("slug");
CREATE TABLE "review" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL, "variant_id" INTEGER, "rating" SMALLINT NOT NULL, "content" TEXT NOT NULL, "is_verified_purchase" BOOLEAN NOT NULL, "helpful_count" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL,
  CONSTRAINT "review_rating_valid" CHECK ("rating" BETWEEN 1 AND 5), FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE, FOREIGN KEY ("variant_id") REFERENCES "product_variation" ("id") ON DELETE SET NULL);
CREATE INDEX "review_user_id" ON "review" ("user_id");
CREATE INDEX "review_variant_id" ON "review" ("variant_id");
CREATE UNIQUE INDEX "review_product_id_user_id" ON "review" ("product_id", "user_id");
CREATE TABLE "review_tag_link" ("review_id" INTEGER NOT NULL, "tag_id" INTEGER NOT NULL, PRIMARY KEY ("review_id", "tag_id"), FOREIGN KEY ("review_id") REFERENCES "review" ("id") ON DELETE CASCADE, FOREIGN KEY ("tag_id") REFERENCES "review_tag" ("id") ON DELETE CASCADE);
CREATE INDEX "review_tag_link_tag_id" ON "review_tag_link" ("tag_id");
CREATE TABLE "review_image" ("id" SERIAL NOT NULL PRIMARY KEY, "review_id" INTEGER NOT NULL, "image_url" VARCHAR(1000) NOT NULL, FOREIGN KEY ("review_id") REFERENCES "review" ("id") ON DELETE CASCADE);
CREATE INDEX "review_image_review_id" ON "review_image" ("review_id");
CREATE TABLE "review_helpful" ("review_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL, PRIMARY KEY ("review_id", "user_id"), FOREIGN KEY ("review_id") REFERENCES "review" ("id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);
CREATE INDEX "review_helpful_user_id" ON "review_helpful" ("user_id");
CREATE TABLE "export_job" ("id" UUID NOT NULL PRIMARY KEY, "kind" VARCHAR(20) NOT NULL, "params" JSONB NOT NULL, "status" VARCHAR(10) NOT NULL, "file" VARCHAR(500), "row_count" INTEGER, "error" TEXT, "created_by_id" INTEGER, "created_at" TIMESTAMP NOT NULL, "finished_at" TIMESTAMP, FOREIGN KEY ("created_by_id") REFERENCES "users" ("id") ON DELETE SET NULL);
CREATE INDEX "export_job_created_by_id" ON "export_job" ("created_by_id");

-- Filters and orderings the product lists offer (status first: shoppers see published only).
CREATE INDEX "product_status_created" ON "product" ("status", "created_at" DESC, "id" DESC);
CREATE INDEX "product_status_price" ON "product" ("status", "price");
CREATE INDEX "product_status_name" ON "product" ("status", "name");
CREATE INDEX "product_status_stock" ON "product" ("status", "stock_quantity");
CREATE INDEX "product_category_status" ON "product" ("category_id", "status", "created_at" DESC);
CREATE INDEX "product_created" ON "product" ("created_at" DESC, "id" DESC);
CREATE INDEX "product_stock" ON "product" ("stock_quantity");
CREATE INDEX "product_featured" ON "product" ("is_featured") WHERE "is_featured";
-- Typo-tolerant search (pg_trgm) on name and SKU.
CREATE INDEX "product_name_trgm" ON "product" USING GIN ("name" gin_trgm_ops);
CREATE INDEX "product_sku_trgm" ON "product" USING GIN ("sku" gin_trgm_ops);
CREATE INDEX "category_name_trgm" ON "category" USING GIN ("name" gin_trgm_ops);
CREATE INDEX "review_product_created" ON "review" ("product_id", "created_at" DESC);
CREATE INDEX "product_image_product_position" ON "product_image" ("product_id", "position", "id");
CREATE INDEX "export_job_created" ON "export_job" ("created_at");
CREATE UNIQUE INDEX "product_variation_one_default" ON "product_variation" ("product_id") WHERE "is_default";

-- Full-text search document: name and SKU weigh most, then category, then description.
CREATE FUNCTION product_search_vector_update() RETURNS trigger AS $$
BEGIN
  NEW.search_vector :=
      setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A')
   || setweight(to_tsvector('simple', coalesce(NEW.sku, '')), 'A')
   || setweight(to_tsvector('english', coalesce((SELECT name FROM category WHERE id = NEW.category_id), '')), 'B')
   || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER product_search_vector BEFORE INSERT OR UPDATE OF name, sku, description, category_id
  ON product FOR EACH ROW EXECUTE FUNCTION product_search_vector_update();

-- A renamed category re-indexes its products.
CREATE FUNCTION category_rename_reindex() RETURNS trigger AS $$
BEGIN
  IF NEW.name IS DISTINCT FROM OLD.name THEN
    UPDATE product SET category_id = category_id WHERE category_id = NEW.id;
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER category_rename_reindex AFTER UPDATE OF name ON category
  FOR EACH ROW EXECUTE FUNCTION category_rename_reindex();
