import { Secret } from "#core/index.js";

/**
 * Prefect Cloud 1.0's secrets API. `secret_value` is the only way a value leaves the API; the
 * client reads it through `PrefectSecret` / `Secret.get()` and the UI lists `secret_names`.
 */
export const secretTypeDefs = /* GraphQL */ `
  input set_secret_input {
    name: String!
    "Any JSON value (a string, an object, ...), at most 32 KiB as JSON; returned as given."
    value: JSON!
  }

  input delete_secret_input {
    name: String!
  }

  type Query {
    "A secret's value as it was set. Each read is recorded in the audit log."
    secret_value(name: String!): JSON
    "The names of the workspace's secrets, in name order."
    secret_names: [String!]!
  }

  type Mutation {
    "Creates or replaces a secret."
    set_secret(input: set_secret_input!): success_payload
    delete_secret(input: delete_secret_input!): success_payload
  }
`;

export const secretResolvers = {
  Query: {
    secret_value: (_: unknown, args: { name: string }) => Secret.value(args.name),
    secret_names: () => Secret.names(),
  },
  Mutation: {
    set_secret: async (_: unknown, args: { input: { name: string; value: unknown } }) => {
      await Secret.set(args.input);
      return { success: true, error: null };
    },
    delete_secret: async (_: unknown, args: { input: { name: string } }) => {
      await Secret.remove(args.input.name);
      return { success: true, error: null };
    },
  },
};
