-- A tenant token belongs to one Tenant object, by its uid, not to whatever tenant carries its name:
-- a tenant deleted and created again under the same name is another tenant, and the first one's
-- tokens must not write into it. The API mints tenant tokens with the uid of the live tenant, and
-- refuses a tenant token whose uid is not the live tenant's of its name.
ALTER TABLE "api_tokens" ADD COLUMN "tenant_uid" UUID;

-- Tokens minted before this migration belong to the tenant of their name that is live now. Those
-- whose tenant is gone or being deleted stay without a uid, and the API refuses them (a tenant
-- created later under that name is not theirs).
UPDATE "api_tokens" AS t SET "tenant_uid" = n."uid"
FROM "tenants" AS n
WHERE t."role" = 'tenant' AND n."namespace" = '' AND n."name" = t."tenant" AND n."deletion_timestamp" IS NULL;
