import { Logger } from "@aws-lambda-powertools/logger";
import { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { DroverError } from "#core/errors.js";
import { buildSchema } from "./schema/index.js";

const logger = new Logger({ serviceName: "drover-api" });

/**
 * Domain errors keep their message and carry `extensions.code`; anything else is a bug, logged
 * with its stack and answered as "Unexpected error." so no internals leak. This is the one place
 * where domain errors become GraphQL errors.
 */
export function maskError(error: unknown, message: string): Error {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (original instanceof DroverError) {
    return new GraphQLError(original.message, {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions: { code: original.code },
    });
  }
  if (original instanceof GraphQLError) {
    // Thrown by our own scalars with a code, or by graphql-js validation: safe to show.
    return original.extensions?.code
      ? original
      : new GraphQLError(original.message, {
          nodes: original.nodes,
          path: original.path,
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        });
  }
  logger.error("unexpected error in resolver", { error: original as Error });
  return new GraphQLError(message, {
    ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    extensions: { code: "INTERNAL_SERVER_ERROR" },
  });
}

export function createApi() {
  return createYoga({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: { title: "Drover GraphQL API" },
    logging: false,
    maskedErrors: { maskError: (error, message) => maskError(error, message) },
  });
}
