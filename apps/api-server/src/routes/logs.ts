import { Router, type NextFunction, type Request, type Response } from "express";
import { kindInfo } from "@eiaas/api";
import type { ObjectStore, TaskLogStore } from "@eiaas/db";
import { z } from "zod";
import { authorize, visible } from "../http/authz.js";
import { ApiError, invalidFromZod, notFound } from "../http/errors.js";
import { param } from "./resources.js";

const TASK = kindInfo("Task");

const appendBody = z.strictObject({
  attempt: z.number().int().nonnegative().max(2_147_483_647), // an int column (task_logs.attempt)
  lines: z.array(z.string().max(16_384)).max(1_000),
});

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

/**
 * Task logs. Agents forward the tail of their tasks' output (`PUT .../tasks/{name}/log`, agent
 * token, its own tasks only) and the API serves it (`GET ...?tailLines=N&follow=true`): agents sit
 * behind NATs on the edge, so the API never dials them (the role KubeEdge's tunnel plays).
 */
export function logRouter(deps: { store: ObjectStore; logs: TaskLogStore; followPollMs?: number }): Router {
  const r = Router();
  const task = async (req: Request, verb: "get" | "update") => {
    const ns = param(req, "ns");
    const name = param(req, "name");
    const access = authorize(req.principal!, verb, TASK, ns, verb === "update" ? "status" : undefined);
    const t = await deps.store.get(TASK, ns, name);
    if (!t || !visible(access, t)) throw notFound("tasks", name);
    return t;
  };

  r.put(
    "/namespaces/:ns/tasks/:name/log",
    wrap(async (req, res) => {
      if (req.principal?.role !== "agent" && req.principal?.role !== "admin") throw new ApiError("Forbidden", "only the node agent writes task logs");
      const t = await task(req, "update");
      const parsed = appendBody.safeParse(req.body ?? {});
      if (!parsed.success) throw invalidFromZod("TaskLog", t.metadata.name, parsed.error);
      await deps.logs.append(t.metadata.namespace!, t.metadata.name, parsed.data.attempt, parsed.data.lines);
      res.status(204).end();
    }),
  );

  r.get(
    "/namespaces/:ns/tasks/:name/log",
    wrap(async (req, res) => {
      const t = await task(req, "get");
      const tailLines = req.query.tailLines;
      if (tailLines !== undefined && !(typeof tailLines === "string" && /^\d+$/.test(tailLines))) throw new ApiError("BadRequest", `tailLines: invalid value "${String(tailLines)}"`);
      const follow = req.query.follow === "true" || req.query.follow === "1";
      const ns = t.metadata.namespace!;
      const first = await deps.logs.read(ns, t.metadata.name);
      res.status(200).type("text/plain; charset=utf-8");
      let lines = first?.lines ?? [];
      if (tailLines !== undefined) lines = lines.slice(Math.max(0, lines.length - Number(tailLines)));
      for (const l of lines) res.write(`${l}\n`);
      if (!follow) return void res.end();
      res.flushHeaders();
      let attempt = first?.attempt;
      let seen = first?.total ?? 0;
      const timer = setInterval(async () => {
        try {
          const now = await deps.logs.read(ns, t.metadata.name);
          if (!now) return;
          if (now.attempt !== attempt) {
            attempt = now.attempt;
            seen = 0;
          }
          const fresh = now.total - seen;
          if (fresh > 0) for (const l of now.lines.slice(Math.max(0, now.lines.length - fresh))) res.write(`${l}\n`);
          seen = now.total;
        } catch {
          // The database is away for a moment; the next poll catches up.
        }
      }, deps.followPollMs ?? 1_000);
      const stop = () => clearInterval(timer);
      req.on("close", stop);
      res.on("close", stop);
    }),
  );
  return r;
}
