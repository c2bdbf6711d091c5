-- Support tickets, customers (admin-created addresses), dashboard rollups.

-- Support -----------------------------------------------------------------
CREATE TABLE "support_ticket" (
    "id" SERIAL PRIMARY KEY,
    "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "full_name" VARCHAR(255) NOT NULL DEFAULT '',
    "subject" VARCHAR(255) NOT NULL DEFAULT '',
    "message" TEXT NOT NULL,
    "status" VARCHAR(12) NOT NULL DEFAULT 'OPEN'
        CHECK (status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')),
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
-- A customer's own list and the staff list, newest first, optionally by status.
CREATE INDEX "support_ticket_user_created" ON "support_ticket" ("user_id", "created_at" DESC, "id" DESC);
CREATE INDEX "support_ticket_created" ON "support_ticket" ("created_at" DESC, "id" DESC);
CREATE INDEX "support_ticket_status_created" ON "support_ticket" ("status", "created_at" DESC, "id" DESC);

CREATE TABLE "support_ticket_event" (
    "id" SERIAL PRIMARY KEY,
    "ticket_id" INTEGER NOT NULL REFERENCES "support_ticket" ("id") ON DELETE CASCADE,
    "author_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
    "kind" VARCHAR(10) NOT NULL CHECK (kind IN ('reply', 'status')),
    "message" TEXT NOT NULL DEFAULT '',
    "status" VARCHAR(12) NOT NULL DEFAULT '',
    "created_at" TIMESTAMP NOT NULL,
    "emailed_at" TIMESTAMP
);
CREATE INDEX "support_ticket_event_ticket" ON "support_ticket_event" ("ticket_id", "id");
CREATE INDEX "support_ticket_event_author" ON "support_ticket_event" ("author_id");

-- Customers ------------------------------------------------------------------
-- Per-customer order figures, kept by the orders triggers below, so that the
-- customer list can filter and sort by them with an index instead of
-- aggregating every order. ``balance`` is the customer's sales value (see
-- order_is_sale()).
ALTER TABLE "customer" ADD COLUMN "orders_count" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "customer" ADD COLUMN "balance" NUMERIC(14, 2) NOT NULL DEFAULT 0;
-- Every filter and ordering of GET /api/customers/ (ties broken by id).
CREATE INDEX "customer_created_id" ON "customer" ("created_at" DESC, "id" DESC);
CREATE INDEX "customer_status_created_id" ON "customer" ("status", "created_at" DESC, "id" DESC);
CREATE INDEX "customer_name_id" ON "customer" ("name", "id");
CREATE INDEX "customer_orders_count_id" ON "customer" ("orders_count", "id");
CREATE INDEX "customer_balance_id" ON "customer" ("balance", "id");
CREATE INDEX "customer_search_trgm" ON "customer" USING GIN
  (("name" || ' ' || "email" || ' ' || "phone") gin_trgm_ops);

-- The address of an admin-created customer without an account (customers with
-- an account keep theirs in "address").
CREATE TABLE "customer_address" (
  "customer_id" INTEGER PRIMARY KEY REFERENCES "customer" ("id") ON DELETE CASCADE,
  "full_name" VARCHAR(255) NOT NULL DEFAULT '',
  "email" VARCHAR(254) NOT NULL DEFAULT '',
  "phone_number" VARCHAR(20) NOT NULL DEFAULT '',
  "street_address" VARCHAR(255) NOT NULL DEFAULT '',
  "city" VARCHAR(100) NOT NULL DEFAULT '',
  "state" VARCHAR(100) NOT NULL DEFAULT '',
  "country" VARCHAR(100) NOT NULL DEFAULT '',
  "zip_code" VARCHAR(20) NOT NULL DEFAULT '',
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()));

-- Dashboard rollups -------------------------------------------------------------
-- The one definition of a sale (revenue, balance, total spent): an order that
-- was not cancelled or returned and whose payment did not fail or get refunded.
-- models/dashboard/metrics.py states the same rule for the live queries.
CREATE FUNCTION order_is_sale(status VARCHAR, payment_status VARCHAR) RETURNS BOOLEAN AS $$
  SELECT status NOT IN ('CANCELLED', 'RETURNED') AND payment_status NOT IN ('FAILED', 'REFUNDED');
$$ LANGUAGE sql IMMUTABLE;

-- Orders per UTC day of creation and current status: all of them, and the
-- sales among them (order_is_sale), with their values. At most seven rows a day.
CREATE TABLE "order_daily" (
  "day" DATE NOT NULL,
  "status" VARCHAR(12) NOT NULL,
  "n" BIGINT NOT NULL DEFAULT 0,
  "total_value" NUMERIC(16, 2) NOT NULL DEFAULT 0,
  "sales" BIGINT NOT NULL DEFAULT 0,
  "sale_value" NUMERIC(16, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY ("day", "status"));

-- Customers per UTC day of creation and current status.
CREATE TABLE "customer_daily" (
  "day" DATE NOT NULL,
  "status" VARCHAR(10) NOT NULL,
  "n" BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY ("day", "status"));

-- One order's share (sign -1 to take it away) of its day's row.
CREATE FUNCTION order_daily_apply(d DATE, st VARCHAR, ps VARCHAR, sign INTEGER, v NUMERIC) RETURNS void AS $$
  INSERT INTO order_daily AS o (day, status, n, total_value, sales, sale_value)
  SELECT d, st, sign, sign * v, CASE WHEN s THEN sign ELSE 0 END, CASE WHEN s THEN sign * v ELSE 0 END
  FROM (SELECT order_is_sale(st, ps) AS s) x
  ON CONFLICT (day, status) DO UPDATE SET n = o.n + EXCLUDED.n, total_value = o.total_value + EXCLUDED.total_value,
    sales = o.sales + EXCLUDED.sales, sale_value = o.sale_value + EXCLUDED.sale_value;
$$ LANGUAGE sql;

CREATE FUNCTION customer_figures_apply(cid INTEGER, dn INTEGER, dv NUMERIC) RETURNS void AS $$
  UPDATE customer SET orders_count = orders_count + dn, balance = balance + dv WHERE id = cid;
$$ LANGUAGE sql;

-- Deferred to commit time like order_status_count: OLD/NEW are the row as each
-- statement left it, so every firing accounts for exactly one change.
CREATE FUNCTION order_rollups_row() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM order_daily_apply(OLD.created_at::date, OLD.status, OLD.payment_status, -1, OLD.total);
    IF OLD.customer_id IS NOT NULL THEN
      PERFORM customer_figures_apply(OLD.customer_id, -1,
        CASE WHEN order_is_sale(OLD.status, OLD.payment_status) THEN -OLD.total ELSE 0 END);
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM order_daily_apply(NEW.created_at::date, NEW.status, NEW.payment_status, 1, NEW.total);
    IF NEW.customer_id IS NOT NULL THEN
      PERFORM customer_figures_apply(NEW.customer_id, 1,
        CASE WHEN order_is_sale(NEW.status, NEW.payment_status) THEN NEW.total ELSE 0 END);
    END IF;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER order_rollups_change
  AFTER INSERT OR DELETE OR UPDATE OF status, payment_status, total, created_at, customer_id ON "orders"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_rollups_row();

CREATE FUNCTION customer_daily_row() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO customer_daily AS c (day, status, n) VALUES (OLD.created_at::date, OLD.status, -1)
      ON CONFLICT (day, status) DO UPDATE SET n = c.n - 1;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO customer_daily AS c (day, status, n) VALUES (NEW.created_at::date, NEW.status, 1)
      ON CONFLICT (day, status) DO UPDATE SET n = c.n + 1;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER customer_daily_change
  AFTER INSERT OR DELETE OR UPDATE OF status, created_at ON "customer"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION customer_daily_row();

CREATE FUNCTION dashboard_rollups_truncated() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'orders' THEN
    DELETE FROM order_daily;
  ELSE
    DELETE FROM customer_daily;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER order_daily_truncate AFTER TRUNCATE ON "orders"
  FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rollups_truncated();
CREATE TRIGGER customer_daily_truncate AFTER TRUNCATE ON "customer"
  FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rollups_truncated();

-- Recompute every rollup from the source rows (nightly beat task, and after bulk
-- loads that bypass the triggers). Writers wait while it runs.
CREATE FUNCTION dashboard_rollups_rebuild() RETURNS void AS $$
BEGIN
  LOCK TABLE orders, customer IN SHARE MODE;
  DELETE FROM order_daily;
  INSERT INTO order_daily (day, status, n, total_value, sales, sale_value)
    SELECT created_at::date, status, count(*), coalesce(sum(total), 0),
           count(*) FILTER (WHERE order_is_sale(status, payment_status)),
           coalesce(sum(total) FILTER (WHERE order_is_sale(status, payment_status)), 0)
    FROM orders GROUP BY 1, 2;
  DELETE FROM customer_daily;
  INSERT INTO customer_daily (day, status, n)
    SELECT created_at::date, status, count(*) FROM customer GROUP BY 1, 2;
  UPDATE customer c SET orders_count = coalesce(f.n, 0), balance = coalesce(f.v, 0)
    FROM customer c2 LEFT JOIN (
      SELECT customer_id, count(*) AS n,
             sum(CASE WHEN order_is_sale(status, payment_status) THEN total ELSE 0 END) AS v
      FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id) f ON f.customer_id = c2.id
    WHERE c.id = c2.id AND (c.orders_count, c.balance) IS DISTINCT FROM (coalesce(f.n, 0), coalesce(f.v, 0));
END
$$ LANGUAGE plpgsql;
