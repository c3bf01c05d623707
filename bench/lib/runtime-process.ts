import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import { cacheStats } from "#core/cache.js";
import { useConfig } from "#core/config.js";
import { useDynamo } from "#core/dynamo/client.js";
import { startLocalRuntime } from "../../local/src/runtime.js";
import { DynamoCounter } from "./dynamo-counter.js";

/**
 * The local runtime as a process of its own, started by `startBenchRuntime` (api.ts): the API
 * under test gets its own event loop, as a Lambda has, instead of sharing one with the load
 * generator. It counts the DynamoDB requests of the code under test and answers the parent's
 * messages: `counts` (the counts since the last ask), `memory` (process.memoryUsage() after a full
 * GC when started with --expose-gc, and the bounded caches' sizes; with
 * DROVER_BENCH_HEAP_SNAPSHOT=<dir>, a heap snapshot written there when asked with a label) and `stop`.
 */
type Message =
  | { type: "counts"; id: number }
  | { type: "memory"; id: number; label?: string }
  | { type: "stop" };

const send = (message: unknown) => process.send?.(message);
// DROVER_BENCH_OWN_STORAGE=disk|memory: the runtime starts its own DynamoDB Local as `drover start`
// does (on disk under DROVER_BENCH_DATA_DIR, or `--in-memory`); otherwise it uses the bench's.
const ownStorage = process.env.DROVER_BENCH_OWN_STORAGE;
const runtime = await startLocalRuntime({
  host: "127.0.0.1",
  port: 0,
  dataDir: ownStorage === "disk" ? process.env.DROVER_BENCH_DATA_DIR : undefined,
  dynamoEndpoint: ownStorage ? undefined : process.env.DROVER_BENCH_DYNAMO_ENDPOINT,
  namePrefix: process.env.DROVER_BENCH_NAME_PREFIX,
  schedulerIntervalMs: Number(process.env.DROVER_BENCH_SCHEDULER_MS ?? 3_600_000),
});
const counter = new DynamoCounter(useDynamo(), useDynamo(useConfig().tables.logs));
// What crosses the IPC channel is data: the in-process event bus stays here.
const { stop, eventBus: _bus, ...described } = runtime;

async function shutdown(code: number): Promise<never> {
  await stop().catch(() => {});
  process.exit(code);
}

function memory(label: string | undefined) {
  // The heap's spaces as the load left them, then the live set after a full GC.
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]),
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const snapshotDir = process.env.DROVER_BENCH_HEAP_SNAPSHOT;
  let snapshot: string | undefined;
  if (snapshotDir && label) {
    mkdirSync(snapshotDir, { recursive: true });
    snapshot = writeHeapSnapshot(join(snapshotDir, `runtime-${label ?? Date.now()}.heapsnapshot`));
  }
  return { usage: process.memoryUsage(), spaces, afterGc: gc !== undefined, caches: cacheStats(), snapshot };
}

process.on("message", (message: Message) => {
  if (message.type === "counts") send({ type: "counts", id: message.id, counts: counter.take() });
  else if (message.type === "memory") send({ type: "memory", id: message.id, memory: memory(message.label) });
  else if (message.type === "stop") void shutdown(0);
});
// The bench process went away without stopping us: stop too.
process.on("disconnect", () => void shutdown(1));
send({ type: "ready", runtime: described });
