import { Worker } from "node:worker_threads";

/**
 * The benchmarks' load generator: plain HTTP/1.1 over keep-alive sockets (node:http), run on a
 * thread of its own. The API under test runs in this process's main thread (so the benchmarks can
 * count its DynamoDB requests); in production it has a Lambda to itself, and a client sharing its
 * event loop would bill the client's CPU (request building, response parsing: about a sixth of the
 * thread at 32 concurrent KV gets, measured with DROVER_BENCH_CPU_PROFILE) to the server. The main
 * thread only hands each request to the client thread and gets the answer back.
 */
export type HttpResponse = { status: number; body: string };
type HttpJob = { id: number; url: string; method: string; headers: Record<string, string>; body?: string };
type HttpOutcome = { id: number; status: number; body: string } | { id: number; error: string };

let client: Worker | undefined;
let nextId = 0;
const pending = new Map<
  number,
  { resolve: (response: HttpResponse) => void; reject: (error: Error) => void }
>();

function worker(): Worker {
  if (client) return client;
  const started = new Worker(new URL("./http-worker.mjs", import.meta.url));
  started.on("message", (outcome: HttpOutcome) => {
    const waiting = pending.get(outcome.id);
    if (!waiting) return;
    pending.delete(outcome.id);
    if ("error" in outcome) waiting.reject(new Error(outcome.error));
    else waiting.resolve(outcome);
    if (pending.size === 0) started.unref();
  });
  started.on("error", (error) => {
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    client = undefined;
  });
  client = started;
  return started;
}

export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResponse> {
  const thread = worker();
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    thread.ref();
    thread.postMessage({
      id,
      url,
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      ...(options.body === undefined ? {} : { body: options.body }),
    } satisfies HttpJob);
  });
}
