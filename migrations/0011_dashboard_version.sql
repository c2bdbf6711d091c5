-- The dashboard's version: a new value whenever a commit changes what the
-- overview reads besides orders (orders have order_version, migration 0008):
-- customers (created, deleted, their status or creation time) and abandoned
-- carts. models/dashboard/metrics.py caches the overview and the recent orders
-- per process under (order_version, catalog_version, dashboard_version, today):
-- a request reads those three rows in one statement and reuses an answer only
-- while all three are the ones it was built under. Deferred to commit time
-- like order_version; values come from a sequence and are never reused (an
-- emptied table means nothing is cached).
CREATE SEQUENCE "dashboard_version_seq";
CREATE TABLE "dashboard_version" ("id" BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CHECK ("id"),
  "version" BIGINT NOT NULL);
INSERT INTO dashboard_version (id, version) VALUES (TRUE, nextval('dashboard_version_seq'));

CREATE FUNCTION dashboard_version_bump() RETURNS trigger AS $$
BEGIN
  INSERT INTO dashboard_version AS v (id, version) VALUES (TRUE, nextval('dashboard_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('dashboard_version_seq');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER dashboard_version_customer
  AFTER INSERT OR DELETE OR UPDATE OF status, created_at ON "customer"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dashboard_version_bump();
CREATE CONSTRAINT TRIGGER dashboard_version_abandoned_cart AFTER INSERT OR DELETE OR UPDATE ON "abandoned_cart"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dashboard_version_bump();
