import { describe, expect, it } from "vitest";
import { LogTail } from "./log-tail.js";

describe("LogTail", () => {
  it("keeps the last maxLines lines of a task, oldest first", () => {
    const tail = new LogTail({ maxLines: 3 });
    for (let i = 1; i <= 7; i++) tail.append("a", `line ${i}`);
    expect(tail.lines("a")).toEqual(["line 5", "line 6", "line 7"]);
    expect(tail.lines("a", 2)).toEqual(["line 6", "line 7"]);
    expect(tail.lines("a", 0)).toEqual([]);
    expect(tail.lines("missing")).toEqual([]);
  });

  it("defaults to 1000 lines", () => {
    const tail = new LogTail();
    for (let i = 0; i < 1500; i++) tail.append("a", String(i));
    const lines = tail.lines("a");
    expect(lines).toHaveLength(1000);
    expect(lines[0]).toBe("500");
  });

  it("marks runtime lines and writes through a hook", () => {
    const tail = new LogTail();
    const write = tail.writer("t");
    write("hello", "stdout");
    write("oops", "stderr");
    write("pod created", "system");
    expect(tail.lines("t")).toEqual(["hello", "oops", "[eiaas] pod created"]);
  });

  it("drops the least recently written task beyond maxTasks", () => {
    const tail = new LogTail({ maxTasks: 2 });
    tail.append("a", "1");
    tail.append("b", "1");
    tail.append("a", "2");
    tail.append("c", "1");
    expect(tail.keys().sort()).toEqual(["a", "c"]);
    expect(tail.has("b")).toBe(false);
    tail.delete("a");
    expect(tail.keys()).toEqual(["c"]);
  });
});
