import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { measurePaired } from "../../bench/lib/paired.js";

/** An operation that takes `ms` per call and logs which side ran, in order. */
function timed(ms: () => number, side: string, log: string[]) {
  return async () => {
    if (log.at(-1) !== side) log.push(side);
    await sleep(ms());
    return undefined;
  };
}

describe("measurePaired", () => {
  it("alternates which side goes first and reports each round's ratio", async () => {
    const log: string[] = [];
    const paired = await measurePaired(
      timed(() => 60, "ours", log),
      timed(() => 2, "floor", log),
      { concurrency: 2, durationMs: 240, warmupMs: 0 },
      3,
    );
    // floor, ours | ours, floor | floor, ours: the same side never leads twice in a row.
    expect(log).toEqual(["floor", "ours", "floor", "ours"]);
    expect(paired.ratios).toHaveLength(3);
    for (const ratio of paired.ratios) {
      // 60 ms against 2 ms per operation: a thirtieth, well under 1 even when a loaded machine's
      // timers fire late (CI saw 0.997 with 20 ms against 5 ms in a 60 ms round).
      expect(ratio).toBeGreaterThan(0.005);
      expect(ratio).toBeLessThan(0.9);
    }
  });

  it("takes the median round, so one slow round does not move the figure", async () => {
    const oursMs = [5, 100, 5];
    let round = -1;
    const paired = await measurePaired(
      async (_worker, sequence) => {
        if (sequence === 0) round++; // each round's measure() numbers its operations from 0
        await sleep(oursMs[round] ?? 5);
        return undefined;
      },
      async () => {
        await sleep(5);
        return undefined;
      },
      { concurrency: 1, durationMs: 100, warmupMs: 0 },
      3,
    );
    expect(round).toBe(2);
    // Rounds of ~5, ~100 and ~5 ms per operation: the median is a fast one (the mean would be ~37).
    expect(paired.ours.latencyMs.p50).toBeLessThan(20);
    expect(paired.ratios[1]).toBeLessThan(paired.ratios[0] ?? 0);
    expect(paired.ours.errors).toBe(0);
  });
});
