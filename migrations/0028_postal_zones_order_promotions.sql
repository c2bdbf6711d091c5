-- Issue 22 leftovers (orderside): zones narrowed by postal code, the
-- promotion an order used, a revived order's delivery date that could not be
-- booked again.

-- Postal-code rules of a zone (models/shipping/zones.py PostalRule, the one
-- home of the matching): a JSON array of {"start", "end"} (an inclusive range,
-- or one code when end is null) and {"prefix"} objects, normalised (upper
-- case, no spaces). ``postal_code_mode`` include: the zone covers only the
-- codes that match a rule; exclude: every code but those. Empty: no narrowing.
ALTER TABLE "shipping_zone" ADD COLUMN IF NOT EXISTS "postal_codes" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "shipping_zone" ADD COLUMN IF NOT EXISTS "postal_code_mode" VARCHAR(7) NOT NULL DEFAULT 'include';
ALTER TABLE "shipping_zone" DROP CONSTRAINT IF EXISTS "shipping_zone_postal_codes_valid";
ALTER TABLE "shipping_zone" ADD CONSTRAINT "shipping_zone_postal_codes_valid"
    CHECK (jsonb_typeof("postal_codes") = 'array' AND "postal_code_mode" IN ('include', 'exclude'));

-- The promotion that priced an order, as the cart explained it at placement
-- (models/cart/promo.py DiscountLine: promotion_id, code, name, discount_type,
-- amount, shipping_discount, description; money as two-decimal strings).
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "discount_lines" JSONB NOT NULL DEFAULT '[]';

-- Why an order's delivery date is not held (NULL: nothing to see): a hosted
-- payment that arrived after the order expired revives it, but its day may be
-- full (or gone) by then; the order goes on and staff arrange a date.
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "delivery_issue" VARCHAR(500);
CREATE INDEX IF NOT EXISTS "orders_delivery_issue" ON "orders" ("id") WHERE "delivery_issue" IS NOT NULL;
