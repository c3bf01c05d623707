import { Project } from "#core/index.js";
import { assertOwnTenant } from "./tenant-guard.js";

export const projectTypeDefs = /* GraphQL */ `
  input create_project_input {
    name: String!
    description: String
    "Accepted for compatibility; must be the caller's workspace when given."
    tenant_id: uuid
  }

  input delete_project_input {
    project_id: uuid!
  }

  type project_id_payload {
    id: uuid
  }

  type Mutation {
    create_project(input: create_project_input!): project_id_payload
    "Deletes a project with its flows."
    delete_project(input: delete_project_input!): success_payload
  }
`;

export const projectResolvers = {
  Mutation: {
    create_project: async (
      _: unknown,
      args: { input: { name: string; description?: string | null; tenant_id?: string | null } },
    ) => {
      assertOwnTenant(args.input.tenant_id);
      const project = await Project.create(args.input);
      return { id: project.id };
    },
    delete_project: async (_: unknown, args: { input: { project_id: string } }) => {
      await Project.remove(args.input.project_id);
      return { success: true, error: null };
    },
  },
};
