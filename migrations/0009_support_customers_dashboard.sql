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
