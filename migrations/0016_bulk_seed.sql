-- Bulk loads (python server.py seed) in committed batches that a rerun continues.
--
-- seed_run: one row per seeding of a domain (products, customers, orders);
-- progress holds, per phase, what is done (rows, or the last product id
-- handled), written in the same transaction as the batch it counts, so an
-- interrupted run knows exactly where to go on. ids: the products the run
-- added (their children are added by later phases). At most one unfinished
-- run per seeder.
CREATE TABLE "seed_run" ("id" SERIAL NOT NULL PRIMARY KEY, "seeder" VARCHAR(20) NOT NULL,
  "target" INTEGER NOT NULL CHECK ("target" >= 0), "progress" JSONB NOT NULL DEFAULT '{}',
  "ids" INT4MULTIRANGE NOT NULL DEFAULT '{}',
  "started_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()), "finished_at" TIMESTAMP);
CREATE UNIQUE INDEX "seed_run_open" ON "seed_run" ("seeder") WHERE "finished_at" IS NULL;

-- A bulk load switches the per-row triggers it does not need off for its
-- batch (ALTER TABLE ... DISABLE TRIGGER inside the batch's transaction: other
-- writers wait for the batch and never see them off) and does once per batch
-- or once per run what they would have done per row:

-- the catalog's cache version (catalog_version_bump, per row, of migration 0003), once;
CREATE FUNCTION catalog_version_bump_now() RETURNS void AS $$
  INSERT INTO catalog_version AS cv (id, version) VALUES (TRUE, nextval('catalog_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('catalog_version_seq');
$$ LANGUAGE sql;

-- the dashboard's cache version (dashboard_version_bump of migration 0011), once;
CREATE FUNCTION dashboard_version_bump_now() RETURNS void AS $$
  INSERT INTO dashboard_version AS v (id, version) VALUES (TRUE, nextval('dashboard_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('dashboard_version_seq');
$$ LANGUAGE sql;

-- the search change feed (migration 0012): instead of logging every product
-- loaded, a new epoch, as after a TRUNCATE: every web process reloads its
-- search index (in a thread) at its next search and so sees the whole load.
CREATE FUNCTION search_feed_new_epoch() RETURNS void AS $$
  INSERT INTO search_version AS sv (id, version) VALUES (TRUE, nextval('search_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('search_version_seq'), epoch = nextval('search_epoch_seq');
$$ LANGUAGE sql;
