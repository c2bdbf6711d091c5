-- After the sale: shipments (split deliveries with carriers and tracking
-- numbers), returns with line-level refunds, and revenue that goes down on
-- the day a refund happens (not on the day of the order it refunds).

-- PARTIALLY_SHIPPED does not fit VARCHAR(12). Triggers whose definition names
-- the column must be dropped while its type changes: they are re-created
-- exactly as they are (as migration 0014 does for payment_status).
CREATE OR REPLACE FUNCTION pg_temp.widen(tbl regclass, col text, width int) RETURNS void AS $$
DECLARE
  defs text[];
  names text[];
  i int;
BEGIN
  IF (SELECT a.atttypmod - 4 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col) >= width THEN
    RETURN;
  END IF;
  SELECT coalesce(array_agg(pg_get_triggerdef(t.oid)), '{}'), coalesce(array_agg(t.tgname::text), '{}')
    INTO defs, names
    FROM pg_trigger t
    WHERE t.tgrelid = tbl AND NOT t.tgisinternal
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col
                  AND a.attnum = ANY (t.tgattr::int2[]));
  FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
    EXECUTE 'DROP TRIGGER ' || quote_ident(names[i]) || ' ON ' || tbl::text;
  END LOOP;
  EXECUTE 'ALTER TABLE ' || tbl::text || ' ALTER COLUMN ' || quote_ident(col) || ' TYPE VARCHAR(' || width || ')';
  FOR i IN 1 .. coalesce(array_length(defs, 1), 0) LOOP
    EXECUTE defs[i];
  END LOOP;
END
$$ LANGUAGE plpgsql;
SELECT pg_temp.widen('orders', 'status', 20);
SELECT pg_temp.widen('order_tracking', 'status', 20);
SELECT pg_temp.widen('order_daily', 'status', 20);
SELECT pg_temp.widen('order_status_count', 'status', 20);

-- Statuses: models/orders/tables.py (STATUSES) is the one list;
-- tests/domain/test_order_rules.py checks these CHECKs against it.
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_status_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'PARTIALLY_SHIPPED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED',
   'REFUNDED'));
ALTER TABLE "order_tracking" DROP CONSTRAINT IF EXISTS "order_tracking_status_valid";
ALTER TABLE "order_tracking" ADD CONSTRAINT "order_tracking_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'PARTIALLY_SHIPPED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED',
   'REFUNDED'));

-- Shipments ------------------------------------------------------------------------
-- Some or all units of a paid order's lines, sent together: pending (packed),
-- shipped, delivered. Carriers and their tracking URLs: models/fulfilment/carriers.py.
CREATE TABLE "shipment" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "status" VARCHAR(10) NOT NULL DEFAULT 'pending',
  "carrier" VARCHAR(20) NOT NULL DEFAULT '',
  "tracking_number" VARCHAR(100) NOT NULL DEFAULT '',
  "tracking_url" VARCHAR(500),
  "note" TEXT NOT NULL DEFAULT '',
  "created_by" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "shipped_at" TIMESTAMP,
  "delivered_at" TIMESTAMP,
  CONSTRAINT "shipment_status_valid" CHECK ("status" IN ('pending', 'shipped', 'delivered')));
CREATE INDEX "shipment_order" ON "shipment" ("order_id", "id");
-- The admin list: newest first, by status or carrier, a tracking number.
CREATE INDEX "shipment_created" ON "shipment" ("created_at", "id");
CREATE INDEX "shipment_status_created" ON "shipment" ("status", "created_at", "id");
CREATE INDEX "shipment_carrier_created" ON "shipment" ("carrier", "created_at", "id");
CREATE INDEX "shipment_tracking_number" ON "shipment" ("tracking_number") WHERE "tracking_number" <> '';

CREATE TABLE "shipment_line" (
  "shipment_id" INTEGER NOT NULL REFERENCES "shipment" ("id") ON DELETE CASCADE,
  "order_item_id" INTEGER NOT NULL REFERENCES "order_item" ("id") ON DELETE CASCADE,
  "quantity" INTEGER NOT NULL,
  PRIMARY KEY ("shipment_id", "order_item_id"),
  CONSTRAINT "shipment_line_quantity_valid" CHECK ("quantity" > 0));
CREATE INDEX "shipment_line_item" ON "shipment_line" ("order_item_id");

-- Tracking events recorded per shipment (NULL: about the whole order).
ALTER TABLE "order_tracking" ADD COLUMN IF NOT EXISTS "shipment_id" INTEGER
  REFERENCES "shipment" ("id") ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS "order_tracking_shipment" ON "order_tracking" ("shipment_id") WHERE "shipment_id" IS NOT NULL;

-- Returns ----------------------------------------------------------------------------
-- A customer asks to send back some units of a delivered order: requested,
-- then approved or rejected by staff, received, refunded (through the one
-- refund action, models/checkout/refunds.py).
CREATE TABLE "order_return" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "user_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "status" VARCHAR(10) NOT NULL DEFAULT 'requested',
  "reason" TEXT NOT NULL DEFAULT '',
  "staff_note" TEXT NOT NULL DEFAULT '',
  "refund_id" INTEGER REFERENCES "refund" ("id") ON DELETE SET NULL,
  "refund_amount" NUMERIC(12, 2),
  "restocking_fee" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "decided_at" TIMESTAMP,
  "received_at" TIMESTAMP,
  "refunded_at" TIMESTAMP,
  CONSTRAINT "order_return_status_valid"
    CHECK ("status" IN ('requested', 'approved', 'rejected', 'received', 'refunded')));
CREATE INDEX "order_return_order" ON "order_return" ("order_id", "id");
CREATE INDEX "order_return_user" ON "order_return" ("user_id", "created_at", "id");
CREATE INDEX "order_return_created" ON "order_return" ("created_at", "id");
CREATE INDEX "order_return_status_created" ON "order_return" ("status", "created_at", "id");

CREATE TABLE "return_line" (
  "return_id" INTEGER NOT NULL REFERENCES "order_return" ("id") ON DELETE CASCADE,
  "order_item_id" INTEGER NOT NULL REFERENCES "order_item" ("id") ON DELETE CASCADE,
  "quantity" INTEGER NOT NULL,
  PRIMARY KEY ("return_id", "order_item_id"),
  CONSTRAINT "return_line_quantity_valid" CHECK ("quantity" > 0));
CREATE INDEX "return_line_item" ON "return_line" ("order_item_id");

-- A return is refunded once: at most one refund attempt of it that has not failed.
ALTER TABLE "refund" ADD COLUMN IF NOT EXISTS "return_id" INTEGER REFERENCES "order_return" ("id") ON DELETE SET NULL;
ALTER TABLE "refund" ADD COLUMN IF NOT EXISTS "restocking_fee" NUMERIC(12, 2) NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX IF NOT EXISTS "refund_return_once" ON "refund" ("return_id")
  WHERE "return_id" IS NOT NULL AND "status" <> 'failed';

-- Revenue: sales on the order's day, refunds on the refund's day -----------------
-- Twin of models/dashboard/metrics.py order_sales_value (a test checks they
-- agree): what a paid order brought in on the day it was placed, before any
-- refund (refunds are subtracted on their own day, refund_daily).
CREATE OR REPLACE FUNCTION order_sales_value(payment_status VARCHAR, total NUMERIC) RETURNS NUMERIC AS $$
  SELECT CASE WHEN order_is_paid(payment_status) THEN total ELSE 0 END;
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- order_daily.sale_value: the sales of the day, refunds not taken off (the
-- signature of 0013 kept: order_rollups_row passes the refunded amount).
CREATE OR REPLACE FUNCTION order_daily_apply(d DATE, st VARCHAR, ps VARCHAR, sign INTEGER, v NUMERIC, refunded NUMERIC)
RETURNS void AS $$
  INSERT INTO order_daily AS o (day, status, n, total_value, sales, sale_value)
  SELECT d, st, sign, sign * v, CASE WHEN order_is_paid(ps) THEN sign ELSE 0 END,
         sign * order_sales_value(ps, v)
  ON CONFLICT (day, status) DO UPDATE SET n = o.n + EXCLUDED.n, total_value = o.total_value + EXCLUDED.total_value,
    sales = o.sales + EXCLUDED.sales, sale_value = o.sale_value + EXCLUDED.sale_value;
$$ LANGUAGE sql;

-- Succeeded refunds per UTC day of the refund (refund.created_at).
CREATE TABLE "refund_daily" (
  "day" DATE NOT NULL PRIMARY KEY,
  "n" BIGINT NOT NULL DEFAULT 0,
  "amount" NUMERIC(16, 2) NOT NULL DEFAULT 0);

CREATE FUNCTION refund_daily_apply(d DATE, sign INTEGER, v NUMERIC) RETURNS void AS $$
  INSERT INTO refund_daily AS r (day, n, amount) VALUES (d, sign, sign * v)
  ON CONFLICT (day) DO UPDATE SET n = r.n + EXCLUDED.n, amount = r.amount + EXCLUDED.amount;
$$ LANGUAGE sql;

CREATE FUNCTION refund_daily_row() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'succeeded' THEN
    PERFORM refund_daily_apply(OLD.created_at::date, -1, OLD.amount);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'succeeded' THEN
    PERFORM refund_daily_apply(NEW.created_at::date, 1, NEW.amount);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER refund_daily_change
  AFTER INSERT OR DELETE OR UPDATE OF status, amount, created_at ON "refund"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refund_daily_row();

CREATE OR REPLACE FUNCTION dashboard_rollups_truncated() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'orders' THEN
    DELETE FROM order_daily;
  ELSIF TG_TABLE_NAME = 'refund' THEN
    DELETE FROM refund_daily;
  ELSE
    DELETE FROM customer_daily;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER refund_daily_truncate AFTER TRUNCATE ON "refund"
  FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rollups_truncated();

-- Today's refunds are read live (models/dashboard/metrics.py).
CREATE INDEX IF NOT EXISTS "refund_succeeded_created" ON "refund" ("created_at") WHERE "status" = 'succeeded';

CREATE OR REPLACE FUNCTION dashboard_rollups_rebuild() RETURNS void AS $$
BEGIN
  LOCK TABLE orders, customer, refund IN SHARE MODE;
  DELETE FROM order_daily;
  INSERT INTO order_daily (day, status, n, total_value, sales, sale_value)
    SELECT created_at::date, status, count(*), coalesce(sum(total), 0),
           count(*) FILTER (WHERE order_is_paid(payment_status)),
           coalesce(sum(order_sales_value(payment_status, total)), 0)
    FROM orders GROUP BY 1, 2;
  DELETE FROM refund_daily;
  INSERT INTO refund_daily (day, n, amount)
    SELECT created_at::date, count(*), sum(amount) FROM refund WHERE status = 'succeeded' GROUP BY 1;
  DELETE FROM customer_daily;
  INSERT INTO customer_daily (day, status, n)
    SELECT created_at::date, status, count(*) FROM customer GROUP BY 1, 2;
  UPDATE customer c SET orders_count = coalesce(f.n, 0), balance = coalesce(f.v, 0)
    FROM customer c2 LEFT JOIN (
      SELECT customer_id, count(*) AS n, sum(order_revenue(payment_status, total, refunded_amount)) AS v
      FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id) f ON f.customer_id = c2.id
    WHERE c.id = c2.id AND (c.orders_count, c.balance) IS DISTINCT FROM (coalesce(f.n, 0), coalesce(f.v, 0));
END
$$ LANGUAGE plpgsql;

-- Refunds recorded on an order before each one was a row (or a REFUNDED
-- order without its amount) become one refund row dated by the order's last
-- change, so that revenue keeps counting them, now on that day.
INSERT INTO "refund" ("order_id", "payment_id", "amount", "status", "provider", "reason", "created_at", "updated_at")
SELECT o."id",
       (SELECT p."id" FROM "payment" p WHERE p."order_id" = o."id" ORDER BY p."id" DESC LIMIT 1),
       m.missing, 'succeeded',
       coalesce((SELECT p."provider" FROM "payment" p WHERE p."order_id" = o."id" ORDER BY p."id" DESC LIMIT 1),
                'manual'),
       'Recorded before refunds were itemised', o."updated_at", o."updated_at"
  FROM "orders" o
  CROSS JOIN LATERAL (
    SELECT (CASE WHEN o."payment_status" = 'REFUNDED' THEN o."total" ELSE o."refunded_amount" END)
           - coalesce((SELECT sum(r."amount") FROM "refund" r WHERE r."order_id" = o."id" AND r."status" = 'succeeded'),
                      0) AS missing) m
 WHERE o."payment_status" IN ('PARTIALLY_REFUNDED', 'REFUNDED') AND m.missing > 0;

SELECT dashboard_rollups_rebuild();
