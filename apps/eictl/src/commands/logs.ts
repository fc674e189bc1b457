import type { Command } from "commander";
import { kindInfo } from "@eiaas/api";
import { ApiRequestError } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { action, withSession } from "../cli/session.js";

interface LogsOptions {
  follow?: boolean;
  tail?: string;
}

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .argument("<task>", "Task name (see eictl get tasks)")
    .description("Print the output of a task, kept by its node's agent")
    .option("-f, --follow", "keep printing new output")
    .option("--tail <lines>", "only the last N lines")
    .action(
      action(async (task: string, opts: LogsOptions, cmd: Command) => {
        let tailLines: number | undefined;
        if (opts.tail !== undefined) {
          if (!/^\d+$/.test(opts.tail)) throw new CliError(`invalid --tail "${opts.tail}": expected a number of lines`);
          tailLines = Number(opts.tail);
        }
        await withSession(cmd, async (s) => {
          const ns = s.namespace;
          let stream;
          try {
            stream = await s.client.taskLog(ns, task, { follow: opts.follow === true, ...(tailLines !== undefined ? { tailLines } : {}) });
          } catch (err) {
            if (!(err instanceof ApiRequestError) || err.code !== 404) throw err;
            // Tell a missing task from a missing log: the task's own 404 is the clearer message.
            await s.client.get(kindInfo("Task"), task, { namespace: ns });
            throw new CliError(`no logs for task ${ns}/${task}: the server answered 404 for its log (${err.message}); logs come from the task's node agent, which may not be serving them`);
          }
          // Ctrl-C ends a follow: stop reading and leave quietly.
          process.once("SIGINT", () => stream.destroy());
          await new Promise<void>((resolve, reject) => {
            stream.on("error", (e) => (stream.destroyed ? resolve() : reject(e)));
            stream.on("end", resolve);
            stream.on("close", resolve);
            stream.pipe(process.stdout, { end: false });
          });
        });
      }),
    );
}
