import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { type Actor, useActor, withActor } from "#core/actor.js";
import { Authenticator } from "#core/auth/authenticator.js";
import { requirePermission } from "#core/auth/roles.js";
import { useConfig } from "#core/config.js";
import { asCallerError, type ErrorCode, RETRY_AFTER_SECONDS } from "#core/errors.js";
import * as KeyValue from "#core/kv/index.js";
import { type RequestInfo, requestInfoOf } from "#core/request-context.js";

/**
 * REST face of the key-value store, for scripts that do not speak GraphQL:
 * - `GET /kv/{key}` → the pair; `GET /kv/?prefix=&limit=&offset=` → the workspace's pairs by key;
 * - `PUT /kv/{key}` with `{"value": <JSON>, "expected_version"?: n}` → the pair (201 when created);
 * - `DELETE /kv/{key}` → `{"success": true}`.
 * `Authorization: Bearer <API key>`. The key is the rest of the path, percent-decoded, so it may
 * contain slashes (`/kv/a/b` and `/kv/a%2Fb` both name `a/b`). Same auth, same domain and rules as
 * the GraphQL API; errors are `{"error": {"code", "message"}}` with a matching status.
 */
const logger = new Logger({ serviceName: "drover-kv" });
const PREFIX = "/kv/";
// A 10 KB value plus its JSON envelope and escaping; larger bodies cannot hold a valid value.
const MAX_BODY_BYTES = 64 * 1024;

let authenticator: Authenticator | undefined;

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  VERSION_LOCKING_ERROR: 409,
  LIMIT_EXCEEDED: 409,
  PAYLOAD_TOO_LARGE: 413,
  API_ERROR: 503,
};

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: JSON.stringify(body),
  } satisfies APIGatewayProxyStructuredResultV2;
}

function failure(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
  return json(statusCode, { error: { code, message } }, headers);
}

class BadRequest extends Error {}

function lowerCaseHeaders(headers: APIGatewayProxyEventV2["headers"]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** The key named by the path; API Gateway's rawPath keeps percent-encoding, so it is decoded once here. */
function keyOf(rawPath: string): string {
  const encoded = rawPath.startsWith(PREFIX) ? rawPath.slice(PREFIX.length) : "";
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new BadRequest("The key in the path is not valid percent-encoded UTF-8.");
  }
}

function bodyOf(event: APIGatewayProxyEventV2): { value: unknown; expectedVersion: number | undefined } {
  const raw = event.body
    ? event.isBase64Encoded
      ? Buffer.from(event.body, "base64").toString("utf8")
      : event.body
    : "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new BadRequest(
      'The body must be JSON: {"value": <any JSON>, "expected_version": <optional integer>}.',
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !("value" in parsed)) {
    throw new BadRequest('The body must be a JSON object with a "value" field.');
  }
  const body = parsed as { value: unknown; expected_version?: unknown };
  return {
    value: body.value,
    expectedVersion: KeyValue.validateExpectedVersion(body.expected_version),
  };
}

function integerParam(
  params: Record<string, string | undefined> | undefined,
  name: string,
): number | undefined {
  const raw = params?.[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new BadRequest(`${name} must be a non-negative integer.`);
  return Number(raw);
}

async function route(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext.http.method.toUpperCase();
  const key = keyOf(event.rawPath);
  // Reads need the read permission, writes what a flow run may do (core/src/auth/roles.ts).
  requirePermission(method === "GET" ? "read" : "run", `${method} /kv/`);
  if (key === "") {
    if (method !== "GET")
      return failure(405, "METHOD_NOT_ALLOWED", "Only GET is allowed on /kv/.", { allow: "GET" });
    const params = event.queryStringParameters;
    const pairs = await KeyValue.list({
      prefix: params?.prefix ?? "",
      limit: integerParam(params, "limit") ?? null,
      offset: integerParam(params, "offset") ?? null,
    });
    return json(200, { key_values: pairs });
  }
  switch (method) {
    case "GET": {
      const pair = await KeyValue.get(key);
      return pair ? json(200, pair) : failure(404, "NOT_FOUND", `Key "${key}" not found.`);
    }
    case "PUT": {
      const { value, expectedVersion } = bodyOf(event);
      const { pair, created } = await KeyValue.set({ key, value, expectedVersion });
      return json(created ? 201 : 200, pair);
    }
    case "DELETE": {
      const pair = await KeyValue.remove(key);
      return json(200, { success: true, id: pair.id, key: pair.key });
    }
    default:
      return failure(405, "METHOD_NOT_ALLOWED", `${method} is not allowed; use GET, PUT or DELETE.`, {
        allow: "GET, PUT, DELETE",
      });
  }
}

export async function handler(
  event: APIGatewayProxyEventV2,
  context?: Pick<Context, "awsRequestId">,
): Promise<APIGatewayProxyStructuredResultV2> {
  const request = requestInfoOf(event, context);
  let actor: Actor | undefined;
  try {
    const size = event.body ? Buffer.byteLength(event.body, event.isBase64Encoded ? "base64" : "utf8") : 0;
    if (size > MAX_BODY_BYTES) {
      return failure(
        413,
        "PAYLOAD_TOO_LARGE",
        `Request body exceeds ${MAX_BODY_BYTES} bytes; values are at most 10 KB.`,
      );
    }
    authenticator ??= new Authenticator(useConfig().authCacheMs);
    actor = await authenticator.resolve(lowerCaseHeaders(event.headers));
    if (actor.type !== "tenant") {
      return failure(401, "UNAUTHENTICATED", "UNAUTHENTICATED: send 'Authorization: Bearer <API key>'.", {
        "www-authenticate": "Bearer",
      });
    }
    return await withActor(actor, () => route(event));
  } catch (error) {
    if (error instanceof BadRequest) return failure(400, "BAD_REQUEST", error.message);
    const known = asCallerError(error);
    if (known?.code === "API_ERROR") {
      // Storage unavailable or throttled: retry after a short wait (the same request is safe).
      return failure(503, known.code, known.message, { "retry-after": String(RETRY_AFTER_SECONDS) });
    }
    if (known) return failure(STATUS[known.code] ?? 400, known.code, known.message);
    logUnexpected(error, request, actor);
    return json(500, {
      error: { code: "INTERNAL_SERVER_ERROR", message: "Unexpected error.", request_id: request.requestId },
    });
  }
}

/** A bug: logged with request id, tenant and stack for an operator, never shown to the caller. */
function logUnexpected(error: unknown, request: RequestInfo, actor: Actor = useActor()) {
  logger.error("unexpected error in the KV handler", {
    request_id: request.requestId,
    aws_request_id: request.awsRequestId,
    tenant_id: actor.type === "tenant" ? actor.tenantId : undefined,
    api_key_id: actor.type === "tenant" ? actor.apiKeyId : undefined,
    error: error instanceof Error ? error : new Error(String(error)),
  });
}
