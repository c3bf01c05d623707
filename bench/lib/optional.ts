import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { figuresFrom } from "./adapt.js";
import type { Benchmark } from "./types.js";

/**
 * A benchmark from a module that may not exist yet (written in parallel by someone else). The module
 * may export `benchmark` (a `Benchmark`), or an async function: `measure`, `default`, or its only
 * exported function, whose result goes through `figuresFrom`. No module, no benchmark.
 */
export async function optionalBenchmark(
  name: string,
  description: string,
  moduleUrl: URL,
): Promise<Benchmark[]> {
  if (!existsSync(fileURLToPath(moduleUrl))) return [];
  // The specifier is a variable so the type-check passes while the module is absent; tsx maps .ts.
  const specifier: string = moduleUrl.href;
  const loaded: Record<string, unknown> = await import(specifier);
  const exported = loaded.benchmark;
  if (typeof exported === "object" && exported !== null && "run" in exported) return [exported as Benchmark];
  const functions = Object.entries(loaded).filter(([, value]) => typeof value === "function");
  const chosen =
    functions.find(([key]) => key === "measure" || key === "default") ??
    (functions.length === 1 ? functions[0] : undefined);
  if (!chosen) {
    throw new Error(`${specifier}: export \`benchmark\` or one async function to run as "${name}"`);
  }
  const run = chosen[1] as () => Promise<unknown>;
  return [{ name, description, run: async () => figuresFrom(name, await run()) }];
}
