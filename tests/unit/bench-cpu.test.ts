import { describe, expect, it } from "vitest";
import {
  type CpuSample,
  cpuPerOperation,
  formatCpu,
  JIT,
  parseStat,
  sampleCpu,
} from "../../bench/lib/cpu.js";
import { type SettleLimits, warmUntilCompiled } from "../../bench/lib/settle.js";

describe("bench CPU accounting", () => {
  it("reads a /proc stat line whose command name holds spaces and parentheses", () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const line = "4242 (C2 CompilerThre) S 4200 4200 1 0 -1 4194368 10 0 0 0 153 27 0 0 20 0 1 0";
    expect(parseStat(line)).toEqual({ comm: "C2 CompilerThre", ppid: 4200, ticks: 180 });
    expect(parseStat("17 (a) b)) R 3 3 0 0 -1 0 0 0 0 0 5 6 0 0")).toEqual({
      comm: "a) b)",
      ppid: 3,
      ticks: 11,
    });
    expect(parseStat("garbage")).toBeUndefined();
  });

  it("samples this process's own CPU on Linux", () => {
    const before = sampleCpu();
    if (process.platform !== "linux") {
      expect(before).toBeUndefined();
      return;
    }
    // Busy until the process has used 100 ms of CPU, however loaded the machine is.
    const start = process.cpuUsage();
    let spins = 0;
    while (process.cpuUsage(start).user < 100_000) spins++;
    const after = sampleCpu();
    expect(spins).toBeGreaterThan(0);
    // /proc counts in 10 ms ticks: at least 80 of the 100 ms show in this process's line.
    expect(cpuPerOperation(before, after, 1)?.bench ?? 0).toBeGreaterThanOrEqual(80);
  });

  it("gives each process's CPU per operation and keeps the JIT share even when it is zero", () => {
    const before: CpuSample = new Map([
      ["bench", 100],
      ["dynamodb-local", 1000],
      [JIT, 400],
    ]);
    const after: CpuSample = new Map([
      ["bench", 300],
      ["dynamodb-local", 1600],
      [JIT, 400],
      ["api-runtime", 500],
    ]);
    expect(cpuPerOperation(before, after, 100)).toEqual({
      bench: 2,
      "dynamodb-local": 6,
      [JIT]: 0,
      "api-runtime": 5,
    });
    expect(cpuPerOperation(before, after, 0)).toBeUndefined();
    expect(formatCpu({ bench: 2, "dynamodb-local": 6, [JIT]: 0.5, "api-runtime": 5 })).toBe(
      "dynamodb-local 6.00 (of which JIT 0.50), api-runtime 5.00, bench 2.00 ms",
    );
  });
});

describe("warmUntilCompiled", () => {
  const limits: SettleLimits = { minMs: 0, maxMs: 1000, sliceMs: 5, quietCores: 0.05 };
  const noop = async () => undefined;

  /** A sampler whose JIT counter grows by `busyMs[i]` between the i-th pair of samples. */
  function jitSampler(busyMs: number[]) {
    let jit = 0;
    let calls = 0;
    return () => {
      // Samples come in pairs around each window: the second of a pair adds that window's work.
      if (calls % 2 === 1) jit += busyMs[(calls - 1) / 2] ?? 0;
      calls++;
      return new Map([[JIT, jit]]) as CpuSample;
    };
  }

  it("keeps warming while the compiler is busy and stops at the first quiet window", async () => {
    // Windows are ~5 ms: 50 ms of compiling in one is far above 5 % of a core, 0 ms is quiet.
    const settled = await warmUntilCompiled([noop], 1, limits, jitSampler([50, 50, 0, 50]));
    expect(settled.settled).toBe(true);
    expect(settled.jitCores).toBe(0);
  });

  it("gives up after maxMs and says the compiler was still busy", async () => {
    const busy = jitSampler(Array.from({ length: 10_000 }, () => 1000));
    const settled = await warmUntilCompiled([noop], 1, { ...limits, maxMs: 30 }, busy);
    expect(settled.settled).toBe(false);
    expect(settled.jitCores).toBeGreaterThan(0.05);
    expect(settled.elapsedMs).toBeGreaterThanOrEqual(30);
  });

  it("warms for minMs where the compiler cannot be observed", async () => {
    const settled = await warmUntilCompiled([noop], 1, { ...limits, minMs: 20 }, () => undefined);
    expect(settled).toMatchObject({ settled: true, jitCores: undefined });
    expect(settled.elapsedMs).toBeGreaterThanOrEqual(20);
  });
});
