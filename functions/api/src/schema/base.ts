import { actingKeyId } from "#core/actor.js";
import { actingRole } from "#core/auth/roles.js";
import { useTenantId, Workspace } from "#core/index.js";
import { type BoolExp, matches, type OrderBy, paginate, sortItems } from "#core/query/where.js";
import { API_VERSION } from "../version.js";

export const baseTypeDefs = /* GraphQL */ `
  scalar uuid
  scalar timestamptz
  scalar jsonb
  scalar JSON

  enum order_by {
    asc
    asc_nulls_first
    asc_nulls_last
    desc
    desc_nulls_first
    desc_nulls_last
  }

  input uuid_comparison_exp {
    _eq: uuid
    _neq: uuid
    _in: [uuid!]
    _nin: [uuid!]
    _gt: uuid
    _gte: uuid
    _lt: uuid
    _lte: uuid
    _is_null: Boolean
  }

  input String_comparison_exp {
    _eq: String
    _neq: String
    _in: [String!]
    _nin: [String!]
    _gt: String
    _gte: String
    _lt: String
    _lte: String
    _is_null: Boolean
    _like: String
    _ilike: String
  }

  input Int_comparison_exp {
    _eq: Int
    _neq: Int
    _in: [Int!]
    _nin: [Int!]
    _gt: Int
    _gte: Int
    _lt: Int
    _lte: Int
    _is_null: Boolean
  }

  input Boolean_comparison_exp {
    _eq: Boolean
    _neq: Boolean
    _is_null: Boolean
  }

  input timestamptz_comparison_exp {
    _eq: timestamptz
    _neq: timestamptz
    _in: [timestamptz!]
    _nin: [timestamptz!]
    _gt: timestamptz
    _gte: timestamptz
    _lt: timestamptz
    _lte: timestamptz
    _is_null: Boolean
  }

  type api {
    version: String!
    backend: String!
    mode: String!
    core_version: String
  }

  type auth_info {
    tenant_id: uuid
    api_key_id: uuid
    api_token_scope: String
    "The key's role: admin, developer, runner or read_only (docs/roles.md)."
    role: String
  }

  type tenant {
    id: uuid!
    name: String!
    slug: String!
    created: timestamptz!
  }

  input tenant_bool_exp {
    _and: [tenant_bool_exp!]
    _or: [tenant_bool_exp!]
    _not: tenant_bool_exp
    id: uuid_comparison_exp
    name: String_comparison_exp
    slug: String_comparison_exp
    created: timestamptz_comparison_exp
  }

  input tenant_order_by {
    id: order_by
    name: order_by
    slug: order_by
    created: order_by
  }

  type success_payload {
    success: Boolean
    error: String
  }

  type Query {
    "Liveness: answers 'hello' whenever the API is up."
    hello: String!
    api: api!
    auth_info: auth_info!
    "The caller's workspace (a key belongs to exactly one)."
    tenant(where: tenant_bool_exp, order_by: [tenant_order_by!], limit: Int, offset: Int): [tenant!]!
    tenant_by_pk(id: uuid!): tenant
  }
`;

type ListArgs = { where?: BoolExp; order_by?: OrderBy[]; limit?: number; offset?: number };

export const baseResolvers = {
  Query: {
    hello: () => "👋",
    api: () => ({ version: API_VERSION, backend: "CLOUD", mode: "normal", core_version: "1.4.1" }),
    auth_info: () => {
      const tenantId = useTenantId();
      const apiKeyId = actingKeyId();
      return { tenant_id: tenantId, api_key_id: apiKeyId, api_token_scope: "TENANT", role: actingRole() };
    },
    tenant: async (_: unknown, args: ListArgs) => {
      const workspace = await Workspace.current();
      if (!workspace) return [];
      const matching = (await matches(workspace, args.where)) ? [workspace] : [];
      return paginate(sortItems(matching, args.order_by), args.limit, args.offset);
    },
    tenant_by_pk: async (_: unknown, args: { id: string }) => {
      if (args.id !== useTenantId()) return null;
      return (await Workspace.current()) ?? null;
    },
  },
};
