import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { THROTTLED_FOR_MS_HEADER } from "#core/limits/door.js";
import { createHttpServer, type HttpApp } from "../../local/src/http-server.js";

/**
 * The local HTTP server's door: once the API refused a credential for its workspace's request
 * rate (THROTTLED_FOR_MS_HEADER), the credential's next requests within that time are refused
 * without being read (a body over the size limit gets 429, not 413) and without reaching the API;
 * other credentials and other routes are not held, and the credential comes in once the hold ends.
 */
const HOLD_MS = 300;
const calls: Array<{ path: string; authorization: string | undefined }> = [];
const throttle = new Set<string>();

function route(name: string) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const authorization = event.headers.authorization;
    calls.push({ path: name, authorization });
    if (authorization && throttle.has(authorization)) {
      throttle.delete(authorization);
      return {
        statusCode: 429,
        headers: { "retry-after": "1", [THROTTLED_FOR_MS_HEADER]: String(HOLD_MS) },
        body: JSON.stringify({
          data: null,
          errors: [
            {
              message: "RATE_LIMITED: more than 20 requests per second",
              extensions: { code: "RATE_LIMITED" },
            },
          ],
        }),
      };
    }
    return { statusCode: 200, body: JSON.stringify({ data: { ok: true } }) };
  };
}

const app: HttpApp = { routes: { graphql: route("graphql"), kv: route("kv") }, maxBodyBytes: 1000 };
const server = createHttpServer(app);
let base = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function post(path: string, key: string, body = "{}") {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body,
  });
}

describe("the local HTTP server's door for throttled credentials", () => {
  it("refuses a held credential unread and unrouted, repeats the API's message, and lets it in after the hold", async () => {
    throttle.add("Bearer flooder");
    const first = await post("/graphql", "flooder");
    expect(first.status).toBe(429);
    const routed = calls.length;

    const started = Date.now();
    const held = await post("/graphql", "flooder", "x".repeat(5000));
    const waited = Date.now() - started;
    expect(held.status).toBe(429);
    expect(held.headers.get("retry-after")).toBe("1");
    const body = (await held.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe("RATE_LIMITED");
    expect(body.errors[0]?.message).toBe("RATE_LIMITED: more than 20 requests per second");
    expect(calls.length).toBe(routed);
    // Answered when the hold ended, not before: a client that re-sends at once is paced.
    expect(waited).toBeGreaterThanOrEqual(HOLD_MS - 50);

    // The hold has ended: the credential reaches the API again (and an oversize body is a 413).
    expect((await post("/graphql", "flooder")).status).toBe(200);
    expect((await post("/graphql", "flooder", "x".repeat(5000))).status).toBe(413);
    expect(calls.length).toBe(routed + 1);
  });

  it("holds neither another credential nor the same credential on another route", async () => {
    throttle.add("Bearer loud");
    expect((await post("/graphql", "loud")).status).toBe(429);
    const routed = calls.length;
    const [other, kv] = await Promise.all([post("/graphql", "quiet"), post("/kv/x", "loud")]);
    expect(other.status).toBe(200);
    expect(kv.status).toBe(200);
    expect(
      calls
        .slice(routed)
        .map((c) => `${c.path} ${c.authorization}`)
        .sort(),
    ).toEqual(["graphql Bearer quiet", "kv Bearer loud"]);
  });
});
