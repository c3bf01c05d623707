// The benchmarks' HTTP client thread (see http.ts): performs each request it is sent over
// keep-alive sockets and posts back the status and body. Plain JavaScript: worker threads do not
// inherit the main thread's TypeScript loader.
import { Agent, request } from "node:http";
import { parentPort } from "node:worker_threads";

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const port = parentPort;
if (!port) throw new Error("http-worker.mjs runs as a worker thread");

port.on("message", (job) => {
  const body = job.body === undefined ? undefined : Buffer.from(job.body);
  const failed = (error) => port.postMessage({ id: job.id, error: String(error) });
  const req = request(
    job.url,
    {
      agent,
      method: job.method,
      headers: { ...job.headers, ...(body ? { "content-length": String(body.length) } : {}) },
    },
    (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () =>
        port.postMessage({
          id: job.id,
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", failed);
    },
  );
  req.on("error", failed);
  req.end(body);
});
