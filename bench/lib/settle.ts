import { performance } from "node:perf_hooks";
import { type CpuSample, cpuUsed, JIT, sampleCpu } from "./cpu.js";
import { measure, type Operation } from "./measure.js";

export type SettleLimits = {
  /** Warm for at least this long, whatever the compiler does. */
  minMs: number;
  /** Give up waiting for the compiler after this long (the result says it did not settle). */
  maxMs: number;
  /** How long each operation runs per turn; one turn of all of them is one observation window. */
  sliceMs: number;
  /** The compiler counts as quiet below this share of one core over a window. */
  quietCores: number;
};

export const SETTLE_LIMITS: SettleLimits = { minMs: 4000, maxMs: 120_000, sliceMs: 1500, quietCores: 0.05 };

export type Settled = {
  elapsedMs: number;
  /** The JIT compiler's share of one core over the last window (undefined without /proc). */
  jitCores: number | undefined;
  /** False when maxMs passed with the compiler still busy. */
  settled: boolean;
};

/**
 * Runs the operations in turn, each for a slice at `concurrency`, until DynamoDB Local's JIT
 * compiler goes quiet over a whole turn: that JVM compiles for a minute or more after it starts, and
 * a path it has not compiled yet is measured against one it has (the floor's one-attribute update is
 * compiled within seconds, a transition's larger update and read much later). While it compiles,
 * its compiler threads take a share of the same two cores the measured processes need. Measured on
 * the reference machine: 30-85 % of a core for the first 50 s of the orchestration benchmark,
 * under 5 % after.
 */
export async function warmUntilCompiled(
  operations: Operation[],
  concurrency: number,
  limits: SettleLimits = SETTLE_LIMITS,
  sample: () => CpuSample | undefined = sampleCpu,
): Promise<Settled> {
  const start = performance.now();
  for (;;) {
    const before = sample();
    const windowStart = performance.now();
    for (const operation of operations) await measure(operation, { concurrency, durationMs: limits.sliceMs });
    const after = sample();
    const now = performance.now();
    const jitCores =
      before && after ? cpuUsed(before, after, JIT) / Math.max(1, now - windowStart) : undefined;
    const elapsedMs = now - start;
    if (elapsedMs >= limits.minMs && (jitCores === undefined || jitCores <= limits.quietCores)) {
      return { elapsedMs, jitCores, settled: true };
    }
    if (elapsedMs >= limits.maxMs) return { elapsedMs, jitCores, settled: false };
  }
}
