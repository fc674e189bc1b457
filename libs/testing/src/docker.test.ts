// run() of docker.ts, the child-process helper of the docker tests: a child that exits without
// reading its input must come back as its exit code, not as an uncaught EPIPE that fails whichever
// test file happens to be running (docker inspect, polled every 500 ms, did so on a busy machine).
import { describe, expect, it } from "vitest";
import { run } from "./docker.js";

describe("run", () => {
  it("gives the child its input, and EOF when there is none", async () => {
    expect(await run("sh", ["-c", "cat"], { input: "abc" })).toEqual({ code: 0, stdout: "abc", stderr: "" });
    expect(await run("sh", ["-c", "cat; echo done"])).toEqual({ code: 0, stdout: "done\n", stderr: "" });
  });

  it("answers with the exit code of a child that exits without reading its input", async () => {
    // More than a pipe holds: the write is still pending when the child has gone.
    const input = "x".repeat(8 << 20);
    for (let i = 0; i < 5; i++) expect(await run("sh", ["-c", "exit 3"], { input })).toMatchObject({ code: 3 });
  });

  it("answers 127 for a command that does not exist", async () => {
    expect((await run("eiaas-no-such-command", [])).code).toBe(127);
  });
});
