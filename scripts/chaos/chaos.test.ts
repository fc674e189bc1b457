// The short form of `npm run chaos` (CHAOS_PRESET=short): the whole deployment, every fault of the
// short preset, every check — about five minutes on two idle cores (each fault counts as recovered
// only once every check held for 15 s). Opt-in until the convergence defects it finds are fixed:
// run it with EIAAS_CHAOS_TEST=1 (the lead includes it in `npm test` by removing the skipIf).
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { abandonRun } from "./processes.js";
import { formatReport } from "./report.js";
import { passed, runChaos } from "./scenario.js";

describe.skipIf(!process.env.EIAAS_CHAOS_TEST)("chaos (short form)", () => {
  // A run cut short by the timeout leaves no process or database behind.
  afterAll(() => abandonRun());

  it("converges after every fault: no loss, no over-commit, no ghosts, stuck tasks or orphans", { timeout: 30 * 60_000 }, async () => {
    const config = loadConfig({ ...process.env, CHAOS_PRESET: "short" });
    const lines: string[] = [];
    const result = await runChaos(config, (l) => lines.push(l));
    const report = formatReport(result);
    // The report says which check failed after which fault; it is the failure message.
    if (!passed(result)) console.log(`${lines.join("\n")}\n\n${report}`);
    expect(passed(result), report).toBe(true);
  });
});
