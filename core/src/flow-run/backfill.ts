import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import pLimit from "p-limit";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { key } from "../dynamo/keys.js";
import * as Workspace from "../workspace/index.js";
import { FlowRunKeys } from "./keys.js";

/**
 * Gives flow runs stored before the name index (`gsi4`) and the started order (`due`'s
 * `<t>#flow-runs-started`) existed their keys, so `describe flow-runs --name`, `get logs --name`
 * and `get flow-runs --started` find them too. Runs written since carry the keys from their own
 * writes (creation, rename, first Running).
 *
 * The scheduler runs a slice of it each tick, within a time budget (`backfillStep`): workspace by
 * workspace (in id order), the tenant's runs through its `<t>#flow-runs` listing, a page at a
 * time. Where it got to is kept in one marker item, written after each page, so a crash or a
 * timeout repeats at most a page (each update is conditional on the key being absent and the
 * name or start time being what was read, so repeating one changes nothing). Once every
 * workspace is done the marker says so and a step costs one GetItem.
 */
export const BACKFILL_MARKER = { pk: key("migration", "flow-run-lookup-keys"), sk: "migration" };

/** Runs read per page, and updates in flight. */
const PAGE = 200;
const CONCURRENCY = 8;

type Marker = { done?: boolean; tenant?: string; cursor?: Record<string, unknown>; updated?: number };

export type BackfillResult = { updated: number; done: boolean };

/** Tables whose backfill this process has seen done (a done marker never goes back). */
const doneTables = new Set<string>();

export async function backfillStep(options: { budgetMs: number }): Promise<BackfillResult> {
  const table = mainTable();
  if (doneTables.has(table)) return { updated: 0, done: true };
  const started = Date.now();
  const marker = ((
    await useDynamo().send(new GetCommand({ TableName: table, Key: BACKFILL_MARKER, ConsistentRead: true }))
  ).Item ?? {}) as Marker;
  if (marker.done) {
    doneTables.add(table);
    return { updated: 0, done: true };
  }
  const tenants = (await Workspace.allIds()).sort();
  let tenant = marker.tenant ?? tenants[0];
  let cursor = marker.cursor;
  let updated = 0;
  // At least one page a step, then pages while the budget lasts.
  while (tenant !== undefined) {
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: table,
        IndexName: "gsi3",
        KeyConditionExpression: "gsi3pk = :pk",
        ExpressionAttributeValues: { ":pk": FlowRunKeys.ofTenant(tenant, "", "").gsi3pk },
        ProjectionExpression: "pk, sk, id, #name, created, start_time, gsi4pk, due_pk",
        ExpressionAttributeNames: { "#name": "name" },
        Limit: PAGE,
        ExclusiveStartKey: cursor,
      }),
    );
    const limit = pLimit(CONCURRENCY);
    const t = tenant;
    const counts = await Promise.all((page.Items ?? []).map((item) => limit(() => giveKeys(t, item))));
    updated += counts.reduce((a, b) => a + b, 0);
    cursor = page.LastEvaluatedKey;
    if (!cursor) tenant = tenants.find((id) => id > t);
    await saveMarker(table, tenant, cursor, updated, marker.updated ?? 0);
    if (Date.now() - started >= options.budgetMs) break;
  }
  const done = tenant === undefined;
  if (done) doneTables.add(table);
  return { updated, done };
}

async function saveMarker(
  table: string,
  tenant: string | undefined,
  cursor: Record<string, unknown> | undefined,
  updated: number,
  before: number,
): Promise<void> {
  await useDynamo().send(
    new PutCommand({
      TableName: table,
      Item: {
        ...BACKFILL_MARKER,
        entity: "migration",
        updated: before + updated,
        at: new Date().toISOString(),
        ...(tenant === undefined ? { done: true } : { tenant, ...(cursor ? { cursor } : {}) }),
      },
    }),
  );
}

/** The keys a run lacks, written if it still lacks them and still has the name and start time read. */
async function giveKeys(t: string, item: Record<string, unknown>, attempt = 0): Promise<number> {
  const set: string[] = [];
  const conditions = ["attribute_exists(pk)"];
  const values: Record<string, unknown> = {};
  const id = String(item.id);
  if (item.gsi4pk === undefined && typeof item.name === "string" && typeof item.created === "string") {
    const named = FlowRunKeys.byName(t, item.name, item.created, id);
    set.push("gsi4pk = :npk", "gsi4sk = :nsk");
    conditions.push("attribute_not_exists(gsi4pk)", "#name = :name");
    Object.assign(values, { ":npk": named.gsi4pk, ":nsk": named.gsi4sk, ":name": item.name });
  }
  if (item.due_pk === undefined && typeof item.start_time === "string") {
    const entry = FlowRunKeys.started(t, item.start_time, id);
    set.push("due_pk = :spk", "due_sk = :ssk");
    conditions.push("attribute_not_exists(due_pk)", "start_time = :start");
    Object.assign(values, { ":spk": entry.due_pk, ":ssk": entry.due_sk, ":start": item.start_time });
  }
  if (set.length === 0) return 0;
  try {
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: `SET ${set.join(", ")}`,
        ConditionExpression: conditions.join(" AND "),
        ExpressionAttributeValues: values,
        ...(values[":name"] !== undefined ? { ExpressionAttributeNames: { "#name": "name" } } : {}),
      }),
    );
    return 1;
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException) || attempt > 0) throw error;
    // Changed since the page was read (renamed, started or deleted): read it again, once.
    const now = await useDynamo().send(
      new GetCommand({ TableName: mainTable(), Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }),
    );
    return now.Item &&
      (now.Item.gsi4pk === undefined || (now.Item.start_time && now.Item.due_pk === undefined))
      ? giveKeys(t, now.Item, attempt + 1)
      : 0;
  }
}
