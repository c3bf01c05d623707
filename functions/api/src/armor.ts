import type { Plugin } from "@envelop/core";
import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { type DocumentNode, GraphQLError, Kind, type ValidationContext, visit } from "graphql";
import { useActor } from "#core/actor.js";
import type { Limits } from "#core/config.js";

/**
 * Query shape limits (graphql-armor): tokens while parsing, then depth, aliases, directives and
 * static cost while validating. Both yoga's own path and the handler's `executeJson` fast path
 * parse and validate through `getEnveloped`, so both enforce them. A refused query is answered
 * with `extensions.code` QUERY_TOO_COMPLEX and a message naming the limit, before any resolver runs.
 *
 * Introspection (`__schema`) is allowed (the Prefect client and GraphiQL use it) but not exempt
 * from the alias and token limits, so `__schema` cannot be repeated under a thousand aliases;
 * depth and cost skip `__schema` (graphql-armor's default), since the standard introspection
 * query is deeper than any data query and its cost does not depend on stored data.
 */
function refuse(context: ValidationContext | null, error: GraphQLError): void {
  const message = `QUERY_TOO_COMPLEX: ${error.message.replace(/^Syntax Error: /, "")}`;
  const refused = new GraphQLError(message, { extensions: { code: "QUERY_TOO_COMPLEX" } });
  // While parsing (tokens) there is no validation context: stop the parser by throwing.
  if (!context) throw refused;
  context.reportError(refused);
}

/** Brackets (`{`, `(`, `[`) open at once, selections and argument values alike. */
export const MAX_NESTING = 64;

/**
 * The deepest bracket nesting of a GraphQL source, by a linear scan that skips strings and
 * comments; stops counting past `limit`. Run before parsing, so that a selection or input value
 * nested thousands deep is refused before graphql-js's recursive parser can overflow the stack.
 */
export function nestingDepth(source: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "#") {
      while (i < source.length && source[i] !== "\n" && source[i] !== "\r") i++;
    } else if (c === '"') {
      if (source.startsWith('"""', i)) {
        // A block string ends at the first unescaped triple quote (escaped: backslash first).
        let end = source.indexOf('"""', i + 3);
        while (end !== -1 && source[end - 1] === "\\") end = source.indexOf('"""', end + 3);
        i = end === -1 ? source.length : end + 2;
      } else {
        for (i++; i < source.length && source[i] !== '"' && source[i] !== "\n"; i++)
          if (source[i] === "\\") i++;
      }
    } else if (c === "{" || c === "(" || c === "[") {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === "}" || c === ")" || c === "]") {
      depth--;
    }
  }
  return max;
}

function nestingLimitPlugin(limit: number): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === "string" ? params.source : params.source.body;
      if (nestingDepth(source, limit) > limit) {
        throw new GraphQLError(`QUERY_TOO_COMPLEX: Nesting limit of ${limit} exceeded.`, {
          // Refused before parsing: a 400 on yoga's path (GET), as its own parse errors are.
          extensions: { code: "QUERY_TOO_COMPLEX", http: { status: 400 } },
        });
      }
    },
  };
}

/** Whether a document selects `__schema` or `__type` anywhere (`__typename` is not introspection). */
export function asksIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.kind === Kind.FIELD && (node.name.value === "__schema" || node.name.value === "__type"))
        found = true;
    },
  });
  return found;
}

/**
 * Introspection is for callers with an API key or a session (the Prefect client, the dashboard,
 * GraphiQL with an `Authorization` header): an anonymous `__schema` / `__type` is answered
 * UNAUTHENTICATED. Checked at execution, not validation, since validation results are cached
 * per document across callers.
 */
function introspectionPolicyPlugin(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (useActor().type !== "anonymous" || !asksIntrospection(args.document)) return;
      setResultAndStopExecution({
        data: null,
        errors: [
          new GraphQLError("UNAUTHENTICATED: introspection needs an API key (Authorization: Bearer <key>)", {
            extensions: { code: "UNAUTHENTICATED" },
          }),
        ],
      });
    },
  };
}

const callbacks = { onReject: [refuse], propagateOnRejection: false, exposeLimits: true };

export function queryLimitPlugins(limits: Limits): Plugin[] {
  return [
    nestingLimitPlugin(MAX_NESTING),
    maxTokensPlugin({ n: limits.maxQueryTokens, ...callbacks }),
    maxDepthPlugin({ n: limits.maxQueryDepth, ...callbacks }),
    maxAliasesPlugin({ n: limits.maxQueryAliases, ...callbacks }),
    maxDirectivesPlugin({ n: limits.maxQueryDirectives, ...callbacks }),
    costLimitPlugin({ maxCost: limits.maxQueryCost, ...callbacks }),
    introspectionPolicyPlugin(),
  ] as Plugin[];
}
