-- Issue 11: search answered from an index held in each web process
-- (models/catalog/engine.py), kept current by this change feed.
--
-- Every statement that changes what a search matches, filters or ranks on
-- (product_search rows: status, category, price, stock band, popularity, the
-- search document; the lexicon search_word; the category tree) logs what it
-- touched in search_change. At commit, one deferred trigger per transaction
-- gives the transaction's rows the next search_version: the version row is
-- locked only while committing, so versions follow commit order and a reader
-- that sees version v sees every change up to v. A process's index holds
-- version v; a search reads the current version in the same statement as its
-- page, and catches up (the changes after v) before answering when they differ.

CREATE SEQUENCE "search_version_seq";
CREATE SEQUENCE "search_epoch_seq";
-- epoch: a new one whenever the row is created again (after a TRUNCATE): the log
-- before it is gone, so an index of another epoch reloads. pruned_to: the log
-- holds no change at or below it (cleanup), so an index older than that reloads.
CREATE TABLE "search_version" ("id" BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CHECK ("id"),
  "version" BIGINT NOT NULL, "epoch" BIGINT NOT NULL DEFAULT nextval('search_epoch_seq'),
  "pruned_to" BIGINT NOT NULL DEFAULT 0);
INSERT INTO search_version (id, version) VALUES (TRUE, nextval('search_version_seq'));

-- kind: 'p' a product (product_id), 'w' a lexicon word (word), 'c' the category tree.
-- version is NULL until the writing transaction commits.
CREATE TABLE "search_change" ("txid" XID8 NOT NULL DEFAULT pg_current_xact_id(), "version" BIGINT,
  "kind" CHAR(1) NOT NULL, "product_id" INTEGER, "word" TEXT);
CREATE INDEX "search_change_version" ON "search_change" ("version");
CREATE INDEX "search_change_pending" ON "search_change" ("txid") WHERE "version" IS NULL;

-- One row per writing transaction, inserted by the first change it logs; its
-- deferred trigger runs once, at commit.
CREATE TABLE "search_pending" ("txid" XID8 NOT NULL PRIMARY KEY DEFAULT pg_current_xact_id());

CREATE FUNCTION search_change_commit() RETURNS trigger AS $$
DECLARE v BIGINT;
BEGIN
  INSERT INTO search_version AS sv (id, version) VALUES (TRUE, nextval('search_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('search_version_seq') RETURNING sv.version INTO v;
  UPDATE search_change SET version = v WHERE txid = NEW.txid AND version IS NULL;
  DELETE FROM search_pending WHERE txid = NEW.txid;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER search_change_commit AFTER INSERT ON search_pending
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_change_commit();

CREATE FUNCTION search_change_log(kinds TEXT, ids INTEGER[], words TEXT[]) RETURNS void AS $$
BEGIN
  IF kinds = 'c' THEN
    INSERT INTO search_change (kind) VALUES ('c');
  ELSIF kinds = 'p' AND cardinality(ids) > 0 THEN
    INSERT INTO search_change (kind, product_id) SELECT 'p', i FROM unnest(ids) i;
  ELSIF kinds = 'w' AND cardinality(words) > 0 THEN
    INSERT INTO search_change (kind, word) SELECT 'w', w FROM unnest(words) w;
  ELSE
    RETURN;
  END IF;
  INSERT INTO search_pending DEFAULT VALUES ON CONFLICT DO NOTHING;
END
$$ LANGUAGE plpgsql;

-- product_search rows (kept from product by migration 0007's triggers).
CREATE FUNCTION search_feed_products_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('p', (SELECT array_agg(id) FROM new_rows), NULL);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE FUNCTION search_feed_products_deleted() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('p', (SELECT array_agg(id) FROM old_rows), NULL);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- A stock change matters only when the product crosses a band (out | low | in stock).
CREATE FUNCTION search_feed_products_updated() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('p', (SELECT array_agg(n.id) FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE (o.status, o.category_id, o.price, product_stock_band(o.stock_quantity), o.num_ratings, o.search_vector)
      IS DISTINCT FROM
          (n.status, n.category_id, n.price, product_stock_band(n.stock_quantity), n.num_ratings, n.search_vector)),
    NULL);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_feed_products_insert AFTER INSERT ON product_search REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_products_inserted();
CREATE TRIGGER search_feed_products_delete AFTER DELETE ON product_search REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_products_deleted();
CREATE TRIGGER search_feed_products_update AFTER UPDATE ON product_search REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_feed_products_updated();

-- The lexicon (typo candidates).
CREATE FUNCTION search_feed_words_new() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('w', NULL, (SELECT array_agg(word) FROM new_rows));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE FUNCTION search_feed_words_old() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('w', NULL, (SELECT array_agg(word) FROM old_rows));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_feed_words_insert AFTER INSERT ON search_word REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_words_new();
CREATE TRIGGER search_feed_words_update AFTER UPDATE ON search_word REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_words_new();
CREATE TRIGGER search_feed_words_delete AFTER DELETE ON search_word REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_words_old();

-- The category tree (a category filter covers the subtree).
CREATE FUNCTION search_feed_categories() RETURNS trigger AS $$
BEGIN
  PERFORM search_change_log('c', NULL, NULL);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_feed_categories AFTER INSERT OR DELETE OR UPDATE OF parent_id ON category
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_categories();

-- Emptied tables: drop the version row; the next write starts a new epoch.
CREATE FUNCTION search_feed_truncated() RETURNS trigger AS $$
BEGIN
  DELETE FROM search_version;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER search_feed_products_truncate AFTER TRUNCATE ON product_search
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_truncated();
CREATE TRIGGER search_feed_words_truncate AFTER TRUNCATE ON search_word
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_truncated();
CREATE TRIGGER search_feed_categories_truncate AFTER TRUNCATE ON category
  FOR EACH STATEMENT EXECUTE FUNCTION search_feed_truncated();
