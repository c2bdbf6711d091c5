-- Account security: sessions that can end early, one-time links bound to an address
-- and carrying no usable secret outside the database.

-- Every access token carries the user's token_version ("ver") and its session id ("sid").
-- Bumping the version ends every session of the user at once; revoking a session ends
-- that one. Both are read by the one query that loads the user on each request.
ALTER TABLE "users" ADD COLUMN "token_version" INTEGER NOT NULL DEFAULT 0;

CREATE TABLE "auth_session" (
    "id" VARCHAR(32) NOT NULL PRIMARY KEY,
    "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP
);
CREATE INDEX "auth_session_user_id" ON "auth_session" ("user_id");

-- The refresh tokens of one login form a family (= one session).
ALTER TABLE "refresh_token" ADD COLUMN "session_id" VARCHAR(32) REFERENCES "auth_session" ("id") ON DELETE CASCADE;
CREATE INDEX "refresh_token_session_id" ON "refresh_token" ("session_id");

-- One-time links: the address they were sent to, and the random nonce the task derives
-- the link from with HMAC(SECRET_KEY, nonce); token_hash stays SHA-256 of the link token.
ALTER TABLE "one_time_token" ADD COLUMN "email" VARCHAR(254);
ALTER TABLE "one_time_token" ADD COLUMN "nonce" VARCHAR(64);
CREATE INDEX "one_time_token_user_purpose_open" ON "one_time_token" ("user_id", "purpose") WHERE used_at IS NULL;

-- Blocking a customer ends every session of its user, whoever blocks it (admin screen,
-- bulk action, SQL): unblocking later does not bring old tokens back to life.
CREATE FUNCTION "customer_blocked_ends_sessions"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NOT NULL AND NEW.status = 'blocked' AND OLD.status IS DISTINCT FROM 'blocked' THEN
        UPDATE "users" SET "token_version" = "token_version" + 1 WHERE "id" = NEW.user_id;
        UPDATE "auth_session" SET "revoked_at" = now() AT TIME ZONE 'utc'
            WHERE "user_id" = NEW.user_id AND "revoked_at" IS NULL;
        UPDATE "refresh_token" SET "revoked_at" = now() AT TIME ZONE 'utc'
            WHERE "user_id" = NEW.user_id AND "revoked_at" IS NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER "customer_blocked_ends_sessions" AFTER UPDATE OF "status" ON "customer"
    FOR EACH ROW EXECUTE FUNCTION "customer_blocked_ends_sessions"();
