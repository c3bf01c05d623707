import type { Plugin } from "@envelop/core";
import {
  type DocumentNode,
  GraphQLError,
  getOperationAST,
  Kind,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";
import { useActor, useTenantId } from "#core/actor.js";
import { admitLogLines, RateLimitedError } from "#core/limits/index.js";
import * as Log from "#core/log/index.js";

/**
 * `write_run_logs`, as the Prefect 1.4.1 client sends it. Reading goes through the generated
 * `log` type (`flow_run.logs`, `task_run.logs`), served by core's log model.
 */
export const logsTypeDefs = /* GraphQL */ `
  "One log line (ids as strings: a bad one is reported with the line it is in). timestamp: ISO 8601 (default: when received); level: DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)."
  input write_run_logs_log_input {
    flow_run_id: String!
    task_run_id: String
    timestamp: String
    name: String
    level: String
    message: String
    info: JSON
  }

  input write_run_logs_input {
    logs: [write_run_logs_log_input!]!
  }

  type Mutation {
    "Queues the lines for storage; success once all of them are queued (API_ERROR: retry the batch)."
    write_run_logs(input: write_run_logs_input!): success_payload
  }
`;

export const logsResolvers = {
  Mutation: {
    write_run_logs: async (_: unknown, { input }: { input: { logs: unknown[] } }) => {
      // The workspace's log-lines budget, for the batch as a whole (RATE_LIMITED: nothing queued).
      admitLogLines(useTenantId(), input.logs.length);
      await Log.write(input.logs);
      return { success: true, error: null };
    },
  },
};

/** How many entries GraphQL's list coercion makes of a raw value (a single value is a list of one). */
function entries(value: unknown): number {
  return Array.isArray(value) ? value.length : value === undefined || value === null ? 0 : 1;
}

function linesOfInput(node: ValueNode, variables: Record<string, unknown>): number {
  if (node.kind === Kind.VARIABLE) {
    const input = variables[node.name.value];
    return typeof input === "object" && input !== null ? entries((input as { logs?: unknown }).logs) : 0;
  }
  if (node.kind !== Kind.OBJECT) return 0;
  const logs = node.fields.find((field) => field.name.value === "logs")?.value;
  if (!logs) return 0;
  if (logs.kind === Kind.VARIABLE) return entries(variables[logs.name.value]);
  return logs.kind === Kind.LIST ? logs.values.length : logs.kind === Kind.NULL ? 0 : 1;
}

/**
 * The log lines the `write_run_logs` fields of a request carry, counted from the document and the
 * raw variables, before GraphQL coerces them (what coercion would refuse counts for what it is).
 */
export function logLinesOf(
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Record<string, unknown> | null | undefined,
): number {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== "mutation") return 0;
  const variables = variableValues ?? {};
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const seen = new Set<string>();
  const count = (set: SelectionSetNode): number =>
    set.selections.reduce((sum, selection) => {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== "write_run_logs") return sum;
        const input = selection.arguments?.find((argument) => argument.name.value === "input");
        return sum + (input ? linesOfInput(input.value, variables) : 0);
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) return sum + count(selection.selectionSet);
      const fragment = fragments.get(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) return sum;
      seen.add(fragment.name.value);
      return sum + count(fragment.selectionSet);
    }, 0);
  return count(operation.selectionSet);
}

/**
 * Refuses a `write_run_logs` request the workspace's log-lines budget cannot cover before its
 * variables are coerced: coercing a 1,000-line batch costs milliseconds of the one event loop every
 * workspace shares, and a flooding workspace's refused batches would otherwise spend them over and
 * over. The resolver still takes the lines (this only looks), so a batch is charged once.
 */
export function logLinesGatePlugin(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const actor = useActor();
      if (actor.type !== "tenant") return;
      const lines = logLinesOf(args.document, args.operationName, args.variableValues);
      try {
        admitLogLines(actor.tenantId, lines, { peek: true });
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        setResultAndStopExecution({
          data: null,
          errors: [new GraphQLError(error.message, { extensions: { code: error.code } })],
        });
      }
    },
  };
}
