import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { type Actor, withActor } from "#core/actor.js";
import { Authenticator } from "#core/auth/authenticator.js";
import { useConfig } from "#core/config.js";
import { asCallerError } from "#core/errors.js";
import { THROTTLED_FOR_MS_HEADER } from "#core/limits/door.js";
import { inWorkspaceShare } from "#core/limits/fairness.js";
import { admitRequest, RateLimitedError, settleReads, withRequestLimits } from "#core/limits/index.js";
import { requestInfoOf, withRequest } from "#core/request-context.js";
import { httpShapeProblem, jsonParamsProblem } from "./request-shape.js";
import { createApi, logUnexpected } from "./yoga.js";

// Built on first use and reused by every later invocation of this Lambda container.
let built: { api: ReturnType<typeof createApi>; authenticator: Authenticator } | undefined;
function init() {
  built ??= { api: createApi(), authenticator: new Authenticator(useConfig().authCacheMs) };
  return built;
}

function errorResult(
  statusCode: number,
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ data: null, errors: [{ message, extensions: { code, ...extensions } }] }),
  };
}

/**
 * Storage unavailable or throttled (extensions.code API_ERROR) is answered with HTTP 503 so the
 * Prefect 1.4.1 client retries it: its requests session retries 500/502/503/504 six times with
 * exponential backoff (0, 2, 4, 8, 16, 32 s: about a minute), then its `_request` retries a body
 * whose errors mention API_ERROR six more times. No Retry-After header: urllib3 would sleep that
 * fixed time instead of its exponential backoff, shrinking the minute to 6 × Retry-After.
 * Unexpected errors (bugs) stay HTTP 200 with INTERNAL_SERVER_ERROR: a 500 would make the client
 * repeat a request that fails the same way, six times over a minute. docs/outages.md explains.
 */
function withRetryableStatus(result: APIGatewayProxyStructuredResultV2): APIGatewayProxyStructuredResultV2 {
  if (result.statusCode !== 200 || typeof result.body !== "string" || !result.body.includes("API_ERROR")) {
    return result;
  }
  try {
    const parsed = JSON.parse(result.body) as { errors?: Array<{ extensions?: { code?: unknown } }> };
    if (parsed.errors?.some((e) => e.extensions?.code === "API_ERROR")) return { ...result, statusCode: 503 };
  } catch {
    // Not JSON (GraphiQL's page): nothing to classify.
  }
  return result;
}

/** An error outside GraphQL execution: a caller's error, retryable storage, or a logged bug. */
function failureResult(error: unknown): APIGatewayProxyStructuredResultV2 {
  const known = asCallerError(error);
  if (known) return errorResult(known.code === "API_ERROR" ? 503 : 200, known.code, known.message);
  const requestId = logUnexpected("unexpected error in the API handler", error);
  return errorResult(200, "INTERNAL_SERVER_ERROR", "Unexpected error.", { request_id: requestId });
}

/**
 * The Prefect client sends `variables` as a JSON-encoded string ("null" when empty); GraphQL over
 * HTTP expects an object. Both are accepted: a string is decoded here, once, at the edge.
 */
type GraphQLParams = { query?: unknown; variables?: unknown; operationName?: unknown; extensions?: unknown };

function normalizeBody(
  raw: string,
): { params: GraphQLParams } | { error: APIGatewayProxyStructuredResultV2 } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return {
      error: errorResult(
        400,
        "BAD_REQUEST",
        'Malformed JSON body: expected {"query": ..., "variables": ...}',
      ),
    };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return {
      error: errorResult(400, "BAD_REQUEST", 'The request body must be a JSON object with a "query" string'),
    };
  }
  const request = parsed as Record<string, unknown>;
  if (typeof request.variables === "string") {
    try {
      request.variables = request.variables.trim() === "" ? null : JSON.parse(request.variables);
    } catch {
      return { error: errorResult(400, "BAD_REQUEST", '"variables" is a string but not valid JSON') };
    }
  }
  return { params: request };
}

/**
 * A parser's or validator's own error (a GraphQLError) is shown as it is; anything else they throw
 * (a RangeError from a query nested too deep for the stack) is described, never shown.
 */
function knownError(error: unknown, step: string): GraphQLErrorLike {
  if (error instanceof Error && error.name === "GraphQLError") return error as GraphQLErrorLike;
  return { message: `The query could not be ${step}: it is nested too deeply or too large` };
}

function json(statusCode: number, payload: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify(payload),
  };
}

type GraphQLErrorLike = {
  message: string;
  locations?: unknown;
  path?: unknown;
  extensions?: Record<string, unknown>;
};

function formatError(error: GraphQLErrorLike, code: string) {
  return {
    message: error.message,
    ...(error.locations ? { locations: error.locations } : {}),
    ...(error.path ? { path: error.path } : {}),
    extensions: { code: (error.extensions?.code as string | undefined) ?? code },
  };
}

/**
 * The common case, a POST of JSON with a query: parse (cached), validate (cached) and execute
 * through yoga's own envelop (its plugins, error masking included), without building a Fetch
 * Request and Response and parsing the body a second time. Everything else goes through yoga.
 */
async function executeJson(
  api: ReturnType<typeof createApi>,
  params: GraphQLParams,
  headers: Record<string, string | undefined>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const request = {
    headers: new Headers(
      Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
  };
  const { parse, validate, contextFactory, execute, schema } = api.getEnveloped({ request, params });
  let document: ReturnType<typeof parse>;
  let invalid: GraphQLErrorLike[];
  try {
    document = parse(params.query as string);
  } catch (error) {
    return json(200, { errors: [formatError(knownError(error, "parsed"), "GRAPHQL_PARSE_FAILED")] });
  }
  try {
    invalid = validate(schema, document);
  } catch (error) {
    return json(200, { errors: [formatError(knownError(error, "validated"), "GRAPHQL_VALIDATION_FAILED")] });
  }
  if (invalid.length > 0) {
    return json(200, {
      errors: invalid.map((e: GraphQLErrorLike) => formatError(e, "GRAPHQL_VALIDATION_FAILED")),
    });
  }
  const variables = params.variables;
  if (
    variables !== undefined &&
    variables !== null &&
    (typeof variables !== "object" || Array.isArray(variables))
  ) {
    return errorResult(400, "BAD_REQUEST", '"variables" must be a JSON object');
  }
  const result = await execute({
    schema,
    document,
    variableValues: (variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof params.operationName === "string" ? params.operationName : undefined,
    contextValue: await contextFactory(),
  });
  return json(200, result);
}

/** HTTP 429 with Retry-After: the Prefect 1.4.1 client's urllib3 Retry re-sends after that long. */
function rateLimited(
  result: APIGatewayProxyStructuredResultV2,
  seconds: number,
): APIGatewayProxyStructuredResultV2 {
  return { ...result, statusCode: 429, headers: { ...result.headers, "retry-after": String(seconds) } };
}

/** Runs one request under its workspace's read budget; a request a rate limit refused becomes a 429. */
async function limited(
  actor: Actor,
  run: () => Promise<APIGatewayProxyStructuredResultV2>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const { result, state } = withRequestLimits(run);
  let response: APIGatewayProxyStructuredResultV2;
  try {
    response = await result;
  } finally {
    if (actor.type === "tenant") settleReads(actor.tenantId, state.reads);
  }
  return state.retryAfterSeconds === undefined ? response : rateLimited(response, state.retryAfterSeconds);
}

function lowerCaseHeaders(headers: APIGatewayProxyEventV2["headers"]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** API Gateway HTTP API (payload v2) → graphql-yoga, with the caller's workspace as context. */
export async function handler(
  event: APIGatewayProxyEventV2,
  context?: Pick<Context, "awsRequestId">,
): Promise<APIGatewayProxyStructuredResultV2> {
  return withRequest(requestInfoOf(event, context), async () => {
    try {
      return withRetryableStatus(await serve(event));
    } catch (error) {
      return failureResult(error);
    }
  });
}

async function serve(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const { api, authenticator } = init();
  const method = event.requestContext.http.method.toUpperCase();
  const headers = lowerCaseHeaders(event.headers);
  const body = event.body
    ? event.isBase64Encoded
      ? Buffer.from(event.body, "base64").toString("utf8")
      : event.body
    : undefined;
  const limit = useConfig().maxBodyBytes;
  if (body !== undefined && Buffer.byteLength(body, "utf8") > limit) {
    return errorResult(413, "PAYLOAD_TOO_LARGE", `Request body exceeds the limit of ${limit} bytes`);
  }

  let actor: Actor;
  try {
    actor = await authenticator.resolve(headers);
  } catch (error) {
    // An uncached key while DynamoDB is down is retryable (503), not a 500.
    return failureResult(error);
  }
  // Each workspace has its own rate buckets and its own share of this process (a flood waits in
  // its own line); callers without a key share one ("anonymous").
  const share =
    actor.type === "tenant" ? actor.tenantId : actor.type === "anonymous" ? "anonymous" : undefined;
  const respond = () => answer(event, method, headers, body, actor, api);
  if (!share) return respond();
  try {
    admitRequest(share);
    return await inWorkspaceShare(share, respond);
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    const refused = rateLimited(errorResult(429, error.code, error.message), error.retryAfterSeconds);
    if (error.workspaceWaitMs === undefined) return refused;
    // Every request of this credential is refused for that long: an edge may refuse them unread.
    const wait = String(Math.ceil(error.workspaceWaitMs));
    return { ...refused, headers: { ...refused.headers, [THROTTLED_FOR_MS_HEADER]: wait } };
  }
}

/** A request admitted by its workspace's limits: checked for shape, then executed. */
async function answer(
  event: APIGatewayProxyEventV2,
  method: string,
  headers: Record<string, string | undefined>,
  requestBody: string | undefined,
  actor: Actor,
  api: ReturnType<typeof createApi>,
): Promise<APIGatewayProxyStructuredResultV2> {
  let body = requestBody;
  const contentType = headers["content-type"] ?? "";
  const shape = httpShapeProblem({
    method,
    rawQueryString: event.rawQueryString,
    contentType,
    accept: headers.accept ?? "",
    body,
  });
  if (shape) return errorResult(shape.status, shape.code, shape.message);

  if (method === "POST" && body !== undefined && contentType.includes("json")) {
    const normalized = normalizeBody(body);
    if ("error" in normalized) return normalized.error;
    const problem = jsonParamsProblem(normalized.params);
    if (problem) return errorResult(problem.status, problem.code, problem.message);
    if (typeof normalized.params.query === "string" && normalized.params.extensions === undefined) {
      const params = normalized.params;
      return limited(actor, () => withActor(actor, () => executeJson(api, params, headers)));
    }
    // Anything else goes to yoga, with `variables` decoded.
    try {
      body = JSON.stringify(normalized.params);
    } catch {
      // JSON.stringify recurses: a value nested thousands deep overflows the stack.
      return errorResult(400, "BAD_REQUEST", "The request's JSON is nested too deeply");
    }
  }

  const query = event.rawQueryString ? `?${event.rawQueryString}` : "";
  const host = headers.host ?? "localhost";
  const request = new Request(`https://${host}${event.rawPath}${query}`, {
    method,
    headers: Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ...(body !== undefined && method !== "GET" && method !== "HEAD" ? { body } : {}),
  });
  return limited(actor, async () => {
    const response = await withActor(actor, () => api.fetch(request));
    return {
      statusCode: response.status,
      headers: Object.fromEntries(response.headers.entries()),
      body: await response.text(),
    };
  });
}
