-- Sliding expiry: a record with an idle TTL has its expires_at pushed forward on access.
ALTER TABLE "state_records" ADD COLUMN "idle_ttl_seconds" DOUBLE PRECISION;
-- A record moved to the cold tier keeps a slim row here (no value, no history) so its version count
-- continues and a write or read knows to restore it first.
ALTER TABLE "state_records" ADD COLUMN "archived" BOOLEAN NOT NULL DEFAULT false;
