import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
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
      const route =
        path === "/graphql" || path === "/graphql/"
          ? routes.graphql
          : path.startsWith("/kv/")
            ? routes.kv
            : undefined;
      if (!route) {
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
      const body = await readBody(request, maxBodyBytes);
      if (body === undefined) {
        send(response, tooLarge(maxBodyBytes));
        request.destroy();
        return;
      }
      send(response, await route(toApiGatewayEvent(request, body, url)));
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
