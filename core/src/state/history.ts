import { mainTable } from "../dynamo/client.js";
import { key } from "../dynamo/keys.js";
import { queryAll } from "../dynamo/operations.js";
import { isScheduled, type ParsedState, serverState } from "./types.js";

/**
 * A run's state history, stored with the run.
 *
 * Most runs see a handful of states (Scheduled, Submitted, Running, Success), so the entries live
 * in the run item itself: a transition appends its entry in the same conditional UpdateItem that
 * changes the state, one write per transition. Every GSI the run item is in copies the whole item,
 * so the inline list is bounded by `HISTORY_INLINE_BYTES`: the transition that finds it full first
 * moves the list into a page item `state#<first version>` in the run's partition, in one
 * transaction with emptying the list, then appends. Nothing is dropped and the run item stays
 * small however long the history grows (a task run retried many times, a flow run restarted).
 *
 * Versions: only transitions change a run's version, and each adds exactly one entry, so the
 * inline entries are consecutive from `history_from` (absent: `INLINE_FROM`) and a page's from its
 * `from`. This is how an unconditional transition (no version given, so its version is known only
 * after the write) appends its entry in the same write.
 */
export const HISTORY_INLINE_BYTES = 4096;

export type HistoryOwner = "flow run" | "task run";

/**
 * The version of the first inline entry: a flow run is created with its Scheduled entry inline; a
 * task run is created without one (one small item per pre-created task run is the floor of
 * create_flow_run), so its Pending version 1 is derived from the item and its list starts at 2.
 */
export const INLINE_FROM: Record<HistoryOwner, number> = { "flow run": 1, "task run": 2 };

/** One inline history entry, as stored (the version is implied by its position). */
export type InlineEntry = {
  state: string;
  message: string | null;
  serialized_state: unknown;
  start_time: string | null;
  timestamp: string;
};

export function inlineEntry(state: ParsedState, now: string): InlineEntry {
  return {
    state: state.type,
    message: state.message,
    serialized_state: state.serialized,
    start_time: isScheduled(state.type) ? (state.startTime ?? now) : null,
    timestamp: now,
  };
}

/** The bytes an entry adds to the item (UTF-8 JSON: close to DynamoDB's own item size rules). */
export function entryBytes(entry: InlineEntry): number {
  return Buffer.byteLength(JSON.stringify(entry), "utf8");
}

/** The sort key of a page of older entries in the run's partition. */
export function pageSk(from: number): string {
  return key("state", from.toString().padStart(10, "0"));
}

export const PAGE_PREFIX = "state#";

/** A history entry as the API returns it (the `flow_run_state` / `task_run_state` rows). */
function historyRow(
  owner: HistoryOwner,
  run: { id: string; tenant_id: unknown },
  version: number,
  entry: InlineEntry,
): Record<string, unknown> {
  return {
    id: `${run.id}:${version}`,
    tenant_id: run.tenant_id,
    [owner === "flow run" ? "flow_run_id" : "task_run_id"]: run.id,
    version,
    state: entry.state,
    message: entry.message,
    serialized_state: entry.serialized_state,
    start_time: entry.start_time,
    timestamp: entry.timestamp,
    created: entry.timestamp,
  };
}

/** The version of the run item's first inline entry. */
export function inlineFrom(owner: HistoryOwner, run: Record<string, unknown>): number {
  return typeof run.history_from === "number" ? run.history_from : INLINE_FROM[owner];
}

/**
 * A run's history, oldest first: one Query of the run's partition (the run item and its pages).
 * Empty when there is no such run.
 */
export async function readHistory(
  owner: HistoryOwner,
  id: string,
  keys: { pk: string; sk: string },
): Promise<Record<string, unknown>[]> {
  const items = await queryAll({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": keys.pk },
  });
  const run = items.find((item) => item.sk === keys.sk);
  if (!run) return [];
  const byVersion = new Map<number, Record<string, unknown>>();
  const add = (from: number, entries: unknown) => {
    if (!Array.isArray(entries)) return;
    (entries as InlineEntry[]).forEach((entry, i) => {
      byVersion.set(from + i, historyRow(owner, { id, tenant_id: run.tenant_id }, from + i, entry));
    });
  };
  // A task run's version 1 (Pending, at its creation) is derived, never stored (INLINE_FROM).
  if (owner === "task run")
    add(1, [inlineEntry(serverState("Pending", "Task run created."), String(run.created))]);
  for (const item of items) {
    if (item === run) add(inlineFrom(owner, item), item.history);
    else if (typeof item.sk === "string" && item.sk.startsWith(PAGE_PREFIX))
      add(Number(item.from), item.entries);
  }
  return [...byVersion.keys()].sort((a, b) => a - b).map((version) => byVersion.get(version) ?? {});
}
