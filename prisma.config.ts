import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// The Prisma CLI runs offline with the bundled wasm schema engine ("js") and the pg adapter:
// the classic engine would download a binary, which these machines (and air-gapped edge sites)
// cannot. `prisma generate` and `prisma migrate diff` are what the project uses it for; migrations
// are applied by libs/db's migrator (docs/design.md §8 says why).
function adapterFromEnv(): PrismaPg {
  const url = new URL(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres");
  // Host/port fields, not a connection string: the adapter's shadow-DB handling overrides URLs.
  return new PrismaPg({
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
  });
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => adapterFromEnv(),
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
