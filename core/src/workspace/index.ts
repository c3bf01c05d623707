import { GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { stripStorage } from "../dynamo/keys.js";
import { putWithUniqueLock, queryAll } from "../dynamo/operations.js";
import { UniquenessError, ValidationError } from "../errors.js";
import { newId, nowIso } from "../ids.js";
import { WorkspaceKeys } from "./keys.js";

export type Workspace = { id: string; name: string; slug: string; created: string };

const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const createInput = z.object({
  name: z.string().trim().min(1, "name must not be empty").max(200, "name is at most 200 characters"),
  slug: z
    .string()
    .regex(
      SLUG_RE,
      "slug must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash",
    )
    .optional(),
});

/** Derives a URL-safe slug from a display name ("My Team" → "my-team"). */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/g, "");
  return slug.length > 0 ? slug : "workspace";
}

/** Creates a workspace; its slug is unique across the installation. System operation (no actor needed). */
export async function create(input: {
  name: string;
  slug?: string | undefined;
  id?: string;
}): Promise<Workspace> {
  const parsed = createInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const workspace: Workspace = {
    id: input.id ?? newId(),
    name: parsed.data.name,
    slug: parsed.data.slug ?? slugify(parsed.data.name),
    created: nowIso(),
  };
  await putWithUniqueLock({
    lock: { ...WorkspaceKeys.slugLock(workspace.slug), tenant_id: workspace.id },
    item: {
      ...WorkspaceKeys.item(workspace.id),
      ...WorkspaceKeys.listing(workspace.slug),
      entity: "tenant",
      ...workspace,
    },
    conflict: () =>
      new UniquenessError(`Uniqueness violation: a workspace with slug "${workspace.slug}" already exists.`),
  });
  return workspace;
}

export async function fromId(id: string): Promise<Workspace | undefined> {
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: WorkspaceKeys.item(id) }),
  );
  return result.Item ? toWorkspace(result.Item) : undefined;
}

export async function fromSlug(slug: string): Promise<Workspace | undefined> {
  const lock = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: WorkspaceKeys.slugLock(slug), ConsistentRead: true }),
  );
  const tenantId = lock.Item?.tenant_id;
  return typeof tenantId === "string" ? fromId(tenantId) : undefined;
}

/** The workspace of the current actor. */
export async function current(): Promise<Workspace | undefined> {
  return fromId(useTenantId());
}

/** All workspaces of the installation, by slug (administration only; never on a request path). */
export async function listAll(limit = 1000): Promise<Workspace[]> {
  const result = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :pk",
      ExpressionAttributeValues: { ":pk": WorkspaceKeys.listPartition },
      Limit: limit,
    }),
  );
  return (result.Items ?? []).map(toWorkspace);
}

/** The ids of every workspace of the installation, all pages (system work such as backfills). */
export async function allIds(): Promise<string[]> {
  const items = await queryAll({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": WorkspaceKeys.listPartition },
    ProjectionExpression: "id",
  });
  return items.map((item) => String(item.id));
}

function toWorkspace(item: Record<string, unknown>): Workspace {
  const { id, name, slug, created } = stripStorage(item) as Workspace;
  return { id, name, slug, created };
}
