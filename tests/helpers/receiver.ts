import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export type Received = { at: number; path: string; headers: IncomingHttpHeaders; body: string };

/**
 * A webhook receiver on loopback: records every request and answers with the next status of
 * `statuses` (the last one repeats; 200 when empty). `next(n)` resolves once n requests arrived.
 */
export async function startReceiver(statuses: number[] = []) {
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let answered = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        at: Date.now(),
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const status = statuses[Math.min(answered, statuses.length - 1)] ?? 200;
      answered++;
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "no");
      for (const w of waiters.filter((w) => received.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** Resolves when at least `count` requests have arrived. */
    next: (count: number) =>
      received.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
