// What the agents actually run, from the runtimes themselves (not from what the agents report):
// the fleet process lists each node's running attempts (GET /running); the standalone agents run
// their tasks as processes (process runtime), found in /proc by the run's marker in their
// environment, each naming its node, task, uid and attempt (EIAAS_* variables of the runtime).
// A task process outlives a frozen or dead agent, so this also sees what such an agent left running.
import { getLocal, type Deployment } from "./deployment.js";
import { taskProcesses } from "./task-processes.js";

export interface Run {
  node: string;
  namespace: string;
  name: string;
  uid: string;
  attempt: number;
  /** Where it was seen: "fleet" or "process <pid>". */
  source: string;
}

export interface AgentView {
  runs: Run[];
  /** Nodes whose view is complete (their runtime could be asked and its agent is not frozen). */
  observed: Set<string>;
}

export async function readAgentView(d: Deployment): Promise<AgentView> {
  const runs: Run[] = [];
  const observed = new Set<string>();
  if (d.fleet.running) {
    const r = await getLocal(d.fleetPort, "/running", 3_000).catch(() => undefined);
    if (r?.status === 200) {
      const body = JSON.parse(r.text) as { nodes: number; runs: Array<Omit<Run, "source">> };
      for (const run of body.runs) runs.push({ ...run, source: "fleet" });
      // Only once every node is back (after a restart) is the fleet's view whole.
      if (body.nodes === d.layout.fleet.length) for (const n of d.layout.fleet) observed.add(n.name);
    }
  }
  for (const p of await taskProcesses(d.runId)) {
    runs.push({
      node: p.env.EIAAS_NODE_NAME ?? "?",
      namespace: p.env.EIAAS_TASK_NAMESPACE ?? "?",
      name: p.env.EIAAS_TASK_NAME ?? "?",
      uid: p.env.EIAAS_TASK_UID ?? "?",
      attempt: Number(p.env.EIAAS_TASK_ATTEMPT ?? 0),
      source: `process ${p.pid}`,
    });
  }
  for (const a of d.agents) if (a.process.running && !a.process.paused) observed.add(a.node.name);
  return { runs, observed };
}
