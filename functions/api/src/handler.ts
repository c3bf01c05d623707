import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type Actor, withActor } from "#core/actor.js";
import { Authenticator } from "#core/auth/authenticator.js";
import { useConfig } from "#core/config.js";
import { DroverError } from "#core/errors.js";
import { httpShapeProblem, jsonParamsProblem } from "./request-shape.js";
import { createApi } from "./yoga.js";

// Built on first use and reused by every later invocation of this Lambda container.
let built: { api: ReturnType<typeof createApi>; authenticator: Authenticator } | undefined;
function init() {
  built ??= { api: createApi(), authenticator: new Authenticator(useConfig().authCacheMs) };
  return built;
}

function errorResult(statusCode: number, code: string, message: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ data: null, errors: [{ message, extensions: { code } }] }),
  };
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

function lowerCaseHeaders(headers: APIGatewayProxyEventV2["headers"]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** API Gateway HTTP API (payload v2) → graphql-yoga, with the caller's workspace as context. */
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const { api, authenticator } = init();
  const method = event.requestContext.http.method.toUpperCase();
  const headers = lowerCaseHeaders(event.headers);
  let body = event.body
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
    if (error instanceof DroverError) return errorResult(200, error.code, error.message);
    throw error;
  }

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
      return withActor(actor, () => executeJson(api, params, headers));
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
  const response = await withActor(actor, () => api.fetch(request));
  return {
    statusCode: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: await response.text(),
  };
}
