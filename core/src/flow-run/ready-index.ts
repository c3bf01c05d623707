import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { LRUCache } from "lru-cache";
import { useTenantId } from "../actor.js";
import { FLOW_LABEL_PREFIX } from "../concurrency/keys.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { key } from "../dynamo/keys.js";
import { queryAll } from "../dynamo/operations.js";
import { FlowRunKeys, labelSetId } from "./keys.js";

/**
 * The agents' queue (the sparse `ready` index), split by label set so that a poll reads only
 * the runs its agent can take.
 *
 * - Each run's `ready_pk` is `<t>#queue#<label set id>` (flow-run/keys.ts), written when the run
 *   is created and moved by `set_flow_run_labels`; it stays on the run for good. The run is in
 *   the queue while it also carries `ready_sk` (`<start>#<id>`): a transition into the Scheduled
 *   family (or a task run's retry coming due) sets it, any other transition removes it. So
 *   entering and leaving the queue stay one attribute on the run's own write.
 * - The label sets a tenant's queue may hold are listed by small items in `<t>#queue-sets`, one
 *   per set, with the set's labels and `touched` (when a process last wrote it). A run entering
 *   the queue first makes sure its set is listed; each process writes a set's item at most once
 *   every `READY_SET_REMEMBER_MS`, so the list is not a hot item per run.
 * - A poll lists the sets (one Query, as many items as label sets in use), keeps those its agent
 *   takes, and reads each kept set's partition oldest first, merging by start time: its cost
 *   is the runs it returns plus a request and a page per label set it takes, whatever else waits.
 * - Entries go stale (a set with no run left in the queue): a stale one costs its poll one empty
 *   Query, and each poll prunes at most one set untouched for `READY_SET_PRUNE_AGE_MS` whose
 *   partition it finds empty. The delete is conditional on `touched` as read; the age (far
 *   beyond any process's memory of having written the set) ensures no process skips writing the
 *   set while the delete could land.
 * - Runs queued by versions before this layout sit in `<t>#ready`. A tenant's polls move them to
 *   their sets' partitions (`migrateLegacy`, at most `LEGACY_MOVES_PER_POLL` a poll) until the
 *   old partition is found empty, then record that in the marker item `LEGACY_MARKER` of the
 *   list, and keep looking for `LEGACY_GRACE_MS` more (old code still finishing its requests
 *   during an upgrade). Runs of that age out of the queue get their `ready_pk` when they next
 *   enter it. No index changes: the `ready` GSI keeps its name and attributes.
 */
export const READY_SET_REMEMBER_MS = 5 * 60_000;
export const READY_SET_PRUNE_AGE_MS = 60 * 60_000;
/** A prune's delete is given up when its emptiness check is older than this. */
const PRUNE_CHECK_VALID_MS = 10_000;
export const LEGACY_MOVES_PER_POLL = 500;
export const LEGACY_GRACE_MS = 20 * 60_000;
/** The list's sort key for the marker: outside the hex range of label set ids. */
export const LEGACY_MARKER = "~legacy-queue-moved";

/** Label sets this process wrote lately, by table, tenant and set id. */
const remembered = new LRUCache<string, Promise<void>>({ max: 10_000, ttl: READY_SET_REMEMBER_MS });

export type ReadySet = { id: string; labels: string[]; touched: string };

function sortedLabels(labels: unknown): string[] {
  return Array.isArray(labels) ? [...new Set(labels.map(String))].sort() : [];
}

/**
 * Makes sure the label set of `labels` is listed for tenant `t` before a run of it enters the
 * queue; answers the set's queue partition. A write only when this process has not written the
 * set within `READY_SET_REMEMBER_MS` (idempotent: any number of writers set the same labels).
 */
export async function ensureReadySet(t: string, labels: readonly string[]): Promise<string> {
  const sorted = sortedLabels(labels);
  const setId = labelSetId(sorted);
  const table = mainTable();
  const memo = key(table, t, setId);
  let written = remembered.get(memo);
  if (!written) {
    // Concurrent creations of the same set (a scheduler tick's runs) share one write.
    written = useDynamo()
      .send(
        new UpdateCommand({
          TableName: table,
          Key: FlowRunKeys.readySet(t, setId),
          UpdateExpression: "SET entity = :entity, labels = :labels, touched = :now",
          ExpressionAttributeValues: {
            ":entity": "queue-label-set",
            ":labels": sorted,
            ":now": new Date().toISOString(),
          },
        }),
      )
      .then(() => undefined);
    remembered.set(memo, written);
    written.catch(() => remembered.delete(memo));
  }
  await written;
  return FlowRunKeys.readyPartition(t, setId);
}

/** Forgets which sets this process wrote (tests that prune or simulate other processes). */
export function forgetReadySets(): void {
  remembered.clear();
}

const isCurrentLayout = (readyPk: unknown) => typeof readyPk === "string" && readyPk.includes("#queue#");

/**
 * The ready-index attributes for run `id` entering the queue at `startTime` (a transition into
 * the Scheduled family, a task run's retry coming due): reads the run's labels (one GetItem),
 * lists its label set, and answers `ready_sk`, plus `ready_pk` when the run has none yet or the
 * old layout's (`ready_pk` is otherwise left alone: `set_flow_run_labels` owns it).
 */
export async function readyEntry(
  t: string,
  id: string,
  startTime: string,
): Promise<{ ready_pk?: string; ready_sk: string }> {
  const ready_sk = key(startTime, id);
  const { Item: run } = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowRunKeys.run(t, id),
      ProjectionExpression: "labels, ready_pk",
    }),
  );
  if (!run) return { ready_sk }; // the write that follows answers NOT_FOUND
  const partition = await ensureReadySet(t, sortedLabels(run.labels));
  return isCurrentLayout(run.ready_pk) ? { ready_sk } : { ready_pk: partition, ready_sk };
}

/**
 * The current tenant's list of label sets (and the legacy marker, if written), and the flow
 * label concurrency limits kept in the same partition (core/src/concurrency/keys.ts), as items.
 */
export async function readySets(): Promise<{
  sets: ReadySet[];
  legacyMovedAt: string | null;
  limits: Record<string, unknown>[];
}> {
  const items = await queryAll({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": FlowRunKeys.readySetsPartition(useTenantId()) },
  });
  let legacyMovedAt: string | null = null;
  const sets: ReadySet[] = [];
  const limits: Record<string, unknown>[] = [];
  for (const item of items) {
    if (item.sk === LEGACY_MARKER) legacyMovedAt = String(item.touched);
    else if (String(item.sk).startsWith(FLOW_LABEL_PREFIX)) limits.push(item);
    else sets.push({ id: String(item.sk), labels: sortedLabels(item.labels), touched: String(item.touched) });
  }
  return { sets, legacyMovedAt, limits };
}

/**
 * One label set's runs due by `before`, oldest first, read a page at a time on demand (a poll
 * merges several of these by start time).
 */
export class ReadyStream {
  private buffer: Array<Record<string, unknown>> = [];
  private cursor: Record<string, unknown> | undefined;
  private started = false;
  /** Items this stream read from DynamoDB. */
  read = 0;

  constructor(
    readonly set: ReadySet,
    private readonly before: string,
  ) {}

  /** Whether it may still yield items (buffered, or more to read). */
  get open(): boolean {
    return this.buffer.length > 0 || !this.started || this.cursor !== undefined;
  }

  head(): Record<string, unknown> | undefined {
    return this.buffer[0];
  }

  /** Reads the next page (`limit` items at most) once the buffer is empty. */
  async fill(limit: number): Promise<void> {
    if (this.buffer.length > 0 || (this.started && !this.cursor)) return;
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: mainTable(),
        IndexName: "ready",
        KeyConditionExpression: "ready_pk = :pk AND ready_sk <= :before",
        ExpressionAttributeValues: {
          ":pk": FlowRunKeys.readyPartition(useTenantId(), this.set.id),
          ":before": `${this.before}~`,
        },
        Limit: limit,
        ExclusiveStartKey: this.cursor,
      }),
    );
    this.started = true;
    this.cursor = page.LastEvaluatedKey;
    this.buffer = page.Items ?? [];
    this.read += this.buffer.length;
  }

  shift(): Record<string, unknown> | undefined {
    return this.buffer.shift();
  }
}

/**
 * Prunes at most one stale set: the least recently touched one untouched for
 * `READY_SET_PRUNE_AGE_MS`. One Query (Limit 1) on its partition; if a run is there (due or
 * not), the set is touched so it waits another age before being looked at again; if none, the
 * set's item is deleted unless someone wrote it since it was read.
 */
export async function pruneStaleSet(sets: ReadySet[], now: Date): Promise<"none" | "kept" | "pruned"> {
  const cutoff = new Date(now.getTime() - READY_SET_PRUNE_AGE_MS).toISOString();
  const stale = sets.filter((s) => s.touched < cutoff).sort((a, b) => a.touched.localeCompare(b.touched))[0];
  if (!stale) return "none";
  const t = useTenantId();
  const checkedAt = Date.now();
  const page = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "ready",
      KeyConditionExpression: "ready_pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.readyPartition(t, stale.id) },
      Limit: 1,
    }),
  );
  const condition = {
    ConditionExpression: "touched = :read",
    ExpressionAttributeValues: { ":read": stale.touched } as Record<string, unknown>,
  };
  try {
    if ((page.Items ?? []).length > 0) {
      await useDynamo().send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: FlowRunKeys.readySet(t, stale.id),
          UpdateExpression: "SET touched = :now",
          ...condition,
          ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ":now": now.toISOString() },
        }),
      );
      return "kept";
    }
    if (Date.now() - checkedAt > PRUNE_CHECK_VALID_MS) return "kept";
    await useDynamo().send(
      new DeleteCommand({ TableName: mainTable(), Key: FlowRunKeys.readySet(t, stale.id), ...condition }),
    );
    return "pruned";
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return "kept"; // written meanwhile
    throw error;
  }
}

/**
 * Moves up to `LEGACY_MOVES_PER_POLL` runs of the tenant's old single queue partition to their
 * label sets' partitions (each move conditional on the run still being there). When the old
 * partition is found empty and the marker is missing, writes the marker. Answers how many moved.
 */
export async function migrateLegacy(legacyMovedAt: string | null): Promise<number> {
  const t = useTenantId();
  const legacy = FlowRunKeys.legacyReadyPartition(t);
  const page = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "ready",
      KeyConditionExpression: "ready_pk = :pk",
      ExpressionAttributeValues: { ":pk": legacy },
      Limit: LEGACY_MOVES_PER_POLL,
    }),
  );
  const runs = page.Items ?? [];
  for (const run of runs) {
    const partition = await ensureReadySet(t, sortedLabels(run.labels));
    await useDynamo()
      .send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: { pk: run.pk, sk: run.sk },
          UpdateExpression: "SET ready_pk = :new",
          ConditionExpression: "ready_pk = :old",
          ExpressionAttributeValues: { ":new": partition, ":old": legacy },
        }),
      )
      .catch((error) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error; // left the queue meanwhile
      });
  }
  if (runs.length === 0 && page.LastEvaluatedKey === undefined && legacyMovedAt === null) {
    await useDynamo()
      .send(
        new PutCommand({
          TableName: mainTable(),
          Item: {
            ...FlowRunKeys.readySet(t, LEGACY_MARKER),
            entity: "queue-label-set",
            touched: new Date().toISOString(),
          },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      )
      .catch((error) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }
  return runs.length;
}

/** Whether a poll should still look at the old single partition. */
export function legacyMayHoldRuns(legacyMovedAt: string | null, now: Date): boolean {
  return legacyMovedAt === null || Date.parse(legacyMovedAt) > now.getTime() - LEGACY_GRACE_MS;
}
