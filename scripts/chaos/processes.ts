// The deployment's processes as the harness sees them: started with their output in a log file of
// their own, killed with any signal, restarted with the same command, and every exit the harness
// did not cause recorded (a process that dies by itself fails the run).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";

export interface ProcessSpec {
  /** Unique, also the log file's name (`<name>.log`). */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

export interface UnexpectedExit {
  name: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every process of the run, so one call kills what is left (also on the harness' own exit). */
const everyProcess = new Set<ManagedProcess>();

export class ManagedProcess {
  private child?: ChildProcess;
  private log?: WriteStream;
  /** The exit the harness caused (a kill) is expected; any other is recorded in `unexpected`. */
  private expectingExit = false;
  private stopped = false;

  constructor(
    readonly spec: ProcessSpec,
    private readonly logDir: string,
    private readonly unexpected: UnexpectedExit[],
  ) {
    everyProcess.add(this);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Whether SIGSTOP was sent and no SIGCONT since. */
  paused = false;

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.log ??= createWriteStream(join(this.logDir, `${this.name}.log`), { flags: "a" });
    this.log.write(`--- ${new Date().toISOString()} start: ${this.spec.command} ${this.spec.args.join(" ")}\n`);
    const child = spawn(this.spec.command, this.spec.args, { cwd: this.spec.cwd, env: { ...process.env, ...this.spec.env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.expectingExit = false;
    this.stopped = false;
    this.paused = false;
    child.once("exit", (code, signal) => {
      this.log?.write(`--- ${new Date().toISOString()} exit: code ${code} signal ${signal}\n`);
      if (!this.expectingExit && !this.stopped) this.unexpected.push({ name: this.name, at: Date.now(), code, signal });
    });
    child.once("error", (err) => {
      this.log?.write(`--- spawn error: ${err.message}\n`);
      if (!this.stopped) this.unexpected.push({ name: this.name, at: Date.now(), code: null, signal: null });
    });
    this.child = child;
  }

  /** Sends `signal`; for SIGKILL/SIGTERM/SIGINT waits until the process has exited. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    if (signal === "SIGSTOP" || signal === "SIGCONT") {
      child.kill(signal);
      this.paused = signal === "SIGSTOP";
      return;
    }
    this.expectingExit = true;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    // A stopped process does not act on SIGTERM until continued.
    if (this.paused) child.kill("SIGCONT");
    child.kill(signal);
    await exited;
    this.paused = false;
  }

  /** The end of the run: SIGTERM, SIGKILL after `graceMs`; no exit is unexpected from here on. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child && this.running) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      if (this.paused) child.kill("SIGCONT");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((r) => (this.log ? this.log.end(() => r()) : r()));
    this.log = undefined;
    everyProcess.delete(this);
  }
}

/** Async clean-ups of the run (stopping Postgres, removing its files), for an interrupted run. */
const cleanups = new Set<() => Promise<void>>();

/** Registers a clean-up for {@link abandonRun}; the returned function unregisters it. */
export function onAbandon(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** An interrupted run (a signal, a failed start): kills every process, then runs the clean-ups. */
export async function abandonRun(): Promise<void> {
  killEveryProcess();
  for (const c of [...cleanups]) await c().catch(() => undefined);
  cleanups.clear();
}

/** SIGKILLs every process still running (the harness is exiting without a clean stop). */
export function killEveryProcess(): void {
  for (const p of everyProcess) {
    const pid = p.pid;
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGCONT");
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}
