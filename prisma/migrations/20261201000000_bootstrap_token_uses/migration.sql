-- Bootstrap tokens get a use count: `max_uses` registrations (NULL: no limit), `uses` spent so far.
-- A registration spends one use in a single conditional UPDATE, so concurrent registrations can
-- never both spend the last one. Tokens minted before this migration keep no limit (NULL), as they
-- were created under that rule; the API now mints single-use tokens unless asked otherwise.
ALTER TABLE "api_tokens" ADD COLUMN "max_uses" INTEGER,
ADD COLUMN "uses" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_uses_check" CHECK ("uses" >= 0 AND ("max_uses" IS NULL OR "max_uses" >= 1));
