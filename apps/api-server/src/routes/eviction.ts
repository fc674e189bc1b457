import { Router, type NextFunction, type Request, type Response } from "express";
import { kindInfo } from "@eiaas/api";
import { StoreError, type ObjectStore } from "@eiaas/db";
import { ApiError, notFound } from "../http/errors.js";
import { param } from "./resources.js";

const TASK = kindInfo("Task");

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

/**
 * `POST .../namespaces/{ns}/tasks/{name}/eviction` (Kubernetes' pods/eviction): the task fails with
 * reason Evicted, its agent stops it, and its workload is re-planned — on other nodes when this one
 * is cordoned (what `eictl drain` does for each task of the node). Admin only.
 */
export function evictionRouter(deps: { store: ObjectStore }): Router {
  const r = Router();
  r.post(
    "/namespaces/:ns/tasks/:name/eviction",
    wrap(async (req, res) => {
      if (req.principal?.role !== "admin") throw new ApiError("Forbidden", `${req.principal?.role} tokens cannot evict tasks`);
      const ns = param(req, "ns");
      const name = param(req, "name");
      for (let attempt = 0; ; attempt++) {
        const task = await deps.store.get(TASK, ns, name);
        if (!task) throw notFound("tasks", name);
        const phase = task.status?.phase ?? "";
        if (phase !== "Succeeded" && phase !== "Failed") {
          const status = { ...task.status, phase: "Failed", reason: "Evicted", message: `evicted from node ${task.spec.nodeName}`, finishTime: new Date().toISOString() };
          try {
            await deps.store.updateStatus(TASK, task, status);
          } catch (err) {
            if (err instanceof StoreError && err.reason === "Conflict" && attempt < 5) continue;
            throw err;
          }
        }
        res.status(201).json({ apiVersion: "v1", kind: "Status", metadata: {}, status: "Success", code: 201, details: { name, kind: "tasks" } });
        return;
      }
    }),
  );
  return r;
}
