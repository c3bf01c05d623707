import { DeleteCommand, GetCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { putWithUniqueLock, queryAll } from "../dynamo/operations.js";
import { NotFoundError, UniquenessError, ValidationError } from "../errors.js";
import * as Flow from "../flow/index.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { type Project, ProjectEntity } from "./entity.js";
import { ProjectKeys } from "./keys.js";

export type { Project } from "./entity.js";

const createInput = z.object({
  name: z
    .string()
    .trim()
    .min(1, "project name must not be empty")
    .max(255, "project name is at most 255 characters"),
  description: z.string().max(10_000, "description is at most 10,000 characters").nullish(),
});

/** Creates a project; a duplicate name in the workspace fails with exactly `Uniqueness violation.`. */
export async function create(input: { name: string; description?: string | null }): Promise<Project> {
  const parsed = createInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const tenantId = useTenantId();
  const now = nowIso();
  const project: Project = {
    id: newId(),
    tenant_id: tenantId,
    name: parsed.data.name,
    description: parsed.data.description ?? null,
    created: now,
    updated: now,
  };
  await putWithUniqueLock({
    lock: { ...ProjectKeys.nameLock(tenantId, project.name), project_id: project.id },
    item: ProjectEntity.toItem(project),
    conflict: () => new UniquenessError(),
  });
  return project;
}

export async function fromId(id: string): Promise<Project | undefined> {
  if (!isUuid(id)) return undefined;
  return ProjectEntity.get({ tenant_id: useTenantId(), id });
}

export async function fromIds(ids: string[]): Promise<Project[]> {
  const tenant_id = useTenantId();
  return ProjectEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id, id })));
}

export async function fromName(name: string): Promise<Project | undefined> {
  const lock = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: ProjectKeys.nameLock(useTenantId(), name),
      ConsistentRead: true,
    }),
  );
  const id = lock.Item?.project_id;
  return typeof id === "string" ? fromId(id) : undefined;
}

/** All projects of the current workspace, by name. */
export async function listAll(): Promise<Project[]> {
  const items = await queryAll({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": ProjectKeys.listPartition(useTenantId()) },
  });
  return items.map(ProjectEntity.fromItem);
}

/** Deletes a project, its name and its flows (runs of those flows stay readable by id until deleted). */
export async function remove(id: string): Promise<void> {
  const project = await fromId(id);
  if (!project) throw new NotFoundError(`Project ${id} not found`);
  const t = useTenantId();
  for await (const flow of Flow.listAll()) {
    if (flow.project_id === id) await Flow.remove(String(flow.id));
  }
  await useDynamo().send(
    new DeleteCommand({ TableName: mainTable(), Key: ProjectKeys.nameLock(t, project.name) }),
  );
  await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: ProjectKeys.item(t, id) }));
}
