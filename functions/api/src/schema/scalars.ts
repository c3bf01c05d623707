import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from "graphql";
import { isUuid } from "#core/ids.js";

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

function parseTimestamp(value: unknown): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw badInput(`Expected an ISO 8601 timestamp, got ${JSON.stringify(value)}`);
  }
  return new Date(value).toISOString();
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

function literalToJson(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
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
      return ast.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    case Kind.ENUM:
      return ast.value;
  }
}

function jsonScalar(name: string) {
  return new GraphQLScalarType({
    name,
    description: "Any JSON value, sent and returned as JSON (not as a string).",
    serialize: (value) => value,
    parseValue: (value) => value,
    parseLiteral: (ast, variables) => literalToJson(ast, variables),
  });
}

export const scalarResolvers = { uuid, timestamptz, jsonb: jsonScalar("jsonb"), JSON: jsonScalar("JSON") };
