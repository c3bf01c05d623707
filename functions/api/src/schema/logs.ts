import { useTenantId } from "#core/actor.js";
import { admitLogLines } from "#core/limits/index.js";
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
