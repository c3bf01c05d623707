import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { THROTTLED_FOR_MS_HEADER, ThrottleDoor } from "#core/limits/door.js";
import { dashboardBuilt, serveDashboard } from "./dashboard-files.js";
import { placeholderPage } from "./placeholder.js";

export type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export type Routes = { graphql: HttpHandler; kv: HttpHandler };

/** Reads a body up to `limit` bytes; returns undefined when it is larger. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off("data", onData);
        resolve(undefined);
      } else chunks.push(chunk);
    };
    request.on("data", onData);
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Bodies API Gateway hands over as text; anything else arrives base64-encoded. */
const TEXT_TYPES = /^(text\/|application\/(json|graphql|x-www-form-urlencoded)|[^;]*\+json)/i;

/** The event API Gateway (HTTP API, payload format 2.0) would give the Lambda for this request. */
export function toApiGatewayEvent(
  request: IncomingMessage,
  body: Buffer,
  url = new URL(request.url ?? "/", "http://localhost"),
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const now = new Date();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method: request.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0
      ? { isBase64Encoded: false }
      : TEXT_TYPES.test(headers["content-type"] ?? "")
        ? { body: body.toString("utf8"), isBase64Encoded: false }
        : { body: body.toString("base64"), isBase64Encoded: true }),
  };
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  response.writeHead(result.statusCode ?? 200, headers);
  response.end(
    result.isBase64Encoded && result.body ? Buffer.from(result.body, "base64") : (result.body ?? ""),
  );
}

function tooLarge(limit: number): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 413,
    headers: { "content-type": "application/json; charset=utf-8", connection: "close" },
    body: JSON.stringify({
      data: null,
      errors: [
        {
          message: `Request body exceeds the limit of ${limit} bytes`,
          extensions: { code: "PAYLOAD_TOO_LARGE" },
        },
      ],
    }),
  };
}

/**
 * The answer to a request that arrives once the runtime is stopping: nothing of it is done, and
 * HTTP 503 is what the Prefect 1 client retries (with backoff) against the next runtime.
 */
function stopping(): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 503,
    headers: { "content-type": "application/json; charset=utf-8", "retry-after": "2", connection: "close" },
    body: JSON.stringify({
      data: null,
      errors: [
        {
          message: "Drover is stopping; nothing of this request was done: retry it",
          extensions: { code: "API_ERROR" },
        },
      ],
    }),
  };
}

/**
 * The API's own RATE_LIMITED answer, given at the door to a credential the API said is refused for
 * `ms` more (THROTTLED_FOR_MS_HEADER), with the message it gave.
 */
function heldAtTheDoor(held: { ms: number; message: string }): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 429,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "retry-after": String(Math.max(1, Math.ceil(held.ms / 1000))),
      [THROTTLED_FOR_MS_HEADER]: String(Math.ceil(held.ms)),
    },
    body: JSON.stringify({
      data: null,
      errors: [{ message: held.message, extensions: { code: "RATE_LIMITED" } }],
    }),
  };
}

/** The first error message of a GraphQL or KV error body (the door repeats it). */
function errorMessage(body: string | undefined): string {
  try {
    const parsed = JSON.parse(body ?? "") as { errors?: Array<{ message?: unknown }>; message?: unknown };
    const message = parsed.errors?.[0]?.message ?? parsed.message;
    if (typeof message === "string") return message;
  } catch {}
  return "RATE_LIMITED: this workspace is over its request limits; retry later";
}

/** The longest a refusal at the door is held back before it is answered. */
const MAX_DOOR_DELAY_MS = 1000;

export type HttpApp = {
  routes: Routes | undefined;
  maxBodyBytes: number;
  /** Set when the runtime begins to stop: new requests get 503 (retryable), nothing is done. */
  stopping?: boolean;
  /** Requests being answered right now (a clean stop waits for them). */
  inFlight?: number;
};

/** node:http in front of the Lambda handlers, as API Gateway is in front of them on AWS. */
export function createHttpServer(app: HttpApp): Server {
  const door = new ThrottleDoor();
  return createServer(async (request, response) => {
    if (app.stopping) return send(response, stopping());
    app.inFlight = (app.inFlight ?? 0) + 1;
    response.once("close", () => {
      app.inFlight = (app.inFlight ?? 1) - 1;
    });
    try {
      const url = new URL(request.url ?? "/", "http://localhost");
      const path = url.pathname;
      const routes = app.routes;
      const maxBodyBytes = app.maxBodyBytes;
      if (!routes) {
        return send(response, {
          statusCode: 503,
          headers: { "retry-after": "1" },
          body: "Drover is starting",
        });
      }
      if (path === "/health") return send(response, { statusCode: 200, body: "ok" });
      const routeName =
        path === "/graphql" || path === "/graphql/" ? "graphql" : path.startsWith("/kv/") ? "kv" : undefined;
      const route = routeName && routes[routeName];
      if (!routeName || !route) {
        if (dashboardBuilt()) return await serveDashboard(request, response, path);
        if (request.method === "GET" && (path === "/" || path === "/index.html")) {
          return send(response, {
            statusCode: 200,
            headers: { "content-type": "text/html; charset=utf-8" },
            body: placeholderPage(),
          });
        }
        return send(response, {
          statusCode: 404,
          headers: { "content-type": "text/plain" },
          body: "Not found",
        });
      }
      const credential = request.headers.authorization ?? "";
      const held = door.held(routeName, credential);
      if (held) {
        // A client that ignored Retry-After: refused at the door, its body discarded as it arrives
        // (nothing buffered or parsed), and answered once the hold ends (at most a second), so a
        // client that re-sends at once is paced to what its workspace may send.
        request.resume();
        await new Promise((resolve) => setTimeout(resolve, Math.min(held.ms, MAX_DOOR_DELAY_MS)));
        return send(response, heldAtTheDoor(door.held(routeName, credential) ?? { ...held, ms: 1 }));
      }
      const body = await readBody(request, maxBodyBytes);
      if (body === undefined) {
        send(response, tooLarge(maxBodyBytes));
        request.destroy();
        return;
      }
      const result = await route(toApiGatewayEvent(request, body, url));
      const throttled = result.headers?.[THROTTLED_FOR_MS_HEADER];
      if (throttled !== undefined) door.note(routeName, credential, throttled, errorMessage(result.body));
      send(response, result);
    } catch (error) {
      console.error("drover: request failed", error);
      if (!response.headersSent) {
        send(response, {
          statusCode: 500,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            errors: [{ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } }],
          }),
        });
      } else response.end();
    }
  });
}

/** Listens on host:port; a taken port fails with a message that says what to do. */
export async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") {
        reject(
          new Error(
            `Port ${port} on ${host} is already in use. Stop what uses it, or choose another port with --port or DROVER_PORT.`,
          ),
        );
      } else if (error.code === "EACCES") {
        reject(
          new Error(
            `Not allowed to listen on ${host}:${port}. Choose a port above 1023 with --port or DROVER_PORT.`,
          ),
        );
      } else reject(error);
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === "object" && address ? address.port : port;
}
