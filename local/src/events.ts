import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { DroverEvent } from "#core/events/types.js";
import type { EventsWorkerData, EventsWorkerMessage } from "./events-worker.js";

const STOP_GRACE_MS = 5_000;

/** What the runtime offers of its event bus: a listener of every event it carries. */
export type EventTap = { subscribe(listener: (event: DroverEvent) => void): () => void };

/**
 * Starts the event backbone's consumers (docs/events.md) on their own thread
 * (local/src/events-worker.ts), configured from the same environment as the runtime.
 */
export async function startEvents(options: {
  env: Record<string, string | undefined>;
  hooksQueueArn: string;
  dataDir: string | undefined;
  log: (message: string) => void;
}): Promise<{ tap: EventTap; stop: () => Promise<void> }> {
  const data: EventsWorkerData = {
    env: options.env,
    hooksQueueArn: options.hooksQueueArn,
    checkpointFile: options.dataDir ? join(options.dataDir, "events-checkpoint.json") : undefined,
  };
  const worker = new Worker(new URL("./events-worker.ts", import.meta.url), {
    workerData: data,
    // The worker loads TypeScript as the runtime does (tsx), wherever the runtime was started from.
    execArgv: [...process.execArgv.filter((a) => a !== "--import" && a !== "tsx"), "--import", "tsx"],
  });
  const listeners = new Set<(event: DroverEvent) => void>();
  let stopped: (() => void) | undefined;
  worker.on("message", (message: EventsWorkerMessage) => {
    if (message.type === "event") for (const listener of listeners) listener(message.event as DroverEvent);
    else if (message.type === "log") options.log(message.message);
    else if (message.type === "stopped") stopped?.();
  });
  worker.on("error", (error) => options.log(`events worker error: ${String(error)}`));
  await new Promise<void>((resolve, reject) => {
    worker.once("online", () => resolve());
    worker.once("error", reject);
  });
  return {
    tap: {
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    /**
     * Lets the consumers finish their batches, for at most STOP_GRACE_MS (storage that does not
     * answer must not hold a stop): a batch cut short is handed over again on the next start,
     * since the stream's checkpoint and the queue's deletes come only after a batch is handled.
     */
    stop: async () => {
      const done = new Promise<void>((resolve) => {
        stopped = resolve;
        worker.once("exit", () => resolve());
        setTimeout(resolve, STOP_GRACE_MS).unref();
      });
      worker.postMessage({ type: "stop" });
      await done;
      await worker.terminate();
    },
  };
}
