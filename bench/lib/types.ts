import type { BenchEnvironment } from "./environment.js";

/** A reference throughput (or size, or time) a figure is compared with, measured in the same run. */
export type FloorRef = { label: string; value: number; unit: string };

/** Latency percentiles of one measurement, in milliseconds. */
export type LatencySummary = { p50: number; p95: number; p99: number; max: number };

/** One reported number. `key` is stable across runs (results files are compared by it). */
export type Figure = {
  key: string;
  label: string;
  value: number;
  unit: string;
  latencyMs?: LatencySummary;
  /** Printed side by side with `value`, with the ratio value / floor. */
  floor?: FloorRef;
  errors?: number;
  note?: string;
  /** A check this figure failed (e.g. a size over budget): printed, and the run exits non-zero. */
  failure?: string;
};

export type BenchOptions = {
  /** Measured phase of a duration-based measurement. */
  durationMs: number;
  /** Discarded phase before it (connections opened, JIT warm, DynamoDB Local's tables touched). */
  warmupMs: number;
  /** Workers of the "concurrent" variants. */
  concurrency: number;
  /** The options given on the command line (a benchmark with defaults of its own keeps them otherwise). */
  given?: Array<"duration" | "warmup" | "concurrency">;
};

/** What a benchmark gets from the runner; one context per `npm run bench`, shared by all benchmarks. */
export type BenchContext = {
  options: BenchOptions;
  /** DynamoDB Local and fauxqs, started on first use and stopped by the runner at the end. */
  environment: BenchEnvironment;
  /** Computes once per run: a benchmark asking for the floors after `floors` ran reuses its figures. */
  memo<T>(key: string, compute: () => Promise<T>): Promise<T>;
  /** Progress line on stderr. */
  log(message: string): void;
};

/** A named benchmark; `npm run bench -- <name>` runs it alone. */
export type Benchmark = {
  name: string;
  description: string;
  run(context: BenchContext): Promise<Figure[]>;
};
