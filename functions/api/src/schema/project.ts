import { Project } from "#core/index.js";
import type { FindArgs } from "#core/project/index.js";
import { assertOwnTenant } from "./tenant-guard.js";

export const projectTypeDefs = /* GraphQL */ `
  type project {
    id: uuid!
    tenant_id: uuid!
    name: String!
    description: String
    created: timestamptz!
    updated: timestamptz!
  }

  input project_bool_exp {
    _and: [project_bool_exp!]
    _or: [project_bool_exp!]
    _not: project_bool_exp
    id: uuid_comparison_exp
    tenant_id: uuid_comparison_exp
    name: String_comparison_exp
    description: String_comparison_exp
    created: timestamptz_comparison_exp
    updated: timestamptz_comparison_exp
  }

  input project_order_by {
    id: order_by
    name: order_by
    created: order_by
    updated: order_by
  }

  input create_project_input {
    name: String!
    description: String
    "Accepted for compatibility; must be the caller's workspace when given."
    tenant_id: uuid
  }

  type project_id_payload {
    id: uuid
  }

  type Query {
    project(where: project_bool_exp, order_by: [project_order_by!], limit: Int, offset: Int): [project!]!
    project_by_pk(id: uuid!): project
  }

  type Mutation {
    create_project(input: create_project_input!): project_id_payload
  }
`;

export const projectResolvers = {
  Query: {
    project: (_: unknown, args: FindArgs) => Project.find(args),
    project_by_pk: async (_: unknown, args: { id: string }) => (await Project.fromId(args.id)) ?? null,
  },
  Mutation: {
    create_project: async (
      _: unknown,
      args: { input: { name: string; description?: string | null; tenant_id?: string | null } },
    ) => {
      assertOwnTenant(args.input.tenant_id);
      const project = await Project.create(args.input);
      return { id: project.id };
    },
  },
};
