import { expect, it } from "vitest";
import { GroupCommit, type PendingWrite } from "./group-commit.js";

const write = (name: string, log: string[]): PendingWrite => ({
  kind: { table: "tasks" } as PendingWrite["kind"],
  object: { metadata: { name } } as PendingWrite["object"],
  resolve: () => log.push(`done ${name}`),
  reject: () => log.push(`failed ${name}`),
});

it("sends the first write alone, then what arrived meanwhile in batches as `next` cuts them", async () => {
  const batches: string[][] = [];
  const log: string[] = [];
  let release!: () => void;
  const firstHeld = new Promise<void>((r) => (release = r));
  const commits = new GroupCommit<PendingWrite>({
    next: (pending) => ({ batch: pending.slice(0, 2), rest: pending.slice(2) }),
    write: async (batch) => {
      batches.push(batch.map((w) => w.object.metadata.name));
      if (batches.length === 1) await firstHeld;
      for (const w of batch) w.resolve(w.object);
    },
  });
  for (const name of ["a", "b", "c", "d"]) commits.submit(write(name, log));
  // Only "a" is out while it is in flight; the others wait for it.
  expect(batches).toEqual([["a"]]);
  release();
  await new Promise((r) => setTimeout(r, 10));
  expect(batches).toEqual([["a"], ["b", "c"], ["d"]]);
  expect(log).toEqual(["done a", "done b", "done c", "done d"]);
  // Idle again: the next write goes out alone at once.
  commits.submit(write("e", log));
  expect(batches.at(-1)).toEqual(["e"]);
});
