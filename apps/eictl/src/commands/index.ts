// The kubectl-style verbs of eictl, registered on the program by main.ts (one file per command).
import type { Command } from "commander";
import { registerApiResources } from "./api-resources.js";
import { registerApply } from "./apply.js";
import { registerCompletion } from "./completion.js";
import { registerConfig } from "./config.js";
import { registerCordon } from "./cordon.js";
import { registerCreate } from "./create.js";
import { registerDelete } from "./delete.js";
import { registerDescribe } from "./describe.js";
import { registerDrain } from "./drain.js";
import { registerGet } from "./get.js";
import { registerInfer } from "./infer.js";
import { registerLogs } from "./logs.js";
import { registerModel } from "./model.js";
import { registerPlan } from "./plan.js";
import { registerTop } from "./top.js";
import { registerVersion } from "./version.js";

export function registerCommands(program: Command): void {
  registerGet(program);
  registerDescribe(program);
  registerApply(program);
  registerCreate(program);
  registerDelete(program);
  registerCordon(program);
  registerDrain(program);
  registerTop(program);
  registerLogs(program);
  registerModel(program);
  registerPlan(program);
  registerInfer(program);
  registerApiResources(program);
  registerConfig(program);
  registerVersion(program);
  registerCompletion(program);
}
