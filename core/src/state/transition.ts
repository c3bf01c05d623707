import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { holdsSlots, type Slots, slotsOf, writeReleasing } from "../concurrency/slots.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { DroverError, NotFoundError, RetryableError } from "../errors.js";
import {
  entryBytes,
  HISTORY_INLINE_BYTES,
  type InlineEntry,
  inlineEntry,
  inlineFrom,
  pageSk,
} from "./history.js";
import { isFinished, isRunning, type ParsedState } from "./types.js";

export class VersionLockingError extends DroverError {
  constructor(entity: string, id: string, expected: number, actual: unknown) {
    super(
      "VERSION_LOCKING_ERROR",
      `State update failed for ${entity} ${id}: version ${expected} does not match the current version ${String(actual)}.`,
    );
  }
}

export type Transition = {
  entity: "flow run" | "task run";
  id: string;
  key: { pk: string; sk: string };
  /** The version the caller last saw; null means unconditional. */
  version: number | null;
  state: ParsedState;
  /**
   * The agents' queue (flow-run/ready-index.ts): `ready_sk` to put the run in it (with `ready_pk`
   * when the run has none yet), or "remove" to take it off (`ready_pk`, its label set's
   * partition, stays on the run).
   */
  ready?: { ready_pk?: string; ready_sk: string } | "remove";
  /** Sparse watch-index attributes (the scheduler's health checks, flow-run/keys.ts), or "remove". */
  watch?: { watch_pk: string; watch_sk: string } | "remove";
  /** Further attributes set by the same write (e.g. the scheduler's lazarus count). */
  set?: Record<string, unknown>;
  /**
   * Attributes the same write sets only where the item has none yet (`if_not_exists`), as it does
   * `start_time` on a first Running (e.g. a flow run's started-order keys).
   */
  setIfAbsent?: Record<string, unknown>;
  /** Attributes the same write removes (e.g. a sparse index's sort key). */
  remove?: string[];
  /** A further condition on the current item (placeholders `:c_*`; `#state` names the state). */
  condition?: { expression: string; values: Record<string, unknown> };
  /** The transition's clock (the scheduler passes its tick's). */
  now?: string;
  /**
   * Concurrency slots (core/src/concurrency/slots.ts): the slots taken (written with the
   * counters' increments in one transaction), or "remove" when they are given back. Left out, a
   * transition into a state that does not hold slots is conditional on the run holding none; a
   * run that holds some gives them back in one transaction with the transition (`applyTransition`).
   */
  slots?: Slots | "remove";
};

/**
 * One conditional UpdateItem: the unit of work of a state change (version lock, current state,
 * times, ready and watch indexes, and the state's history entry appended to the run item; see
 * history.ts). Returns the item as written. When the inline history is full, it is first moved
 * to a page (one transaction), then the update is made again.
 */
export async function applyTransition(t: Transition): Promise<Record<string, unknown>> {
  const now = t.now ?? new Date().toISOString();
  const entry = inlineEntry(t.state, now);
  for (let attempt = 1; ; attempt++) {
    try {
      return await update(t, now, entry);
    } catch (error) {
      if (!(error instanceof HistoryFull || error instanceof HoldsSlots)) throw error;
      if (attempt >= MAX_PAGE_ATTEMPTS) {
        if (error instanceof HistoryFull) throw error;
        throw new RetryableError(`The ${t.entity} ${t.id} kept changing while it was updated; retry`);
      }
      if (error instanceof HistoryFull) await moveToPage(t, error.item);
      else {
        const written = await releasing(t, now, entry, error.item);
        if (written) return written;
      }
    }
  }
}

/** The run holds concurrency slots the transition must give back (the update changed nothing). */
class HoldsSlots extends Error {
  constructor(readonly item: Record<string, unknown>) {
    super("holds slots");
  }
}

/**
 * The transition of a run that holds slots, with the slots given back, in one transaction held at
 * the version read (so the slots it gives back are exactly those it read). Answers the item as
 * written, or undefined when the run changed meanwhile (the caller tries again).
 */
async function releasing(
  t: Transition,
  now: string,
  entry: InlineEntry,
  old: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  const held = slotsOf(old) ?? {};
  const released: Transition = { ...t, version: Number(old.version), slots: "remove" };
  const { room, ...params } = transitionUpdate(released, now, entry);
  if (Number(old.history_bytes ?? 0) > room) {
    await moveToPage(t, old);
    return undefined;
  }
  const run = { Update: { TableName: mainTable(), ...params } };
  if (await writeReleasing(t.entity, String(old.tenant_id), run, held, now))
    return writtenItem(old, released, now, entry);
  // The run changed since it was read, or the caller's own condition does not hold.
  if (t.condition || t.version !== null)
    throw new VersionLockingError(t.entity, t.id, t.version ?? -1, old.version);
  return undefined;
}

/**
 * The item a transition wrote, from the item it was applied to (for transitions written in a
 * transaction, which returns no values): the attributes `transitionUpdate` sets and removes.
 */
export function writtenItem(
  old: Record<string, unknown>,
  t: Transition,
  now: string,
  entry: InlineEntry,
): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...old,
    previous_state: old.state,
    version: Number(old.version) + 1,
    state: t.state.type,
    serialized_state: t.state.serialized,
    state_message: t.state.message,
    state_timestamp: now,
    state_start_time: entry.start_time,
    updated: now,
  };
  if (isRunning(t.state.type) && item.start_time === undefined) item.start_time = now;
  if (isFinished(t.state.type)) item.end_time = now;
  if (t.ready === "remove") delete item.ready_sk;
  else if (t.ready) Object.assign(item, t.ready);
  if (t.watch === "remove") {
    delete item.watch_pk;
    delete item.watch_sk;
  } else if (t.watch) Object.assign(item, t.watch);
  for (const [attribute, value] of Object.entries(t.setIfAbsent ?? {}))
    if (item[attribute] === undefined) item[attribute] = value;
  Object.assign(item, t.set ?? {});
  for (const attribute of t.remove ?? []) delete item[attribute];
  if (t.slots === "remove") delete item.slots;
  else if (t.slots) item.slots = t.slots;
  return item;
}

/** Transitions racing to page the same full history: each loser sees room on its next attempt. */
const MAX_PAGE_ATTEMPTS = 8;

/** The inline history has no room for the entry (the update changed nothing). */
class HistoryFull extends Error {
  constructor(readonly item: Record<string, unknown>) {
    super("history full");
  }
}

/**
 * Moves a run's full inline history into its page item and empties it, in one transaction that
 * holds only if the run is still as it was read (same version, same list) and the page is new:
 * when several transitions find the list full at once, one moves it and the others find room.
 */
export async function moveToPage(t: Transition, item: Record<string, unknown>): Promise<void> {
  const owner = t.entity;
  const from = inlineFrom(owner, item);
  const entries = Array.isArray(item.history) ? item.history : [];
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: mainTable(),
              Item: {
                pk: t.key.pk,
                sk: pageSk(from),
                entity: "state-page",
                tenant_id: item.tenant_id,
                from,
                entries,
              },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Update: {
              TableName: mainTable(),
              Key: t.key,
              UpdateExpression: "SET history = :empty, history_bytes = :zero, history_from = :next",
              ConditionExpression: "version = :version AND history_bytes = :bytes",
              ExpressionAttributeValues: {
                ":empty": [],
                ":zero": 0,
                ":next": from + entries.length,
                ":version": item.version,
                ":bytes": item.history_bytes,
              },
            },
          },
        ],
      }),
    );
  } catch (error) {
    // Another transition moved or extended the list meanwhile: the next attempt sees it as it is.
    if (!(error instanceof TransactionCanceledException)) throw error;
  }
}

/** The UpdateItem of a transition (without its table): used alone, or as one item of a batch's transaction. */
export function transitionUpdate(t: Transition, now: string, entry: InlineEntry) {
  const { state } = t;
  const set = [
    // Every operand is read from the item as it was before this update, so this keeps the state
    // being left: callers learn it from the one write instead of reading the item first.
    "previous_state = #state",
    "version = version + :one",
    "#state = :type",
    "serialized_state = :serialized",
    "state_message = :message",
    "state_timestamp = :now",
    "state_start_time = :start",
    "updated = :now",
  ];
  const remove: string[] = [];
  const values: Record<string, unknown> = {
    ":one": 1,
    ":type": state.type,
    ":serialized": state.serialized,
    ":message": state.message,
    ":now": now,
    ":start": entry.start_time,
  };
  // An entry larger than the whole budget still goes inline, alone (the list is moved out first).
  const size = entryBytes(entry);
  const room = Math.max(HISTORY_INLINE_BYTES - size, 0);
  set.push(
    "history = list_append(if_not_exists(history, :empty), :entry)",
    "history_bytes = if_not_exists(history_bytes, :zero) + :size",
  );
  values[":empty"] = [];
  values[":entry"] = [entry];
  values[":zero"] = 0;
  values[":size"] = size;
  values[":room"] = room;
  let condition = "attribute_exists(pk) AND (attribute_not_exists(history_bytes) OR history_bytes <= :room)";
  if (isRunning(state.type)) set.push("start_time = if_not_exists(start_time, :now)");
  if (isFinished(state.type)) set.push("end_time = :now");
  if (t.ready === "remove") remove.push("ready_sk");
  else if (t.ready) {
    set.push("ready_sk = :rsk");
    values[":rsk"] = t.ready.ready_sk;
    if (t.ready.ready_pk) {
      set.push("ready_pk = :rpk");
      values[":rpk"] = t.ready.ready_pk;
    }
  }
  if (t.watch === "remove") remove.push("watch_pk", "watch_sk");
  else if (t.watch) {
    set.push("watch_pk = :wpk", "watch_sk = :wsk");
    values[":wpk"] = t.watch.watch_pk;
    values[":wsk"] = t.watch.watch_sk;
  }
  const names: Record<string, string> = { "#state": "state" };
  Object.entries(t.set ?? {}).forEach(([attribute, value], i) => {
    set.push(`#x${i} = :x${i}`);
    names[`#x${i}`] = attribute;
    values[`:x${i}`] = value;
  });
  Object.entries(t.setIfAbsent ?? {}).forEach(([attribute, value], i) => {
    set.push(`#a${i} = if_not_exists(#a${i}, :a${i})`);
    names[`#a${i}`] = attribute;
    values[`:a${i}`] = value;
  });
  (t.remove ?? []).forEach((attribute, i) => {
    remove.push(`#r${i}`);
    names[`#r${i}`] = attribute;
  });
  if (t.slots === "remove") remove.push("slots");
  else if (t.slots) {
    set.push("slots = :slots");
    values[":slots"] = t.slots;
  }
  // Slots are taken (`t.slots`) only by a run holding none; a state that holds none is entered
  // only by a run holding none (else `applyTransition` gives them back with it).
  if (t.slots !== "remove" && (t.slots || !holdsSlots(t.entity, state.type)))
    condition += " AND attribute_not_exists(slots)";
  if (t.version !== null) {
    condition += " AND version = :expected";
    values[":expected"] = t.version;
  }
  if (t.condition) {
    condition += ` AND (${t.condition.expression})`;
    Object.assign(values, t.condition.values);
  }
  return {
    Key: t.key,
    UpdateExpression: `SET ${set.join(", ")}${remove.length ? ` REMOVE ${remove.join(", ")}` : ""}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    room,
  };
}

async function update(t: Transition, now: string, entry: InlineEntry): Promise<Record<string, unknown>> {
  const { room, ...params } = transitionUpdate(t, now, entry);
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        ...params,
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    return result.Attributes ?? {};
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    if (!error.Item)
      throw new NotFoundError(`${t.entity === "flow run" ? "Flow run" : "Task run"} ${t.id} not found`);
    const old = unmarshall(error.Item);
    const current = Number(old.version);
    if (t.version !== null && current !== t.version)
      throw new VersionLockingError(t.entity, t.id, t.version, current);
    if (Number(old.history_bytes ?? 0) > room) throw new HistoryFull(old);
    if (slotsOf(old) && t.slots === undefined && !holdsSlots(t.entity, t.state.type))
      throw new HoldsSlots(old);
    // The caller's own condition (t.condition) did not hold.
    throw new VersionLockingError(t.entity, t.id, t.version ?? -1, current);
  }
}
