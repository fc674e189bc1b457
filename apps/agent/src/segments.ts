import { readFile, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { taskEnvironment, type SegmentArtifacts, type TaskRunSpec } from "@eiaas/runtime";

/** A file name of the segment directory: no path, no hidden or parent entries. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * Serve tasks' segments from a directory the node's operator provisioned (`--segment-dir`): the
 * task names its files in `EIAAS_SEGMENT_FILE` (and `EIAAS_EXIT_HEAD_FILE`), plain names inside
 * that directory. The names come from the tenant's template, so nothing outside the directory can
 * be named: no separators, no `..`, and a link leading out of it is refused too.
 */
export function segmentsFromDirectory(dir: string): (task: TaskRunSpec) => Promise<SegmentArtifacts> {
  const read = async (variable: string, name: string | undefined): Promise<Uint8Array> => {
    if (name === undefined || name === "") throw new Error(`the task names no ${variable} (a file of the agent's segment directory)`);
    if (!FILE_NAME.test(name)) throw new Error(`${variable}: "${name.slice(0, 100)}" is not a plain file name`);
    const root = await realpath(dir);
    let path: string;
    try {
      path = await realpath(join(root, name));
    } catch {
      throw new Error(`${variable}: no file "${name}" in the agent's segment directory`);
    }
    if (!path.startsWith(root + sep)) throw new Error(`${variable}: "${name}" leads out of the agent's segment directory`);
    return readFile(path);
  };
  return async (task) => {
    const env = taskEnvironment(task);
    const segment = await read("EIAAS_SEGMENT_FILE", env.EIAAS_SEGMENT_FILE);
    return env.EIAAS_EXIT_HEAD_FILE ? { segment, exitHead: await read("EIAAS_EXIT_HEAD_FILE", env.EIAAS_EXIT_HEAD_FILE) } : { segment };
  };
}
