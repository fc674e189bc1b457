/**
 * kubeconfig merged across its files with kubectl's rules (client-go's clientcmd loading rules):
 * for each cluster, user and context name the first file that defines it wins, and so does the first
 * file that sets `current-context`. Edits go where kubectl puts them: a changed entry back into the
 * file it came from, a new one into the default file, `current-context` into the file that set it.
 */
import { existsSync } from "node:fs";
import {
  bodyOf,
  entriesOf,
  kubeconfigPaths,
  readKubeconfigFile,
  SECTIONS,
  type KubeconfigFile,
  type KubeconfigLocation,
  type KubeconfigPaths,
  type RawEntry,
  type Section,
} from "./kubeconfig-files.js";

/** A named entry of the merged view and the file it came from. */
export interface LocatedEntry {
  name: string;
  entry: RawEntry;
  /** Its `cluster:`, `user:` or `context:` mapping. */
  body: Record<string, unknown>;
  file: KubeconfigFile;
}

export class Kubeconfig {
  constructor(
    readonly paths: KubeconfigPaths,
    /** In precedence order. */
    readonly files: KubeconfigFile[],
  ) {}

  /** Reads every file of the location (missing ones are empty). */
  static async load(loc: KubeconfigLocation = {}): Promise<Kubeconfig> {
    const paths = kubeconfigPaths(loc);
    return new Kubeconfig(paths, await Promise.all(paths.files.map(readKubeconfigFile)));
  }

  /** The files, joined for messages. */
  describe(): string {
    return this.paths.files.join(":");
  }

  /** The file that sets `current-context` (the first one does). */
  currentContextFile(): KubeconfigFile | undefined {
    return this.files.find((f) => typeof f.doc["current-context"] === "string" && f.doc["current-context"] !== "");
  }

  get currentContext(): string | undefined {
    return this.currentContextFile()?.doc["current-context"] as string | undefined;
  }

  /** The entry `name` of a section: the first file's that defines it. */
  find(section: Section, name: string): LocatedEntry | undefined {
    for (const file of this.files) {
      const entry = entriesOf(file, section).find((e) => e.name === name);
      if (entry) return { name, entry, body: bodyOf(entry, section), file };
    }
    return undefined;
  }

  /** Every name of a section once, in file order then entry order, with the entry that wins. */
  list(section: Section): LocatedEntry[] {
    const seen = new Set<string>();
    const out: LocatedEntry[] = [];
    for (const file of this.files) {
      for (const entry of entriesOf(file, section)) {
        if (seen.has(entry.name)) continue;
        seen.add(entry.name);
        out.push({ name: entry.name, entry, body: bodyOf(entry, section), file });
      }
    }
    return out;
  }

  /**
   * Where a new entry goes (client-go's `GetDefaultFilename`): the `--kubeconfig` file; else of
   * `KUBECONFIG`'s files the only one, or the first that exists, or the last; else ~/.kube/config.
   */
  destination(): KubeconfigFile {
    if (this.files.length === 1 || !this.paths.fromEnv) return this.files[0]!;
    return this.files.find((f) => f.exists || existsSync(f.path)) ?? this.files[this.files.length - 1]!;
  }

  /** Where `current-context` is written: the file that sets it, else {@link destination}. */
  currentContextDestination(): KubeconfigFile {
    return this.currentContextFile() ?? this.destination();
  }

  /**
   * The merged kubeconfig as one document (what `kubectl config view` prints): entries in
   * precedence order, the top-level `preferences` and `extensions` of the first file that has them.
   */
  merged(): Record<string, unknown> {
    const first = (key: string) => this.files.map((f) => f.doc[key]).find((v) => v !== undefined && v !== null);
    const doc: Record<string, unknown> = { apiVersion: "v1", kind: "Config", preferences: first("preferences") ?? {} };
    for (const section of Object.keys(SECTIONS) as Section[]) doc[section] = this.list(section).map((l) => l.entry);
    doc["current-context"] = this.currentContext ?? "";
    const extensions = first("extensions");
    if (extensions !== undefined) doc.extensions = extensions;
    return doc;
  }
}
