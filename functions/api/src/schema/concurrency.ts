import * as Concurrency from "#core/concurrency/index.js";
import { assertOwnTenant } from "./tenant-guard.js";

/**
 * Prefect Cloud 1.0's concurrency limits (docs/concurrency-limits.md): task tag limits, with the
 * names the Prefect 1.4.1 client sends (`update_task_tag_limit`, `delete_task_tag_limit`) and the
 * later ones of Cloud's UI (`*_task_concurrency_limit`), flow run limits by label, and the usage
 * queries of the UI. The limits' rows are read through the read API (`task_tag_limit`,
 * `task_concurrency_limit`, `flow_concurrency_limit`: core/src/query/models.ts).
 */
export const concurrencyTypeDefs = /* GraphQL */ `
  input update_task_tag_limit_input {
    tag: String!
    limit: Int!
  }

  input delete_task_tag_limit_input {
    limit_id: uuid!
  }

  input update_task_concurrency_limit_input {
    name: String!
    limit: Int!
  }

  input delete_task_concurrency_limit_input {
    limit_id: uuid!
  }

  input update_flow_concurrency_limit_input {
    label: String!
    limit: Int!
    "Accepted for compatibility; must be the caller's workspace when given."
    tenant_id: uuid
  }

  input delete_flow_concurrency_limit_input {
    limit_id: uuid!
  }

  type concurrency_limit_id_payload {
    id: uuid
  }

  type task_concurrency_usage {
    name: String!
    "Task runs holding a slot of the tag's limit (0 for a tag without a limit)."
    usage: Int!
    limit: Int
  }

  type task_tag_usage {
    tag: String!
    usage: Int!
    limit: Int
  }

  type flow_concurrency_usage {
    label: String!
    "Flow runs holding a slot of the label's limit (0 for a label without a limit)."
    usage: Int!
    limit: Int
  }

  type Query {
    "Slots in use of task tag limits: the given tags, or every limited tag."
    task_concurrency(names: [String!]): [task_concurrency_usage!]!
    task_tag_usage(tags: [String!]): [task_tag_usage!]!
    "Slots in use of flow label limits: the given labels, or every limited label."
    flow_concurrency(labels: [String!]): [flow_concurrency_usage!]!
  }

  type Mutation {
    "Sets the limit of a task tag (created when new; limit >= 0): at most that many of its task runs are Running at once."
    update_task_tag_limit(input: update_task_tag_limit_input!): concurrency_limit_id_payload
    delete_task_tag_limit(input: delete_task_tag_limit_input!): success_payload
    update_task_concurrency_limit(input: update_task_concurrency_limit_input!): concurrency_limit_id_payload
    delete_task_concurrency_limit(input: delete_task_concurrency_limit_input!): success_payload
    "Sets the limit of a flow run label (created when new; limit >= 0): at most that many of its flow runs are Submitted or Running at once."
    update_flow_concurrency_limit(input: update_flow_concurrency_limit_input!): concurrency_limit_id_payload
    delete_flow_concurrency_limit(input: delete_flow_concurrency_limit_input!): success_payload
  }
`;

const ok = { success: true, error: null };
type In<T> = { input: T };

export const concurrencyResolvers = {
  Query: {
    task_concurrency: (_: unknown, args: { names?: string[] | null }) =>
      Concurrency.usage("task", args.names),
    task_tag_usage: async (_: unknown, args: { tags?: string[] | null }) =>
      (await Concurrency.usage("task", args.tags)).map(({ name, ...rest }) => ({ tag: name, ...rest })),
    flow_concurrency: async (_: unknown, args: { labels?: string[] | null }) =>
      (await Concurrency.usage("flow", args.labels)).map(({ name, ...rest }) => ({ label: name, ...rest })),
  },
  Mutation: {
    update_task_tag_limit: (_: unknown, { input }: In<{ tag: string; limit: number }>) =>
      Concurrency.setLimit("task", { name: input.tag, limit: input.limit }),
    delete_task_tag_limit: async (_: unknown, { input }: In<{ limit_id: string }>) => {
      await Concurrency.removeLimit("task", input.limit_id);
      return ok;
    },
    update_task_concurrency_limit: (_: unknown, { input }: In<{ name: string; limit: number }>) =>
      Concurrency.setLimit("task", input),
    delete_task_concurrency_limit: async (_: unknown, { input }: In<{ limit_id: string }>) => {
      await Concurrency.removeLimit("task", input.limit_id);
      return ok;
    },
    update_flow_concurrency_limit: (
      _: unknown,
      { input }: In<{ label: string; limit: number; tenant_id?: string | null }>,
    ) => {
      assertOwnTenant(input.tenant_id);
      return Concurrency.setLimit("flow", { name: input.label, limit: input.limit });
    },
    delete_flow_concurrency_limit: async (_: unknown, { input }: In<{ limit_id: string }>) => {
      await Concurrency.removeLimit("flow", input.limit_id);
      return ok;
    },
  },
};
