import { performance } from "node:perf_hooks";
import { BenchEnvironment } from "./environment.js";
import { describeMachine } from "./machine.js";
import { type BenchmarkResult, buildResults, formatTable, RESULTS_FILE, writeResults } from "./report.js";
import type { BenchContext, Benchmark, BenchOptions } from "./types.js";

export const DEFAULT_OPTIONS: BenchOptions = { durationMs: 3000, warmupMs: 750, concurrency: 32 };

const USAGE = `usage: npm run bench [-- [name...] [--duration=ms] [--warmup=ms] [--concurrency=n] [--list]]`;

type Parsed = { names: string[]; options: BenchOptions; list: boolean };

export function parseArgs(args: readonly string[]): Parsed {
  const parsed: Parsed = { names: [], options: { ...DEFAULT_OPTIONS }, list: false };
  for (const arg of args) {
    const flag = /^--(duration|warmup|concurrency)=(\d+)$/.exec(arg);
    if (flag) {
      const value = Number(flag[2]);
      parsed.options.given = [
        ...(parsed.options.given ?? []),
        flag[1] as "duration" | "warmup" | "concurrency",
      ];
      if (flag[1] === "duration") parsed.options.durationMs = value;
      else if (flag[1] === "warmup") parsed.options.warmupMs = value;
      else parsed.options.concurrency = Math.max(1, value);
    } else if (arg === "--list") {
      parsed.list = true;
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option ${arg}\n${USAGE}`);
    } else {
      parsed.names.push(arg);
    }
  }
  return parsed;
}

/**
 * Runs the named benchmarks (all when none is named) in order, in one shared context, then prints a
 * table and writes the JSON results file. Returns the process exit code.
 */
export async function runBenchmarks(
  registry: readonly Benchmark[],
  args: readonly string[],
): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 2;
  }
  if (parsed.list) {
    for (const benchmark of registry) console.log(`${benchmark.name.padEnd(16)} ${benchmark.description}`);
    return 0;
  }
  const unknown = parsed.names.filter((name) => !registry.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark ${unknown.join(", ")}; available: ${registry.map((b) => b.name).join(", ")}\n${USAGE}`,
    );
    return 2;
  }
  const selected =
    parsed.names.length === 0
      ? registry
      : registry.filter((benchmark) => parsed.names.includes(benchmark.name));

  const environment = new BenchEnvironment();
  const interrupted = () => {
    void environment.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const memos = new Map<string, Promise<unknown>>();
  const context: BenchContext = {
    options: parsed.options,
    environment,
    memo: <T>(key: string, compute: () => Promise<T>) => {
      let value = memos.get(key) as Promise<T> | undefined;
      if (!value) {
        value = compute();
        memos.set(key, value);
      }
      return value;
    },
    log: (message) => console.error(message),
  };

  const machine = describeMachine();
  if (machine.loadAverage > machine.cpus / 2) {
    context.log(
      `warning: load average ${machine.loadAverage} on ${machine.cpus} CPUs: other work is running and will skew the figures`,
    );
  }
  const results: BenchmarkResult[] = [];
  try {
    for (const benchmark of selected) {
      context.log(`== ${benchmark.name}: ${benchmark.description}`);
      const start = performance.now();
      try {
        const figures = await benchmark.run(context);
        results.push({ name: benchmark.name, elapsedMs: performance.now() - start, figures });
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        context.log(`${benchmark.name} failed: ${message}`);
        results.push({
          name: benchmark.name,
          elapsedMs: performance.now() - start,
          figures: [],
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  } finally {
    await environment.stop();
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }

  const command = ["npm run bench", ...(args.length > 0 ? ["--", ...args] : [])].join(" ");
  const report = buildResults(machine, parsed.options, command, results);
  writeResults(report);
  console.log(
    `\n${machine.cpus} CPUs (${machine.cpuModel}), ${machine.node}, ${machine.java}, ` +
      `load average ${machine.loadAverage} at start; ` +
      `${parsed.options.durationMs} ms measured after ${parsed.options.warmupMs} ms warm-up, ` +
      `concurrent = ${parsed.options.concurrency} workers\n`,
  );
  console.log(formatTable(report));
  console.log(`\nresults written to ${RESULTS_FILE}`);
  const failures = results.flatMap((result) => [
    ...(result.error ? [`${result.name}: ${result.error}`] : []),
    ...result.figures.flatMap((figure) => (figure.failure ? [`${figure.key}: ${figure.failure}`] : [])),
  ]);
  for (const failure of failures) console.log(`FAIL ${failure}`);
  return failures.length > 0 ? 1 : 0;
}
