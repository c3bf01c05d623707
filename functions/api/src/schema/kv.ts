import type { GraphQLResolveInfo } from "graphql";
import { Workspace } from "#core/index.js";
import * as KeyValue from "#core/kv/index.js";

export const kvTypeDefs = /* GraphQL */ `
  "A key-value pair of the workspace. created_by/updated_by: the API key that made the change."
  type key_value {
    id: uuid!
    tenant_id: uuid!
    key: String!
    value: JSON
    "1 when created, +1 on every write; compare-and-set with set_key_value(expected_version)."
    version: Int
    created: timestamptz!
    created_by: String
    updated: timestamptz
    updated_by: String
    tenant: tenant
  }

  input key_value_bool_exp {
    _and: [key_value_bool_exp!]
    _or: [key_value_bool_exp!]
    _not: key_value_bool_exp
    id: uuid_comparison_exp
    tenant_id: uuid_comparison_exp
    key: String_comparison_exp
    version: Int_comparison_exp
    created: timestamptz_comparison_exp
    updated: timestamptz_comparison_exp
    created_by: String_comparison_exp
    updated_by: String_comparison_exp
  }

  input key_value_order_by {
    id: order_by
    key: order_by
    version: order_by
    created: order_by
    updated: order_by
  }

  input set_key_value_input {
    key: String!
    "Any JSON value; a string holding a JSON object, array or string is decoded (the Prefect CLI sends JSON text)."
    value: JSON
    "Compare-and-set: write only if the pair is at this version (0: only if the key does not exist)."
    expected_version: Int
  }

  type set_key_value_payload {
    id: uuid
    version: Int
  }

  input delete_key_value_input {
    key_value_id: uuid!
  }

  type key_value_usage {
    pair_count: Int!
    max_pairs: Int!
  }

  type Query {
    key_value(
      where: key_value_bool_exp
      order_by: [key_value_order_by!]
      limit: Int
      offset: Int
    ): [key_value!]!
    key_value_by_pk(id: uuid!): key_value
    "How many pairs the workspace has and its limit."
    key_value_usage: key_value_usage!
  }

  type Mutation {
    set_key_value(input: set_key_value_input!): set_key_value_payload
    delete_key_value(input: delete_key_value_input!): success_payload
  }
`;

/** Top-level field names the query selects on each pair (undefined, i.e. all, when fragments are used). */
function selectedColumns(info: GraphQLResolveInfo): string[] | undefined {
  const selections = info.fieldNodes[0]?.selectionSet?.selections ?? [];
  const names: string[] = [];
  for (const selection of selections) {
    if (selection.kind !== "Field") return undefined;
    names.push(selection.name.value === "tenant" ? "tenant_id" : selection.name.value);
  }
  return names;
}

type SetArgs = { input: { key: string; value?: unknown; expected_version?: number | null } };

export const kvResolvers = {
  Query: {
    key_value: (_: unknown, args: KeyValue.FindArgs, _context: unknown, info: GraphQLResolveInfo) =>
      KeyValue.find(args, selectedColumns(info)),
    key_value_by_pk: async (_: unknown, args: { id: string }) => (await KeyValue.fromId(args.id)) ?? null,
    key_value_usage: () => KeyValue.settings(),
  },
  Mutation: {
    set_key_value: async (_: unknown, args: SetArgs) => {
      const { pair } = await KeyValue.set({
        key: args.input.key,
        value: "value" in args.input ? KeyValue.decodeClientValue(args.input.value) : undefined,
        expectedVersion: args.input.expected_version,
      });
      return { id: pair.id, version: pair.version };
    },
    delete_key_value: async (_: unknown, args: { input: { key_value_id: string } }) => {
      await KeyValue.removeById(args.input.key_value_id);
      return { success: true, error: null };
    },
  },
  key_value: {
    tenant: () => Workspace.current(),
  },
};
