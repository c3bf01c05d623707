import * as Artifact from "#core/artifact/index.js";
import { assertOwnTenant } from "./tenant-guard.js";

/**
 * Task run artifacts, as Prefect Server and Cloud 1.0 serve them to the 1.4.1 client
 * (`Client.create_task_run_artifact`, `update_task_run_artifact`, `delete_task_run_artifact`);
 * they are read through the generated `task_run_artifact` read model.
 */
export const artifactTypeDefs = /* GraphQL */ `
  input create_task_run_artifact_input {
    task_run_id: uuid!
    "Prefect 1 writes \`link\` (data \`{ link }\`) and \`markdown\` (data \`{ markdown }\`)."
    kind: String!
    "Any JSON value, at most ${Artifact.MAX_ARTIFACT_DATA_BYTES} bytes as JSON."
    data: JSON!
    "Accepted for compatibility; must be the caller's workspace when given."
    tenant_id: uuid
  }

  input update_task_run_artifact_input {
    task_run_artifact_id: uuid!
    data: JSON!
  }

  input delete_task_run_artifact_input {
    task_run_artifact_id: uuid!
  }

  type task_run_artifact_id_payload {
    id: uuid
  }

  type Mutation {
    "Attaches an artifact to a task run (at most ${Artifact.MAX_ARTIFACTS_PER_TASK_RUN} per task run)."
    create_task_run_artifact(input: create_task_run_artifact_input!): task_run_artifact_id_payload
    "Replaces an artifact's data; success is false when there is no such artifact."
    update_task_run_artifact(input: update_task_run_artifact_input!): success_payload
    "Deletes an artifact; success is false when there is no such artifact."
    delete_task_run_artifact(input: delete_task_run_artifact_input!): success_payload
  }
`;

type CreateInput = { task_run_id: string; kind: string; data: unknown; tenant_id?: string | null };

export const artifactResolvers = {
  Mutation: {
    create_task_run_artifact: async (_: unknown, args: { input: CreateInput }) => {
      assertOwnTenant(args.input.tenant_id);
      const artifact = await Artifact.create(args.input);
      return { id: artifact.id };
    },
    update_task_run_artifact: async (
      _: unknown,
      args: { input: { task_run_artifact_id: string; data: unknown } },
    ) => ({ success: await Artifact.update(args.input), error: null }),
    delete_task_run_artifact: async (_: unknown, args: { input: { task_run_artifact_id: string } }) => ({
      success: await Artifact.remove(args.input),
      error: null,
    }),
  },
};
