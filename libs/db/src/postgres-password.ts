// The embedded cluster's superuser password: random per cluster, kept in a file of the cluster
// directory (mode 0600; the directory itself is 0700). It used to be the fixed word `postgres`,
// which let any local process log in as superuser and, say, insert an admin token.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";

/** The file in the cluster directory that holds the superuser's password. */
export const PASSWORD_FILE = "eiaas-superuser-password";

/** The password clusters made before the random one had; only ever used to replace it. */
const LEGACY_PASSWORD = "postgres";

export function newPassword(): string {
  return randomBytes(24).toString("hex");
}

export async function writePasswordFile(clusterDir: string, password: string): Promise<void> {
  await writeFile(join(clusterDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
}

async function readPasswordFile(clusterDir: string): Promise<string | undefined> {
  const file = join(clusterDir, PASSWORD_FILE);
  return existsSync(file) ? (await readFile(file, "utf8")).trim() || undefined : undefined;
}

/** Whether `password` logs in as `postgres`; false when refused, throws on anything else. */
async function logsIn(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres" });
  try {
    await client.connect();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "28P01") return false;
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The superuser password of a running cluster made earlier: the one in its file; or, for a
 * cluster made with the old fixed password, a new random one, written to the file first and then
 * set with ALTER ROLE (a crash in between leaves a file whose password the next start sets).
 */
export async function settledPassword(clusterDir: string, port: number): Promise<string> {
  const stored = await readPasswordFile(clusterDir);
  if (stored !== undefined && (await logsIn(port, stored))) return stored;
  if (!(await logsIn(port, LEGACY_PASSWORD))) {
    const file = join(clusterDir, PASSWORD_FILE);
    throw new Error(
      `cannot log in to the embedded PostgreSQL in ${clusterDir} as "postgres": ${stored === undefined ? `${file} is missing` : `the password in ${file} is refused`} (and the old default too)`,
    );
  }
  const password = stored ?? newPassword();
  if (stored === undefined) await writePasswordFile(clusterDir, password);
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: LEGACY_PASSWORD, database: "postgres" });
  await client.connect();
  try {
    await client.query(`ALTER ROLE postgres WITH PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  return password;
}
