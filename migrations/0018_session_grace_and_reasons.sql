-- Sessions for single-page apps (models/accounts/sessions.py).
-- A rotated refresh token names its successor, and every refresh token keeps what is
-- needed to sign its pair again identically (the pair's iat and the access token's
-- jti; no token is stored): the rotated token presented again within
-- REFRESH_REUSE_GRACE_SECONDS gets that very pair (two tabs refreshing at once).
ALTER TABLE "refresh_token" ADD COLUMN "issued_at" BIGINT;
ALTER TABLE "refresh_token" ADD COLUMN "access_jti" VARCHAR(64);
ALTER TABLE "refresh_token" ADD COLUMN "rotated_to" VARCHAR(64);
-- Why a refresh token stopped working and why a session ended (rotated, logout,
-- refresh_token_reuse, password_reset, google_takeover, blocked).
ALTER TABLE "refresh_token" ADD COLUMN "revoked_reason" VARCHAR(32);
ALTER TABLE "auth_session" ADD COLUMN "ended_reason" VARCHAR(32);

-- The blocking trigger of 0005, now recording its reason.
CREATE OR REPLACE FUNCTION "customer_blocked_ends_sessions"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NOT NULL AND NEW.status = 'blocked' AND OLD.status IS DISTINCT FROM 'blocked' THEN
        UPDATE "users" SET "token_version" = "token_version" + 1 WHERE "id" = NEW.user_id;
        UPDATE "auth_session" SET "revoked_at" = now() AT TIME ZONE 'utc', "ended_reason" = 'blocked'
            WHERE "user_id" = NEW.user_id AND "revoked_at" IS NULL;
        UPDATE "refresh_token" SET "revoked_at" = now() AT TIME ZONE 'utc', "revoked_reason" = 'blocked'
            WHERE "user_id" = NEW.user_id AND "revoked_at" IS NULL;
    END IF;
    RETURN NEW;
END $$;
