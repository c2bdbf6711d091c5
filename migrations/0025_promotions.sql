-- Promotions (issue 22, item 4): a promo_code row is a promotion.
-- - discount_type: percentage (discount_percentage, as before), fixed
--   (discount_amount off the eligible lines, never more than they cost) or
--   free_shipping (the quote's shipping becomes 0).
-- - automatic: no code; applies by itself to every cart it fits, inside its
--   window (valid_from/valid_to). A code promotion has a code, an automatic one none.
-- - scope: category_ids (with their subcategories unless include_subcategories
--   is false) and product_ids; both empty = the whole cart. A scoped discount
--   is computed on the eligible lines only; min_order_amount is on the whole subtotal.
-- - per_customer_limit: uses per customer (user, or e-mail for guests), kept
--   in promo_redemption: one row per order that used the promotion (deleted
--   when the order gives its use back).
-- The best applicable promotion is chosen in Python (models/cart/promo.py best_discount).
ALTER TABLE "promo_code" ALTER COLUMN "code" DROP NOT NULL;
ALTER TABLE "promo_code" ALTER COLUMN "discount_percentage" DROP NOT NULL;
ALTER TABLE "promo_code"
  ADD COLUMN "name" VARCHAR(100) NOT NULL DEFAULT '',
  ADD COLUMN "discount_type" VARCHAR(15) NOT NULL DEFAULT 'percentage',
  ADD COLUMN "discount_amount" NUMERIC(12, 2),
  ADD COLUMN "automatic" BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN "per_customer_limit" INTEGER,
  ADD COLUMN "category_ids" INTEGER[] NOT NULL DEFAULT '{}',
  ADD COLUMN "product_ids" INTEGER[] NOT NULL DEFAULT '{}',
  ADD COLUMN "include_subcategories" BOOLEAN NOT NULL DEFAULT TRUE,
  ADD CONSTRAINT "promo_code_type_valid" CHECK ("discount_type" IN ('percentage', 'fixed', 'free_shipping')),
  ADD CONSTRAINT "promo_code_value_valid" CHECK (
    ("discount_type" <> 'percentage' OR "discount_percentage" IS NOT NULL)
    AND ("discount_type" <> 'fixed' OR ("discount_amount" IS NOT NULL AND "discount_amount" > 0))),
  ADD CONSTRAINT "promo_code_code_or_automatic" CHECK (("code" IS NULL) = "automatic"),
  ADD CONSTRAINT "promo_code_per_customer_valid" CHECK ("per_customer_limit" IS NULL OR "per_customer_limit" >= 1);
-- The automatic promotions a cart read looks at (few rows: active ones only).
CREATE INDEX "promo_code_automatic" ON "promo_code" ("id") WHERE "automatic" AND "is_active";

CREATE TABLE "promo_redemption" ("id" SERIAL NOT NULL PRIMARY KEY,
  "promo_code_id" INTEGER NOT NULL REFERENCES "promo_code" ("id") ON DELETE CASCADE,
  "user_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "email" VARCHAR(254) NOT NULL DEFAULT '',
  "order_id" INTEGER,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()));
CREATE INDEX "promo_redemption_user" ON "promo_redemption" ("promo_code_id", "user_id");
CREATE INDEX "promo_redemption_email" ON "promo_redemption" ("promo_code_id", lower("email"));
CREATE INDEX "promo_redemption_order" ON "promo_redemption" ("order_id");
