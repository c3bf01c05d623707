import { readdirSync, readFileSync } from "node:fs";

/** /proc counts CPU time in ticks of USER_HZ, which Linux fixes at 100 on x86 and arm64. */
const USER_HZ = 100;

/** The process name under which DynamoDB Local's JIT compiler threads are counted, apart from its others. */
export const JIT = "dynamodb-local.jit";

/** CPU time (ms) used so far by this process and each of its descendants, by process name. */
export type CpuSample = Map<string, number>;

/**
 * Where a measured phase's CPU went: this process (the load generator), the API runtime child and
 * DynamoDB Local's JVM, read from /proc. On a machine whose cores all these share, the ratio of two
 * figures is mostly the ratio of their CPU per operation, so this says which process a gap is in.
 * Descendants count too (the java of a runtime that started its own). The JVM's JIT compiler threads are also counted on their own (`JIT`, included in
 * `dynamodb-local`): compiling is not work done for the requests. Undefined where /proc is not
 * there (macOS).
 */
export function sampleCpu(): CpuSample | undefined {
  if (process.platform !== "linux") return undefined;
  const sample: CpuSample = new Map();
  const add = (name: string, ticks: number) =>
    sample.set(name, (sample.get(name) ?? 0) + (ticks * 1000) / USER_HZ);
  try {
    const stats = new Map<number, NonNullable<ReturnType<typeof parseStat>>>();
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readStat(`/proc/${entry}/stat`);
      if (stat) stats.set(Number(entry), stat);
    }
    // This process and its descendants: a runtime that starts its own DynamoDB Local is its parent.
    const ours = (pid: number): boolean => {
      for (let at = pid, hops = 0; at > 1 && hops < 16; hops++) {
        if (at === process.pid) return true;
        at = stats.get(at)?.ppid ?? 0;
      }
      return false;
    };
    for (const [pid, stat] of stats) {
      if (!ours(pid)) continue;
      const name = pid === process.pid ? "bench" : processName(pid);
      add(name, stat.ticks);
      if (name === "dynamodb-local") add(JIT, compilerTicks(pid));
    }
  } catch {
    return undefined;
  }
  return sample;
}

/** CPU ms per operation of each process between two samples. */
export function cpuPerOperation(
  before: CpuSample | undefined,
  after: CpuSample | undefined,
  operations: number,
): Record<string, number> | undefined {
  if (!before || !after || operations === 0) return undefined;
  const result: Record<string, number> = {};
  for (const [name, ms] of after) {
    const used = ms - (before.get(name) ?? 0);
    if (used > 0 || name === JIT) result[name] = Math.max(used, 0) / operations;
  }
  return result;
}

/** CPU ms used between two samples by one process name (0 when it is in neither). */
export function cpuUsed(before: CpuSample | undefined, after: CpuSample | undefined, name: string): number {
  return (after?.get(name) ?? 0) - (before?.get(name) ?? 0);
}

/** A /proc stat line's parent pid and CPU ticks (user + system). */
export function parseStat(text: string): { comm: string; ppid: number; ticks: number } | undefined {
  // The command name (field 2) may hold spaces and parentheses: split after its last ")".
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(ticks)) return undefined;
  return { comm: text.slice(open + 1, close), ppid, ticks };
}

function readStat(path: string): ReturnType<typeof parseStat> {
  try {
    return parseStat(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** HotSpot names its JIT threads "C1 CompilerThread0", "C2 CompilerThread1"...: Linux keeps 15 characters. */
const COMPILER_THREAD = /^C\d CompilerThre/;

function compilerTicks(pid: number): number {
  let ticks = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const stat = readStat(`/proc/${pid}/task/${task}/stat`);
    if (stat && COMPILER_THREAD.test(stat.comm)) ticks += stat.ticks;
  }
  return ticks;
}

function processName(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (argv.some((arg) => arg.endsWith("DynamoDBLocal.jar"))) return "dynamodb-local";
    if (argv.some((arg) => arg.includes("runtime-process"))) return "api-runtime";
    return argv[0]?.split("/").pop() || `pid-${pid}`;
  } catch {
    return `pid-${pid}`;
  }
}

/** "api-runtime 2.10, dynamodb-local 2.01 (of which JIT 0.04), bench 0.33 ms", largest first. */
export function formatCpu(cpu: Record<string, number> | undefined): string {
  if (!cpu) return "not measured";
  const parts = Object.entries(cpu)
    .filter(([name, ms]) => name !== JIT && ms >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) =>
      name === "dynamodb-local" && cpu[JIT] !== undefined
        ? `${name} ${ms.toFixed(2)} (of which JIT ${cpu[JIT].toFixed(2)})`
        : `${name} ${ms.toFixed(2)}`,
    );
  return `${parts.join(", ")} ms`;
}
