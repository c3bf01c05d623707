import { performance } from "node:perf_hooks";
import { cpuPerOperation, sampleCpu } from "./cpu.js";
import { summarizeLatencies } from "./stats.js";
import type { LatencySummary } from "./types.js";
import { runWorkers } from "./workers.js";

/**
 * One operation of a measurement. `worker` is the worker's index, `sequence` a number unique across
 * the warm-up and the measured phase (for keys that must not repeat). Returns how many items it
 * handled (e.g. 25 for a BatchWriteItem) or nothing for 1.
 */
export type Operation = (worker: number, sequence: number) => Promise<number | undefined>;

export type MeasureOptions = {
  /** Workers running the operation in a loop; 1 = sequential. */
  concurrency: number;
  /** Measured phase by time... */
  durationMs?: number;
  /** ...or by a fixed number of operations (one of the two). */
  count?: number;
  /** Discarded phase before the measured one, by time. */
  warmupMs?: number;
};

export type Measurement = {
  concurrency: number;
  operations: number;
  items: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  operationsPerSecond: number;
  itemsPerSecond: number;
  latencyMs: LatencySummary;
  /** CPU ms per operation of this process and each child (DynamoDB Local, the API runtime), on Linux. */
  cpuMsPerOperation?: Record<string, number>;
};

/**
 * Runs `operation` in `concurrency` workers: a warm-up whose results are dropped, then a measured
 * phase that stops issuing operations when its duration or count is reached and waits for those in
 * flight. Failed operations are counted as errors, not as throughput.
 */
export async function measure(operation: Operation, options: MeasureOptions): Promise<Measurement> {
  if ((options.durationMs === undefined) === (options.count === undefined)) {
    throw new Error("measure: give exactly one of durationMs and count");
  }
  let sequence = 0;
  if (options.warmupMs && options.warmupMs > 0) {
    await phase(operation, () => sequence++, options.concurrency, { durationMs: options.warmupMs });
  }
  const profile = await startProfile();
  try {
    const before = sampleCpu();
    const measured = await phase(operation, () => sequence++, options.concurrency, options);
    const cpu = cpuPerOperation(before, sampleCpu(), measured.operations);
    return cpu ? { ...measured, cpuMsPerOperation: cpu } : measured;
  } finally {
    await profile?.stop();
  }
}

let profiles = 0;

/**
 * With DROVER_BENCH_CPU_PROFILE=<dir>, each measured phase writes a V8 CPU profile of this process
 * (`<dir>/measure-<n>.cpuprofile`, numbered in run order; open it in Chrome DevTools) to see where
 * the API's CPU goes.
 */
async function startProfile(): Promise<{ stop: () => Promise<void> } | undefined> {
  const dir = process.env.DROVER_BENCH_CPU_PROFILE;
  if (!dir) return undefined;
  const { Session } = await import("node:inspector/promises");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  const file = `${dir}/measure-${++profiles}.cpuprofile`;
  return {
    stop: async () => {
      const { profile } = await session.post("Profiler.stop");
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      process.stderr.write(`cpu profile: ${file}\n`);
    },
  };
}

async function phase(
  operation: Operation,
  next: () => number,
  concurrency: number,
  limit: { durationMs?: number; count?: number },
): Promise<Measurement> {
  const latencies: number[] = [];
  let operations = 0;
  let items = 0;
  let errors = 0;
  let started = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = limit.durationMs === undefined ? Number.POSITIVE_INFINITY : start + limit.durationMs;
  const maxOperations = limit.count ?? Number.POSITIVE_INFINITY;

  await runWorkers(concurrency, async (worker) => {
    while (started < maxOperations && performance.now() < deadline) {
      started++;
      const begin = performance.now();
      try {
        const handled = await operation(worker, next());
        latencies.push(performance.now() - begin);
        operations++;
        items += handled ?? 1;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    }
  });

  const elapsedMs = performance.now() - start;
  return {
    concurrency,
    operations,
    items,
    errors,
    firstError,
    elapsedMs,
    operationsPerSecond: (operations * 1000) / elapsedMs,
    itemsPerSecond: (items * 1000) / elapsedMs,
    latencyMs: summarizeLatencies(latencies),
  };
}
