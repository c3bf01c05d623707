import { ApiKey } from "#core/index.js";
import { type BoolExp, matches, type OrderBy, paginate, sortItems } from "#core/query/where.js";

export const apiKeyTypeDefs = /* GraphQL */ `
  "An API key of the workspace: never its secret (shown once, on creation), never its hash."
  type api_key {
    id: uuid!
    tenant_id: uuid!
    name: String!
    "The first characters of the secret, to tell keys apart."
    prefix: String!
    "admin, developer, runner or read_only (docs/roles.md)."
    role: String!
    created: timestamptz!
    expires_at: timestamptz
    revoked_at: timestamptz
    "ACTIVE, EXPIRED or REVOKED, at the time of the request."
    status: String!
  }

  input api_key_bool_exp {
    _and: [api_key_bool_exp!]
    _or: [api_key_bool_exp!]
    _not: api_key_bool_exp
    id: uuid_comparison_exp
    name: String_comparison_exp
    prefix: String_comparison_exp
    role: String_comparison_exp
    status: String_comparison_exp
    created: timestamptz_comparison_exp
    expires_at: timestamptz_comparison_exp
    revoked_at: timestamptz_comparison_exp
  }

  input api_key_order_by {
    name: order_by
    created: order_by
    expires_at: order_by
    revoked_at: order_by
  }

  input create_api_key_input {
    name: String!
    "When the key stops working; never when omitted."
    expires_at: timestamptz
    "admin, developer, runner or read_only (docs/roles.md); admin when omitted."
    role: String
  }

  type create_api_key_payload {
    id: uuid!
    "The secret: returned here, once, and never again."
    key: String!
    api_key: api_key!
  }

  input revoke_api_key_input {
    key_id: uuid!
  }

  input expire_api_key_input {
    key_id: uuid!
    "When the key stops working: now when omitted, never when null."
    expires_at: timestamptz
  }

  type Query {
    "The workspace's API keys, newest first unless ordered otherwise."
    api_key(where: api_key_bool_exp, order_by: [api_key_order_by!], limit: Int, offset: Int): [api_key!]!
  }

  type Mutation {
    create_api_key(input: create_api_key_input!): create_api_key_payload!
    "Revokes a key of the workspace; it (and its sessions) stop working within seconds."
    revoke_api_key(input: revoke_api_key_input!): api_key!
    "Sets or clears when a key of the workspace stops working."
    expire_api_key(input: expire_api_key_input!): api_key!
  }
`;

type ListArgs = { where?: BoolExp; order_by?: OrderBy[]; limit?: number; offset?: number };

function withStatus(key: ApiKey.ApiKey) {
  const expired = key.expires_at !== null && Date.parse(key.expires_at) <= Date.now();
  const status = key.revoked_at ? "REVOKED" : expired ? "EXPIRED" : "ACTIVE";
  return { ...key, status };
}

export const apiKeyResolvers = {
  Query: {
    api_key: async (_: unknown, args: ListArgs) => {
      const keys = (await ApiKey.list()).map(withStatus);
      const matching = [];
      for (const key of keys) if (await matches(key, args.where)) matching.push(key);
      return paginate(sortItems(matching, args.order_by), args.limit, args.offset);
    },
  },
  Mutation: {
    create_api_key: async (
      _: unknown,
      args: { input: { name: string; expires_at?: string | null; role?: string | null } },
    ) => {
      const { secret, ...key } = await ApiKey.create({
        name: args.input.name,
        expires_at: args.input.expires_at,
        role: args.input.role,
      });
      return { id: key.id, key: secret, api_key: withStatus(key) };
    },
    revoke_api_key: async (_: unknown, args: { input: { key_id: string } }) =>
      withStatus(await ApiKey.revoke(args.input.key_id)),
    expire_api_key: async (_: unknown, args: { input: { key_id: string; expires_at?: string | null } }) => {
      const at = "expires_at" in args.input ? (args.input.expires_at ?? null) : new Date().toISOString();
      return withStatus(await ApiKey.expire(args.input.key_id, at));
    },
  },
};
