import { performance } from "node:perf_hooks";
import { httpRequest } from "./http.js";

/**
 * A flooding tenant's clients, in a process of their own (bench/noisy.ts): the neighbour whose
 * latency is measured shares the server, not the flooder's event loop, as two tenants' clients
 * on different machines would. Given `{ type: "start", url, key, requests, workers }` it sends
 * the requests round-robin from `workers` concurrent clients, each as soon as the last answered
 * (ignoring Retry-After, as a hostile client would), until `{ type: "stop" }`; it then answers
 * `{ type: "outcomes", outcomes: [[outcome, count, totalMs]] }` and exits.
 */
type Start = {
  type: "start";
  url: string;
  key: string;
  requests: Array<{ kind: string; body: string }>;
  workers: number;
};

let stop = false;
const outcomes = new Map<string, { count: number; ms: number }>();

async function worker(start: Start, index: number): Promise<void> {
  const request = start.requests[index % start.requests.length] as Start["requests"][number];
  const headers = { "content-type": "application/json", authorization: `Bearer ${start.key}` };
  while (!stop) {
    const started = performance.now();
    const response = await httpRequest(start.url, { method: "POST", headers, body: request.body });
    let code = "ok";
    try {
      const parsed = JSON.parse(response.body) as { errors?: Array<{ extensions?: { code?: string } }> };
      code = parsed.errors?.[0]?.extensions?.code ?? "ok";
    } catch {
      code = "unparsable";
    }
    const outcome = `${request.kind} → ${response.status} ${code}`;
    const seen = outcomes.get(outcome) ?? { count: 0, ms: 0 };
    seen.count++;
    seen.ms += performance.now() - started;
    outcomes.set(outcome, seen);
  }
}

let running: Promise<unknown> | undefined;
process.on("message", async (message: Start | { type: "stop" }) => {
  if (message.type === "start") {
    running = Promise.all(Array.from({ length: message.workers }, (_, i) => worker(message, i)));
    process.send?.({ type: "started" });
  } else if (message.type === "stop") {
    stop = true;
    await running;
    process.send?.({
      type: "outcomes",
      outcomes: [...outcomes.entries()].map(([outcome, { count, ms }]) => [outcome, count, ms]),
    });
    process.disconnect();
  }
});
