import { BatchGetCommand, type BatchGetCommandOutput, GetCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { stripStorage } from "../dynamo/keys.js";
import { putWithUniqueLock, queryAll } from "../dynamo/operations.js";
import { UniquenessError, ValidationError } from "../errors.js";
import { isUuid, newId, nowIso } from "../ids.js";
import {
  type BoolExp,
  matches,
  type OrderBy,
  paginate,
  pinnedValue,
  pinnedValues,
  sortItems,
} from "../query/where.js";
import { ProjectKeys } from "./keys.js";

export type Project = {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  created: string;
  updated: string;
};

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
    item: {
      ...ProjectKeys.item(tenantId, project.id),
      ...ProjectKeys.listing(tenantId, project.name),
      entity: "project",
      ...project,
    },
    conflict: () => new UniquenessError(),
  });
  return project;
}

export async function fromId(id: string): Promise<Project | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: ProjectKeys.item(useTenantId(), id) }),
  );
  return result.Item ? toProject(result.Item) : undefined;
}

export async function fromIds(ids: string[]): Promise<Project[]> {
  const tenantId = useTenantId();
  const unique = [...new Set(ids.filter(isUuid))];
  const found: Project[] = [];
  for (let i = 0; i < unique.length; i += 100) {
    const chunk = unique.slice(i, i + 100);
    let keys: Record<string, unknown>[] | undefined = chunk.map((id) => ProjectKeys.item(tenantId, id));
    while (keys && keys.length > 0) {
      const result: BatchGetCommandOutput = await useDynamo().send(
        new BatchGetCommand({ RequestItems: { [mainTable()]: { Keys: keys } } }),
      );
      found.push(...(result.Responses?.[mainTable()] ?? []).map(toProject));
      keys = result.UnprocessedKeys?.[mainTable()]?.Keys;
    }
  }
  return found;
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
  return items.map(toProject);
}

export type FindArgs = {
  where?: BoolExp | null;
  order_by?: OrderBy[] | OrderBy | null;
  limit?: number | null;
  offset?: number | null;
};

/** Hasura-style read: by id(s) or name through a direct lookup, else the workspace's listing. */
export async function find(args: FindArgs): Promise<Project[]> {
  const ids = pinnedValues(args.where, "id");
  const name = pinnedValue(args.where, "name");
  let candidates: Project[];
  if (ids) candidates = await fromIds(ids.map(String));
  else if (typeof name === "string") candidates = [await fromName(name)].filter((p): p is Project => !!p);
  else candidates = await listAll();
  const matching: Project[] = [];
  for (const project of candidates) if (await matches(project, args.where)) matching.push(project);
  return paginate(sortItems(matching, args.order_by ?? undefined), args.limit, args.offset);
}

function toProject(item: Record<string, unknown>): Project {
  const p = stripStorage(item) as Project;
  return {
    id: p.id,
    tenant_id: p.tenant_id,
    name: p.name,
    description: p.description ?? null,
    created: p.created,
    updated: p.updated ?? p.created,
  };
}
