import { Agent, request } from "node:http";

/**
 * The benchmarks' load generator: plain HTTP/1.1 over keep-alive sockets with node:http, in the
 * bench process (the runtime under test is another process, api.ts). `fetch` (undici and WHATWG
 * streams) costs several times the CPU per request, on the same two cores as the API and
 * DynamoDB Local.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

export type HttpResponse = { status: number; body: string };

export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const req = request(
      url,
      {
        agent,
        method: options.method ?? "GET",
        headers: { ...options.headers, ...(body ? { "content-length": String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
