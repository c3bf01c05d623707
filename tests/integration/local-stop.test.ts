import { request } from "node:http";
import { expect, test } from "vitest";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * A clean stop refuses new work first and lets requests in flight finish: a write acknowledged
 * while stopping has been fully handled (its lines are on the queue) before the queues stop.
 */
test("stop() waits for a request in flight (it succeeds) and new requests are not served", async () => {
  const runtime = await startTestRuntime("stop");
  const key = runtime.bootstrap.secret ?? "";
  const body = JSON.stringify({ query: "{ auth_info { tenant_id } }" });
  const url = new URL(runtime.graphqlUrl);
  let stopped = false;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: `Bearer ${key}`,
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    // Half the body now: the request is in flight when the stop begins.
    req.write(body.slice(0, 10));
    setTimeout(() => req.end(body.slice(10)), 1500);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stopping = runtime.stop().then(() => {
    stopped = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(stopped).toBe(false);
  // A new request once the stop began is not served.
  const late = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body,
  }).then(
    (r) => r.status,
    () => "refused",
  );
  expect(late === 503 || late === "refused").toBe(true);
  const { status, text } = await answer;
  expect(status).toBe(200);
  expect(JSON.parse(text).data.auth_info.tenant_id).toBe(runtime.bootstrap.workspace.id);
  await stopping;
  expect(stopped).toBe(true);
});
