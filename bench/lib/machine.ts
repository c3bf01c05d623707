import { spawnSync } from "node:child_process";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";

export type Machine = {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  platform: string;
  node: string;
  java: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage: number;
};

/** What the figures were measured on; they only compare with figures from the same machine. */
export function describeMachine(): Machine {
  const java = spawnSync("java", ["-version"], { encoding: "utf8" });
  const javaVersion = java.error ? "not found" : (`${java.stderr}${java.stdout}`.split("\n")[0] ?? "").trim();
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    java: javaVersion,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}
