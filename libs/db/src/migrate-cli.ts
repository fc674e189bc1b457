// `npm run db:migrate`: applies the committed migrations to $DATABASE_URL.
import { applyMigrations } from "./migrate.js";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("error: DATABASE_URL is not set");
  process.exit(1);
}
try {
  const { applied, skipped } = await applyMigrations(url);
  console.log(`migrations: ${applied.length} applied${applied.length ? ` (${applied.join(", ")})` : ""}, ${skipped.length} already applied`);
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(1);
}
