-- Cart (lines per product + variation), promo codes, shipping methods,
-- wishlist with back-in-stock / price-drop notifications, abandoned carts.

CREATE TABLE "shipping_method" ("id" SERIAL NOT NULL PRIMARY KEY, "name" VARCHAR(100) NOT NULL,
  "description" TEXT NOT NULL DEFAULT '', "price" NUMERIC(12, 2) NOT NULL, "estimated_days" INTEGER NOT NULL,
  "is_active" BOOLEAN NOT NULL DEFAULT TRUE, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL,
  CONSTRAINT "shipping_method_price_valid" CHECK ("price" >= 0),
  CONSTRAINT "shipping_method_days_valid" CHECK ("estimated_days" >= 0));
CREATE INDEX "shipping_method_active" ON "shipping_method" ("is_active", "price", "id");

CREATE TABLE "promo_code" ("id" SERIAL NOT NULL PRIMARY KEY, "code" VARCHAR(50) NOT NULL,
  "discount_percentage" NUMERIC(5, 2) NOT NULL, "valid_from" TIMESTAMP, "valid_to" TIMESTAMP,
  "min_order_amount" NUMERIC(12, 2) NOT NULL DEFAULT 0, "usage_limit" INTEGER, "times_used" INTEGER NOT NULL DEFAULT 0,
  "is_active" BOOLEAN NOT NULL DEFAULT TRUE, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL,
  CONSTRAINT "promo_code_percentage_valid" CHECK ("discount_percentage" > 0 AND "discount_percentage" <= 100),
  CONSTRAINT "promo_code_min_valid" CHECK ("min_order_amount" >= 0),
  CONSTRAINT "promo_code_limit_valid" CHECK ("usage_limit" IS NULL OR "usage_limit" >= 0),
  CONSTRAINT "promo_code_used_valid" CHECK ("times_used" >= 0),
  CONSTRAINT "promo_code_window_valid" CHECK ("valid_from" IS NULL OR "valid_to" IS NULL OR "valid_from" <= "valid_to"));
-- Codes match case-insensitively.
CREATE UNIQUE INDEX "promo_code_code_ci" ON "promo_code" (upper("code"));
CREATE INDEX "promo_code_created" ON "promo_code" ("created_at" DESC, "id" DESC);

-- An episode of a cart left idle with items (see models/cart/abandoned.py).
CREATE TABLE "abandoned_cart" ("id" SERIAL NOT NULL PRIMARY KEY, "cart_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL,
  "abandoned_at" TIMESTAMP NOT NULL, "items" JSONB NOT NULL, "subtotal" NUMERIC(12, 2) NOT NULL,
  "token" VARCHAR(64) NOT NULL, "reminders_sent" SMALLINT NOT NULL DEFAULT 0, "last_reminder_at" TIMESTAMP,
  "restored_at" TIMESTAMP, "order_id" INTEGER, "recovered_at" TIMESTAMP, "closed_at" TIMESTAMP,
  FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE,
  CONSTRAINT "abandoned_cart_reminders_valid" CHECK ("reminders_sent" BETWEEN 0 AND 2));
CREATE UNIQUE INDEX "abandoned_cart_token" ON "abandoned_cart" ("token");
CREATE INDEX "abandoned_cart_cart_id" ON "abandoned_cart" ("cart_id");
CREATE INDEX "abandoned_cart_user_id" ON "abandoned_cart" ("user_id");
CREATE INDEX "abandoned_cart_abandoned_at" ON "abandoned_cart" ("abandoned_at");
CREATE INDEX "abandoned_cart_open" ON "abandoned_cart" ("last_reminder_at") WHERE "closed_at" IS NULL;
CREATE INDEX "abandoned_cart_order_id" ON "abandoned_cart" ("order_id") WHERE "order_id" IS NOT NULL;

CREATE TABLE "cart" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "promo_code_id" INTEGER,
  "abandoned_cart_id" INTEGER, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL,
  FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("promo_code_id") REFERENCES "promo_code" ("id") ON DELETE SET NULL,
  FOREIGN KEY ("abandoned_cart_id") REFERENCES "abandoned_cart" ("id") ON DELETE SET NULL);
CREATE UNIQUE INDEX "cart_user_id" ON "cart" ("user_id");
CREATE INDEX "cart_promo_code_id" ON "cart" ("promo_code_id");
CREATE INDEX "cart_abandoned_cart_id" ON "cart" ("abandoned_cart_id");
CREATE INDEX "cart_updated_at" ON "cart" ("updated_at");
ALTER TABLE "abandoned_cart" ADD FOREIGN KEY ("cart_id") REFERENCES "cart" ("id") ON DELETE CASCADE;

CREATE TABLE "cart_item" ("id" SERIAL NOT NULL PRIMARY KEY, "cart_id" INTEGER NOT NULL, "product_id" INTEGER NOT NULL,
  "variation_id" INTEGER, "quantity" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL, "updated_at" TIMESTAMP NOT NULL,
  FOREIGN KEY ("cart_id") REFERENCES "cart" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("variation_id") REFERENCES "product_variation" ("id") ON DELETE CASCADE,
  CONSTRAINT "cart_item_quantity_valid" CHECK ("quantity" > 0));
-- One line per product + variation: concurrent adds meet here (INSERT ... ON CONFLICT).
CREATE UNIQUE INDEX "cart_item_line" ON "cart_item" ("cart_id", "product_id", (COALESCE("variation_id", 0)));
CREATE INDEX "cart_item_product_id" ON "cart_item" ("product_id");
CREATE INDEX "cart_item_variation_id" ON "cart_item" ("variation_id");

CREATE TABLE "wishlist" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "created_at" TIMESTAMP NOT NULL,
  FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "wishlist_user_id" ON "wishlist" ("user_id");

CREATE TABLE "wishlist_item" ("id" SERIAL NOT NULL PRIMARY KEY, "wishlist_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL,
  "product_id" INTEGER NOT NULL, "added_at" TIMESTAMP NOT NULL,
  FOREIGN KEY ("wishlist_id") REFERENCES "wishlist" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "wishlist_item_user_product" ON "wishlist_item" ("user_id", "product_id");
CREATE INDEX "wishlist_item_wishlist_added" ON "wishlist_item" ("wishlist_id", "added_at" DESC, "id" DESC);
-- The notification triggers find a product's waiting users here.
CREATE INDEX "wishlist_item_product_id" ON "wishlist_item" ("product_id");

CREATE TABLE "stock_notification" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL,
  "product_id" INTEGER NOT NULL, "variation_id" INTEGER, "notification_type" VARCHAR(20) NOT NULL,
  "message" VARCHAR(500) NOT NULL, "old_price" NUMERIC(12, 2), "new_price" NUMERIC(12, 2),
  "is_read" BOOLEAN NOT NULL DEFAULT FALSE, "emailed_at" TIMESTAMP, "created_at" TIMESTAMP NOT NULL,
  FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("variation_id") REFERENCES "product_variation" ("id") ON DELETE SET NULL,
  CONSTRAINT "stock_notification_type_valid" CHECK ("notification_type" IN ('BACK_IN_STOCK', 'PRICE_DROP')));
CREATE INDEX "stock_notification_user_created" ON "stock_notification" ("user_id", "created_at" DESC, "id" DESC);
CREATE INDEX "stock_notification_user_unread" ON "stock_notification" ("user_id") WHERE NOT "is_read";
CREATE INDEX "stock_notification_product_id" ON "stock_notification" ("product_id");
CREATE INDEX "stock_notification_variation_id" ON "stock_notification" ("variation_id");

-- Back in stock and price drops, detected where stock and prices change:
-- whatever the writer (admin edit, bulk action, cancelled order, script), a
-- published product's stock going from 0 to more than 0 writes one
-- BACK_IN_STOCK notification per user waiting for it (on their wishlist) and
-- queues one email each through the outbox, in the writer's transaction; a
-- fall of the effective price writes PRICE_DROP ones. Restocking what is in
-- stock, or a price rise, writes nothing.
CREATE FUNCTION wishlist_notify(p_product INTEGER, p_variation INTEGER, p_type TEXT, p_message TEXT,
                                p_old NUMERIC, p_new NUMERIC) RETURNS void AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM wishlist_item WHERE product_id = p_product) THEN
    RETURN;  -- nobody waits: the common case of a restock, and cheap
  END IF;
  WITH n AS (
    INSERT INTO stock_notification (user_id, product_id, variation_id, notification_type, message, old_price,
                                    new_price, is_read, created_at)
    SELECT w.user_id, p_product, p_variation, p_type, left(p_message, 500), p_old, p_new, FALSE,
           now() at time zone 'utc'
    FROM wishlist_item w JOIN users u ON u.id = w.user_id
    WHERE w.product_id = p_product AND u.is_active
    RETURNING id)
  INSERT INTO outbox_job (task, args)
  SELECT 'tasks.wishlist.send_stock_notification', jsonb_build_array(n.id) FROM n;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION product_wishlist_notify() RETURNS trigger AS $$
BEGIN
  IF NEW.status <> 'published' THEN
    RETURN NULL;
  END IF;
  IF OLD.stock_quantity = 0 AND NEW.stock_quantity > 0 THEN
    PERFORM wishlist_notify(NEW.id, NULL, 'BACK_IN_STOCK', NEW.name || ' is back in stock!', NULL, NULL);
  END IF;
  IF NEW.price < OLD.price THEN
    PERFORM wishlist_notify(NEW.id, NULL, 'PRICE_DROP',
                            NEW.name || ' is now ' || NEW.price::text || ' (was ' || OLD.price::text || ')',
                            OLD.price, NEW.price);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- AFTER: the generated price column is computed by then.
CREATE TRIGGER product_wishlist_notify AFTER UPDATE OF stock_quantity, base_price, discount_type, discount_value
  ON product FOR EACH ROW
  WHEN ((OLD.stock_quantity = 0 AND NEW.stock_quantity > 0) OR NEW.price < OLD.price)
  EXECUTE FUNCTION product_wishlist_notify();

CREATE FUNCTION variation_wishlist_notify() RETURNS trigger AS $$
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
        label || ' is now ' || greatest(p.price + NEW.price_adjustment, 0)::text
        || ' (was ' || greatest(p.price + OLD.price_adjustment, 0)::text || ')',
        greatest(p.price + OLD.price_adjustment, 0), greatest(p.price + NEW.price_adjustment, 0));
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER variation_wishlist_notify AFTER UPDATE OF stock_quantity, price_adjustment
  ON product_variation FOR EACH ROW
  WHEN ((OLD.stock_quantity = 0 AND NEW.stock_quantity > 0) OR NEW.price_adjustment < OLD.price_adjustment)
  EXECUTE FUNCTION variation_wishlist_notify();
