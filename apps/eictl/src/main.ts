#!/usr/bin/env node
// eictl: the kubectl-style CLI of eiaas (`npm run eictl -- ARGS`). It talks only to the API, through
// @eiaas/client. Each command lives in its own file under commands/ and registers itself here.
import { Command } from "commander";
import { reportError } from "./cli/errors.js";
import { registerCommands } from "./commands/index.js";

const program = new Command("eictl")
  .description("eictl controls the eiaas Edge-Intelligence-as-a-Service control plane.")
  .option("--server <url>", "address of the API server (overrides the context)")
  .option("--token <token>", "bearer token for the API server (overrides the context)")
  .option("-n, --namespace <namespace>", "namespace (tenant) of the request (overrides the context)")
  .option("-A, --all-namespaces", "list across all namespaces")
  .option("--context <name>", "kubeconfig context to use (default: the current context)")
  .option("--kubeconfig <file>", "kubeconfig file to use (default: $KUBECONFIG, a list of files, else ~/.kube/config)")
  .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
  .showHelpAfterError("(run with --help for usage)")
  .addHelpText(
    "after",
    `
Getting started (from the repository root, eictl = npm run eictl --):
  npm run demo                                          start a local control plane; its context "eiaas-demo" becomes current
  eictl get nodes                                       the fleet
  eictl apply -f deploy/examples/isvc-auto.yaml --wait  serve a model, wait until it is Ready
  eictl describe isvc classify-auto                     its plan per client, tasks, conditions, events
  eictl drain edge-1                                    cordon a node and wait until its tasks moved

Contexts live in kubeconfig, shared with kubectl ($KUBECONFIG, else ~/.kube/config): see 'eictl config --help'.`,
  );

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  reportError(err);
}
