import { Logger } from "@aws-lambda-powertools/logger";
import { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { useConfig } from "#core/config.js";
import { DroverError } from "#core/errors.js";
import { queryLimitPlugins } from "./armor.js";
import { buildSchema } from "./schema/index.js";

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
  if (original instanceof DroverError) {
    return new GraphQLError(original.message, { ...location, extensions: { code: original.code } });
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
  logger.error("unexpected error in resolver", { error: original as Error });
  return new GraphQLError(message, { ...location, extensions: { code: "INTERNAL_SERVER_ERROR" } });
}

export function createApi() {
  return createYoga({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: { title: "Drover GraphQL API" },
    logging: false,
    maskedErrors: { maskError: (error, message) => maskError(error, message) },
    // Depth, alias, token, directive and cost limits (./armor.ts), on yoga's path and the fast path.
    plugins: queryLimitPlugins(useConfig().limits),
  });
}
