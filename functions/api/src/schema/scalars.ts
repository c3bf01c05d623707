import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from "graphql";
import { isUuid } from "#core/ids.js";
import { describePath, MAX_JSON_DEPTH, storableIssue } from "#core/storable.js";
import { isoMicros } from "#core/time.js";

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT" } });
}

function parseUuid(value: unknown): string {
  if (typeof value !== "string" || !isUuid(value))
    throw badInput(`Expected a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

const uuid = new GraphQLScalarType({
  name: "uuid",
  description: "A UUID string.",
  serialize: (value) => value,
  parseValue: parseUuid,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput("Expected a UUID string");
    return parseUuid(ast.value);
  },
});

/**
 * An ISO 8601 timestamp in UTC, microseconds kept (core/src/time.ts). One without a zone is UTC
 * (as Postgres reads a timestamptz on a UTC server, which Prefect's was), never local time.
 */
function parseTimestamp(value: unknown): string {
  const parsed = typeof value === "string" ? isoMicros(value) : undefined;
  if (parsed === undefined) throw badInput(`Expected an ISO 8601 timestamp, got ${JSON.stringify(value)}`);
  return parsed;
}

const timestamptz = new GraphQLScalarType({
  name: "timestamptz",
  description: "An ISO 8601 timestamp with time zone; stored and returned in UTC.",
  serialize: (value) => value,
  parseValue: parseTimestamp,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput("Expected an ISO 8601 timestamp string");
    return parseTimestamp(ast.value);
  },
});

function literalToJson(
  ast: ValueNode,
  variables: Record<string, unknown> | null | undefined,
  depth = 0,
): unknown {
  // The parser bounds a literal's depth already; this keeps the recursion bounded whatever it allows.
  if (depth > MAX_JSON_DEPTH) throw badInput(`JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literalToJson(v, variables, depth + 1));
    case Kind.OBJECT:
      return Object.fromEntries(
        ast.fields.map((f) => [f.name.value, literalToJson(f.value, variables, depth + 1)]),
      );
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    case Kind.ENUM:
      return ast.value;
  }
}

/**
 * Any JSON value, checked once here for what every consumer needs: finite numbers and at most
 * `MAX_JSON_DEPTH` levels (checked iteratively, so a value nested thousands deep is refused before
 * any recursive code sees it). What each field's storage needs beyond that (DynamoDB's number range
 * and nesting, sizes) is checked by core where the field is parsed (core/src/storable.ts).
 */
function parseJson(value: unknown): unknown {
  const issue = storableIssue(value, { as: "json" });
  if (issue) {
    const where = issue.path.length > 0 ? `at ${describePath("", issue.path)}: ` : "";
    throw badInput(`Invalid JSON value: ${where}${issue.message}`);
  }
  return value;
}

function jsonScalar(name: string) {
  return new GraphQLScalarType({
    name,
    description: `Any JSON value, sent and returned as JSON (not as a string); at most ${MAX_JSON_DEPTH} levels deep.`,
    serialize: (value) => value,
    parseValue: parseJson,
    parseLiteral: (ast, variables) => parseJson(literalToJson(ast, variables)),
  });
}

export const scalarResolvers = { uuid, timestamptz, jsonb: jsonScalar("jsonb"), JSON: jsonScalar("JSON") };
