import { Logger } from "@aws-lambda-powertools/logger";
import { type DocumentNode, GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { useActor } from "#core/actor.js";
import { boundedCache, stringBytes } from "#core/cache.js";
import { useConfig } from "#core/config.js";
import { asCallerError } from "#core/errors.js";
import { useRequest } from "#core/request-context.js";
import { queryLimitPlugins } from "./armor.js";
import { buildSchema } from "./schema/index.js";
import { logLinesGatePlugin } from "./schema/logs.js";
import { permissionsPlugin } from "./schema/permissions.js";

const logger = new Logger({ serviceName: "drover-api" });

/**
 * graphql is a dual CJS/ESM package: yoga's copy and ours can be different module instances, so
 * errors are recognised by shape, never with `instanceof GraphQLError`.
 */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === "GraphQLError" && "extensions" in error;
}

/**
 * Domain errors keep their message and carry `extensions.code`; anything else is a bug, logged
 * with its stack and answered as "Unexpected error." so no internals leak. This is the one place
 * where domain errors become GraphQL errors.
 */
export function maskError(error: unknown, message: string): Error {
  const original = isGraphQLError(error) ? (error.originalError ?? error) : error;
  const location = isGraphQLError(error) ? { nodes: error.nodes, path: error.path } : {};
  const known = asCallerError(original);
  if (known) {
    return new GraphQLError(known.message, { ...location, extensions: { code: known.code } });
  }
  if (isGraphQLError(original)) {
    // Thrown by our own scalars with a code, or by graphql-js validation: safe to show. When
    // graphql-js wrapped a scalar's error while coercing variables, its own message says where
    // (`Variable "$input" got invalid value ... at "input.logs[0].flow_run_id"`): keep that.
    if (original.extensions?.code && original !== error && isGraphQLError(error)) {
      return new GraphQLError(error.message, { ...location, extensions: { code: original.extensions.code } });
    }
    return original.extensions?.code
      ? original
      : new GraphQLError(original.message, {
          nodes: original.nodes,
          path: original.path,
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        });
  }
  const requestId = logUnexpected("unexpected error in resolver", original, { path: location.path });
  return new GraphQLError(message, {
    ...location,
    extensions: { code: "INTERNAL_SERVER_ERROR", ...(requestId ? { request_id: requestId } : {}) },
  });
}

/**
 * Logs a bug server-side with what an operator needs to find it (request id, Lambda request id,
 * tenant, API key, stack) and returns the request id to show the caller instead of the details.
 */
export function logUnexpected(message: string, error: unknown, extra: Record<string, unknown> = {}) {
  const request = useRequest();
  const actor = useActor();
  logger.error(message, {
    request_id: request?.requestId,
    aws_request_id: request?.awsRequestId,
    tenant_id: actor.type === "tenant" ? actor.tenantId : undefined,
    api_key_id: actor.type === "tenant" ? actor.apiKeyId : undefined,
    ...extra,
    error: error instanceof Error ? error : new Error(String(error)),
  });
  return request?.requestId;
}

/**
 * yoga caches parsed documents (and parse errors) by query text, and validation results by
 * document. Its default caches count entries only (1,024 for an hour), so 1,024 distinct large
 * query texts could hold hundreds of MB: ours also bound the bytes. A parsed document takes about
 * 100 bytes per character of its text (measured on graphql 16), so that is what an entry counts;
 * a text whose document would not fit at all is parsed every time. Validation results are kept
 * (by yoga) in a WeakMap on the document, so they go when the document does.
 */
export const DOCUMENT_CACHE = { maxEntries: 1024, maxBytes: 32 * 2 ** 20, ttlMs: 3_600_000 };
export const PARSE_ERROR_CACHE = { maxEntries: 256, maxBytes: 8 * 2 ** 20, ttlMs: 3_600_000 };
const DOCUMENT_BYTES_PER_CHAR = 100;

function parserAndValidationCache() {
  return {
    documentCache: boundedCache<string, DocumentNode>({
      name: "graphql.documents",
      ...DOCUMENT_CACHE,
      sizeOf: (_document, text) => stringBytes(text) + DOCUMENT_BYTES_PER_CHAR * text.length,
    }),
    // A parse error keeps its parser, lexer and the tokens read so far: counted like a document.
    errorCache: boundedCache<string, NonNullable<unknown>>({
      name: "graphql.parse-errors",
      ...PARSE_ERROR_CACHE,
      sizeOf: (_error, text) => stringBytes(text) + DOCUMENT_BYTES_PER_CHAR * text.length + 1024,
    }),
    validationCache: true,
  };
}

export function createApi() {
  return createYoga({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: { title: "Drover GraphQL API" },
    logging: false,
    maskedErrors: { maskError: (error, message) => maskError(error, message) },
    // Depth, alias, token, directive and cost limits (./armor.ts), on yoga's path and the fast path;
    // the caller's role checked against every root field (./schema/permissions.ts), and the
    // log-lines budget checked before a batch's variables are coerced (./schema/logs.ts).
    plugins: [...queryLimitPlugins(useConfig().limits), permissionsPlugin(), logLinesGatePlugin()],
    parserAndValidationCache: parserAndValidationCache(),
  });
}
