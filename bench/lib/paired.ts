import { type Measurement, measure, type Operation } from "./measure.js";
import type { BenchOptions, LatencySummary } from "./types.js";

/** Rounds of a paired measurement (BENCH_ROUNDS overrides): the median of five resists two noisy rounds. */
export const PAIRED_ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));

export type Paired = {
  /** The median round of each side: throughput and each latency percentile are medians over rounds. */
  ours: Measurement;
  floor: Measurement;
  /** ours / floor throughput of each round, in order. */
  ratios: number[];
};

/**
 * Measures an operation and its raw floor in alternation (floor, ours, ours, floor, ...) with the
 * same concurrency, warm-up and duration, so both see the same machine: DynamoDB Local's JVM goes on
 * compiling for minutes and two cores are shared with everything else, so a floor measured at the
 * start of the run and a figure measured minutes later can differ by half for reasons of neither.
 */
export async function measurePaired(
  ours: Operation,
  floor: Operation,
  options: Pick<BenchOptions, "concurrency" | "durationMs" | "warmupMs">,
  rounds = PAIRED_ROUNDS,
): Promise<Paired> {
  const oursRounds: Measurement[] = [];
  const floorRounds: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    // Which side goes first alternates, so a machine that drifts (a JVM still compiling) favours neither.
    if (round % 2 === 0) floorRounds.push(await measure(floor, options));
    oursRounds.push(await measure(ours, options));
    if (round % 2 === 1) floorRounds.push(await measure(floor, options));
  }
  return {
    ours: medianMeasurement(oursRounds),
    floor: medianMeasurement(floorRounds),
    ratios: oursRounds.map(
      (measurement, i) =>
        measurement.operationsPerSecond / (floorRounds[i]?.operationsPerSecond ?? Number.NaN),
    ),
  };
}

/** "round ratios 0.44, 0.41, ...": each round's ours / floor, in order, for a figure's note. */
export function roundRatios(paired: Paired): string {
  return `round ratios ${paired.ratios.map((r) => r.toFixed(2)).join(", ")}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** The rounds' totals, with throughput and latency percentiles the medians of the rounds'. */
function medianMeasurement(rounds: Measurement[]): Measurement {
  const first = rounds[0];
  if (!first) throw new Error("no rounds measured");
  const latency = (p: keyof LatencySummary) => median(rounds.map((r) => r.latencyMs[p]));
  return {
    concurrency: first.concurrency,
    operations: rounds.reduce((sum, r) => sum + r.operations, 0),
    items: rounds.reduce((sum, r) => sum + r.items, 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    firstError: rounds.find((r) => r.firstError)?.firstError,
    elapsedMs: rounds.reduce((sum, r) => sum + r.elapsedMs, 0),
    operationsPerSecond: median(rounds.map((r) => r.operationsPerSecond)),
    itemsPerSecond: median(rounds.map((r) => r.itemsPerSecond)),
    latencyMs: { p50: latency("p50"), p95: latency("p95"), p99: latency("p99"), max: latency("max") },
    ...medianCpu(rounds),
  };
}

/** Each process's CPU per operation, the median of the rounds' (absent when not measured). */
function medianCpu(rounds: Measurement[]): Pick<Measurement, "cpuMsPerOperation"> {
  const names = new Set(rounds.flatMap((r) => Object.keys(r.cpuMsPerOperation ?? {})));
  if (names.size === 0) return {};
  const cpu: Record<string, number> = {};
  for (const name of names) cpu[name] = median(rounds.map((r) => r.cpuMsPerOperation?.[name] ?? 0));
  return { cpuMsPerOperation: cpu };
}
