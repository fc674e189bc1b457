// deploy/docker-compose.yml and deploy/entrypoint.sh as data: the services (YAML merge keys
// resolved), and the commands the entrypoint dispatches on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { ROOT } from "./helm.js";

export const DEPLOY = join(ROOT, "deploy");
export const ENTRYPOINT = join(DEPLOY, "entrypoint.sh");
export const COMPOSE_FILE = join(DEPLOY, "docker-compose.yml");

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  user?: string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  restart?: string;
  shm_size?: string;
}
export interface Compose {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function compose(): Compose {
  const doc = parseDocument(readFileSync(COMPOSE_FILE, "utf8"), { merge: true });
  if (doc.errors.length) throw new Error(`docker-compose.yml: ${doc.errors[0]!.message}`);
  return doc.toJS({ maxAliasCount: 100 }) as Compose;
}

export const EIAAS_IMAGE = "${EIAAS_IMAGE:-eiaas:dev}";
export const eiaasServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.image === EIAAS_IMAGE);
export const agentServices = (c: Compose) => eiaasServices(c).filter(([, s]) => s.command?.[0] === "agent");
export const flag = (cmd: string[], f: string) => {
  const i = cmd.indexOf(f);
  return i < 0 ? undefined : cmd[i + 1];
};

/** The commands entrypoint.sh dispatches on, and the file each runs. */
export function entrypointCommands(): Map<string, string | null> {
  const src = readFileSync(ENTRYPOINT, "utf8");
  const out = new Map<string, string | null>();
  for (const m of src.matchAll(/^\s{2}([a-z-]+(?: \| [-a-z]+)*)\)(.*)$/gm)) {
    const target = /run_ts (\S+\.ts)/.exec(m[2]!)?.[1] ?? null;
    for (const name of m[1]!.split(" | ")) out.set(name, target);
  }
  return out;
}
