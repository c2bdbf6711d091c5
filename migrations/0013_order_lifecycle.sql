-- Orders that a shop can trust: reservations that end, two statuses for refunds,
-- revenue that counts paid orders less refunds, one price for a line, and
-- back-in-stock notices that stock given back by an unpaid order cannot fire.

-- What a refund gave back (written by the payments' refund action; the
-- same statement may run there too, hence IF NOT EXISTS).
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "refunded_amount" NUMERIC(12, 2) NOT NULL DEFAULT 0;
-- Until when an unpaid order holds its stock (NULL: it never expires, e.g. an
-- order staff recorded). Set from UNPAID_ORDER_TTL_MINUTES when it is placed.
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "reserved_until" TIMESTAMP;
-- The order took one use of its promo code; cleared once, when a cancelled
-- order gives it back (like stock_held).
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "promo_held" BOOLEAN NOT NULL DEFAULT FALSE;

-- Statuses: models/orders/tables.py (STATUSES, PAYMENT_STATUSES) is the one
-- list; tests/domain/test_order_rules.py checks these CHECKs against it.
-- (The rollups trigger names payment_status: dropped here, created again below.)
DROP TRIGGER IF EXISTS order_rollups_change ON "orders";
ALTER TABLE "orders" ALTER COLUMN "payment_status" TYPE VARCHAR(20);
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_status_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED', 'REFUNDED'));
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_payment_status_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_payment_status_valid" CHECK ("payment_status" IN
  ('PENDING', 'PAID', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED'));
ALTER TABLE "order_tracking" DROP CONSTRAINT IF EXISTS "order_tracking_status_valid";
ALTER TABLE "order_tracking" ADD CONSTRAINT "order_tracking_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED', 'REFUNDED'));
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_refunded_amount_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_refunded_amount_valid"
  CHECK ("refunded_amount" >= 0 AND "refunded_amount" <= "total");

-- Orders refunded before the amount was recorded gave all of it back.
UPDATE "orders" SET "refunded_amount" = "total" WHERE "payment_status" = 'REFUNDED' AND "refunded_amount" = 0;

-- Unpaid orders customers placed before reservations ended hold their stock
-- for the default UNPAID_ORDER_TTL_MINUTES from their creation, like new
-- ones (so the first sweep releases the old hoards). Staff-recorded orders
-- (stock reason 'admin_order') and orders holding no stock never expire.
UPDATE "orders" o SET "reserved_until" = o."created_at" + interval '30 minutes'
 WHERE o."status" = 'PENDING' AND o."payment_status" = 'PENDING' AND o."stock_held" AND o."user_id" IS NOT NULL
   AND o."reserved_until" IS NULL
   AND EXISTS (SELECT 1 FROM "stock_movement" m WHERE m."order_id" = o."id" AND m."reason" = 'order');

-- The sweeper (expire_unpaid_orders) walks expired reservations in order; the
-- cap on open unpaid orders counts a customer's.
CREATE INDEX IF NOT EXISTS "orders_unpaid_reserved" ON "orders" ("reserved_until")
  WHERE "status" = 'PENDING' AND "payment_status" = 'PENDING' AND "reserved_until" IS NOT NULL;
CREATE INDEX IF NOT EXISTS "orders_unpaid_user" ON "orders" ("user_id")
  WHERE "status" = 'PENDING' AND "payment_status" = 'PENDING' AND "reserved_until" IS NOT NULL;

-- Revenue ------------------------------------------------------------------------
-- Twins of models/orders/tables.py PAID_PAYMENT_STATUSES and
-- models/dashboard/metrics.py order_revenue (a test checks they agree): an
-- order is paid when its payment went through (refunded or not), and its
-- revenue is what was paid and kept: total less refunds (nothing once fully
-- refunded, whatever amount was recorded); 0 for unpaid orders.
CREATE OR REPLACE FUNCTION order_is_paid(payment_status VARCHAR) RETURNS BOOLEAN AS $$
  SELECT payment_status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED');
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION order_revenue(payment_status VARCHAR, total NUMERIC, refunded_amount NUMERIC)
RETURNS NUMERIC AS $$
  SELECT CASE WHEN payment_status IN ('PAID', 'PARTIALLY_REFUNDED') THEN total - refunded_amount ELSE 0 END;
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- order_daily: ``sales`` are paid orders, ``sale_value`` their revenue.
DROP FUNCTION IF EXISTS order_daily_apply(DATE, VARCHAR, VARCHAR, INTEGER, NUMERIC);
CREATE FUNCTION order_daily_apply(d DATE, st VARCHAR, ps VARCHAR, sign INTEGER, v NUMERIC, refunded NUMERIC)
RETURNS void AS $$
  INSERT INTO order_daily AS o (day, status, n, total_value, sales, sale_value)
  SELECT d, st, sign, sign * v, CASE WHEN order_is_paid(ps) THEN sign ELSE 0 END,
         sign * order_revenue(ps, v, refunded)
  ON CONFLICT (day, status) DO UPDATE SET n = o.n + EXCLUDED.n, total_value = o.total_value + EXCLUDED.total_value,
    sales = o.sales + EXCLUDED.sales, sale_value = o.sale_value + EXCLUDED.sale_value;
$$ LANGUAGE sql;

CREATE OR REPLACE FUNCTION order_rollups_row() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM order_daily_apply(OLD.created_at::date, OLD.status, OLD.payment_status, -1, OLD.total,
                              OLD.refunded_amount);
    IF OLD.customer_id IS NOT NULL THEN
      PERFORM customer_figures_apply(OLD.customer_id, -1,
        -order_revenue(OLD.payment_status, OLD.total, OLD.refunded_amount));
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM order_daily_apply(NEW.created_at::date, NEW.status, NEW.payment_status, 1, NEW.total,
                              NEW.refunded_amount);
    IF NEW.customer_id IS NOT NULL THEN
      PERFORM customer_figures_apply(NEW.customer_id, 1,
        order_revenue(NEW.payment_status, NEW.total, NEW.refunded_amount));
    END IF;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER order_rollups_change
  AFTER INSERT OR DELETE OR UPDATE OF status, payment_status, total, refunded_amount, created_at, customer_id
  ON "orders" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_rollups_row();

CREATE OR REPLACE FUNCTION dashboard_rollups_rebuild() RETURNS void AS $$
BEGIN
  LOCK TABLE orders, customer IN SHARE MODE;
  DELETE FROM order_daily;
  INSERT INTO order_daily (day, status, n, total_value, sales, sale_value)
    SELECT created_at::date, status, count(*), coalesce(sum(total), 0),
           count(*) FILTER (WHERE order_is_paid(payment_status)),
           coalesce(sum(order_revenue(payment_status, total, refunded_amount)), 0)
    FROM orders GROUP BY 1, 2;
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

DROP FUNCTION IF EXISTS order_is_sale(VARCHAR, VARCHAR);
SELECT dashboard_rollups_rebuild();

-- What a line costs ------------------------------------------------------------
-- Twin of models/catalog/tables.py line_unit_price (a test checks they agree):
-- the product's selling price (product.price: base price less its discount)
-- plus the variation's adjustment, never below zero. Inlined by the planner.
CREATE OR REPLACE FUNCTION line_unit_price(price NUMERIC, adjustment NUMERIC) RETURNS NUMERIC AS $$
  SELECT GREATEST(price + COALESCE(adjustment, 0), 0.00);
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- Back in stock / price drop ------------------------------------------------------
-- Stock that an unpaid order (pending, failed) placed within the hour gives
-- back is no restock: the order took it, nobody else could buy it meanwhile.
-- models/orders/stock.py names the order and reason of each stock change in
-- two transaction-local settings.
CREATE OR REPLACE FUNCTION stock_released_by_unpaid_order() RETURNS BOOLEAN AS $$
  SELECT EXISTS (
    SELECT 1 FROM orders o
     WHERE o.id = NULLIF(current_setting('avantlush.stock_order', true), '')::integer
       AND coalesce(current_setting('avantlush.stock_reason', true), '') NOT IN ('', 'order', 'admin_order')
       AND NOT order_is_paid(o.payment_status)
       AND o.created_at > timezone('utc', now()) - interval '1 hour');
$$ LANGUAGE sql STABLE;

-- A waiting user hears of a product at most once per notice type within this
-- cooldown, however often its stock or price flaps.
CREATE OR REPLACE FUNCTION stock_notification_cooldown() RETURNS INTERVAL AS $$
  SELECT interval '24 hours';
$$ LANGUAGE sql IMMUTABLE;

CREATE INDEX IF NOT EXISTS "stock_notification_user_product" ON "stock_notification"
  ("user_id", "product_id", "notification_type", "created_at");

CREATE OR REPLACE FUNCTION wishlist_notify(p_product INTEGER, p_variation INTEGER, p_type TEXT, p_message TEXT,
                                           p_old NUMERIC, p_new NUMERIC) RETURNS void AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM wishlist_item WHERE product_id = p_product) THEN
    RETURN;  -- nobody waits: the common case of a restock, and cheap
  END IF;
  IF p_type = 'BACK_IN_STOCK' AND stock_released_by_unpaid_order() THEN
    RETURN;
  END IF;
  WITH n AS (
    INSERT INTO stock_notification (user_id, product_id, variation_id, notification_type, message, old_price,
                                    new_price, is_read, created_at)
    SELECT w.user_id, p_product, p_variation, p_type, left(p_message, 500), p_old, p_new, FALSE,
           now() at time zone 'utc'
    FROM wishlist_item w JOIN users u ON u.id = w.user_id
    WHERE w.product_id = p_product AND u.is_active
      AND NOT EXISTS (SELECT 1 FROM stock_notification s
                       WHERE s.user_id = w.user_id AND s.product_id = p_product AND s.notification_type = p_type
                         AND s.created_at > (now() at time zone 'utc') - stock_notification_cooldown())
    RETURNING id)
  INSERT INTO outbox_job (task, args)
  SELECT 'tasks.wishlist.send_stock_notification', jsonb_build_array(n.id) FROM n;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION variation_wishlist_notify() RETURNS trigger AS $$
DECLARE
  p RECORD;
  label TEXT;
BEGIN
  SELECT id, name, status, price INTO p FROM product WHERE id = NEW.product_id;
  IF NOT FOUND OR p.status <> 'published' THEN
    RETURN NULL;
  END IF;
  label := p.name || CASE WHEN NEW.variation <> '' THEN ' (' || NEW.variation || ')' ELSE '' END;
  IF OLD.stock_quantity = 0 AND NEW.stock_quantity > 0 THEN
    PERFORM wishlist_notify(p.id, NEW.id, 'BACK_IN_STOCK', label || ' is back in stock!', NULL, NULL);
  END IF;
  IF NEW.price_adjustment < OLD.price_adjustment THEN
    PERFORM wishlist_notify(p.id, NEW.id, 'PRICE_DROP',
        label || ' is now ' || line_unit_price(p.price, NEW.price_adjustment)::text
        || ' (was ' || line_unit_price(p.price, OLD.price_adjustment)::text || ')',
        line_unit_price(p.price, OLD.price_adjustment), line_unit_price(p.price, NEW.price_adjustment));
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
