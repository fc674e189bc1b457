// The kubectl-style verbs of eictl, registered on the program by main.ts.
import type { Command } from "commander";
import { registerVersion } from "./version.js";

export function registerCommands(program: Command): void {
  registerVersion(program);
}
