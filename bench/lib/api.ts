import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CacheStats } from "#core/cache.js";
import { configure } from "#core/config.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import type { DynamoCounts } from "./dynamo-counter.js";
import { httpRequest } from "./http.js";
import type { BenchContext } from "./types.js";

/** The runtime's memory as it reports it (bench/lib/runtime-process.ts). */
export type RuntimeMemory = {
  usage: NodeJS.MemoryUsage;
  /** Bytes of each V8 heap space held in memory (new_space, old_space, code_space, ...), before the GC. */
  spaces: Record<string, number>;
  /** Whether a full GC ran first (the runtime was started with --expose-gc). */
  afterGc: boolean;
  caches: CacheStats[];
  snapshot?: string;
};

/** The local runtime a benchmark drives, and the DynamoDB requests its code made. */
export type BenchRuntime = Omit<LocalRuntime, "stop" | "eventBus"> & {
  /** The runtime process's id (its RSS is in /proc/<pid>/status). */
  pid: number;
  /** What the runtime asked of DynamoDB since the last call (counted inside the runtime). */
  counts(): Promise<DynamoCounts>;
  /** The runtime's heap and caches, after a full GC if it runs with --expose-gc. */
  memory(label?: string): Promise<RuntimeMemory>;
  stop(): Promise<void>;
};

/**
 * The whole local runtime on the bench's shared DynamoDB Local, with tables of its own and no
 * scheduler ticks, in a child process (bench/lib/runtime-process.ts): what is measured is the API,
 * on an event loop of its own as in a Lambda, not the load generator's CPU. This process is
 * configured like the runtime, so a benchmark can also seed through core directly. Per-workspace
 * rate limits are off unless `limits: "configured"` (then the environment's, or the defaults). With
 * DROVER_BENCH_CPU_PROFILE=<dir>, the runtime writes its CPU profile there when it stops.
 */
export async function startBenchRuntime(
  context: BenchContext,
  namePrefix: string,
  options: {
    limits?: "off" | "configured";
    nodeFlags?: string[];
    env?: Record<string, string>;
    /**
     * `own`: the runtime starts a DynamoDB Local of its own, as `npm start` does: on disk under
     * `dataDir`, or in memory (`npm start -- --in-memory`) without one. Default: the bench's shared one.
     */
    storage?: { own: true; dataDir?: string };
  } = {},
): Promise<BenchRuntime> {
  const storageEnv: Record<string, string> = options.storage
    ? {
        DROVER_BENCH_OWN_STORAGE: options.storage.dataDir ? "disk" : "memory",
        ...(options.storage.dataDir ? { DROVER_BENCH_DATA_DIR: options.storage.dataDir } : {}),
      }
    : { DROVER_BENCH_DYNAMO_ENDPOINT: (await context.environment.dynamo()).endpoint };
  const profileDir = process.env.DROVER_BENCH_CPU_PROFILE;
  const child = fork(fileURLToPath(new URL("./runtime-process.ts", import.meta.url)), [], {
    execArgv: [
      "--import",
      "tsx",
      ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
      ...(options.nodeFlags ?? []),
    ],
    env: {
      ...process.env,
      ...options.env,
      ...storageEnv,
      DROVER_BENCH_NAME_PREFIX: namePrefix,
      // Throughput benchmarks drive one workspace as hard as the machine allows: its per-workspace
      // rate limits would measure the configuration, not the API. bench/noisy.ts keeps them.
      ...(options.limits === "configured"
        ? {}
        : {
            DROVER_RATE_LIMIT_RPS: "0",
            DROVER_LOG_LINES_PER_SECOND: "0",
            DROVER_READ_UNITS_PER_SECOND: "0",
          }),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const described = await new Promise<Omit<LocalRuntime, "stop" | "eventBus">>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`the bench runtime exited (code ${code}) before it was ready`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.on(
      "message",
      function ready(message: { type: string; runtime?: Omit<LocalRuntime, "stop" | "eventBus"> }) {
        if (message.type !== "ready" || !message.runtime) return;
        child.off("message", ready);
        child.off("exit", onExit);
        resolve(message.runtime);
      },
    );
  });
  configure(described.config);
  return {
    ...described,
    pid: child.pid ?? 0,
    counts: () => askCounts(child),
    memory: (label) => askMemory(child, label),
    stop: () => stopChild(child),
  };
}

let asked = 0;

function askCounts(child: ChildProcess): Promise<DynamoCounts> {
  const id = ++asked;
  return new Promise((resolve) => {
    child.on("message", function answer(message: { type: string; id?: number; counts?: DynamoCounts }) {
      if (message.type !== "counts" || message.id !== id || !message.counts) return;
      child.off("message", answer);
      resolve(message.counts);
    });
    child.send({ type: "counts", id });
  });
}

function askMemory(child: ChildProcess, label: string | undefined): Promise<RuntimeMemory> {
  const id = ++asked;
  return new Promise((resolve) => {
    child.on("message", function answer(message: { type: string; id?: number; memory?: RuntimeMemory }) {
      if (message.type !== "memory" || message.id !== id || !message.memory) return;
      child.off("message", answer);
      resolve(message.memory);
    });
    child.send({ type: "memory", id, ...(label ? { label } : {}) });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.send({ type: "stop" });
  });
}

export type Gql = <T = Record<string, unknown>>(
  query: string,
  variables?: unknown,
  headers?: Record<string, string>,
) => Promise<T>;

/** A GraphQL client sending variables as a JSON string, as the Prefect client does; any error throws. */
export function graphqlClient(url: string, key: string): Gql {
  return async <T>(query: string, variables: unknown = {}, headers: Record<string, string> = {}) => {
    const response = await httpRequest(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ query, variables: JSON.stringify(variables) }),
    });
    const body = JSON.parse(response.body) as { data?: T; errors?: unknown[] };
    if (response.status !== 200 || body.errors || !body.data) {
      throw new Error(`GraphQL: ${JSON.stringify(body.errors ?? body)}`);
    }
    return body.data;
  };
}
