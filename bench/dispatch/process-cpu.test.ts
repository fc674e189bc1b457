import { describe, expect, it } from "vitest";
import { busyOthers, roleDeltas, sampleProcesses, type ProcessSample } from "./process-cpu.js";

const sample = (rows: Array<[number, string | undefined, string, number]>): ProcessSample => new Map(rows.map(([pid, role, name, jiffies]) => [pid, { role, name, jiffies }]));

describe("roleDeltas", () => {
  it.each([
    {
      what: "sums each role's processes",
      from: sample([
        [1, "Postgres", "postgres", 100],
        [2, "Postgres", "postgres", 50],
        [3, "API", "node", 10],
      ]),
      to: sample([
        [1, "Postgres", "postgres", 130],
        [2, "Postgres", "postgres", 60],
        [3, "API", "node", 25],
      ]),
      want: { Postgres: 40, API: 15 },
    },
    {
      what: "a process that ended in between takes nothing away",
      from: sample([
        [1, "Postgres", "postgres", 100],
        [2, "Postgres", "postgres", 5000],
      ]),
      to: sample([[1, "Postgres", "postgres", 120]]),
      want: { Postgres: 20 },
    },
    {
      what: "a process that started in between counts in full",
      from: sample([[1, "Postgres", "postgres", 100]]),
      to: sample([
        [1, "Postgres", "postgres", 110],
        [9, "Postgres", "postgres", 7],
      ]),
      want: { Postgres: 17 },
    },
    {
      what: "a pid taken over by another process counts from zero",
      from: sample([[4, "Redis", "redis-server", 900]]),
      to: sample([[4, "Postgres", "postgres", 3]]),
      want: { Postgres: 3 },
    },
  ])("$what", ({ from, to, want }) => {
    expect(Object.fromEntries(roleDeltas(from, to))).toEqual(want);
  });
});

it("busyOthers lists only processes without a role over the threshold, kernel workers by kind", () => {
  const from = sample([
    [1, "API", "node", 0],
    [2, undefined, "kworker/0:1-events", 10],
    [3, undefined, "tsc", 0],
  ]);
  const to = sample([
    [1, "API", "node", 90],
    [2, undefined, "kworker/0:1-mm_percpu_wq", 16],
    [3, undefined, "tsc", 2],
  ]);
  expect(busyOthers(from, to, 5)).toEqual([{ pid: 2, name: "kworker/0:1", jiffies: 6 }]);
});

it("sampleProcesses finds this process under its role", () => {
  const now = sampleProcesses({ api: -1, scheduler: -1 });
  expect(now.get(process.pid)?.role).toBe("bench (load + agents)");
});
