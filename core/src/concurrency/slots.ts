import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, TransactWriteCommand, type TransactWriteCommandInput } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { batchGet } from "../dynamo/operations.js";
import { RetryableError } from "../errors.js";
import { type ParsedState, serverState } from "../state/types.js";
import { ConcurrencyKeys } from "./keys.js";

/**
 * Concurrency slots (docs/concurrency-limits.md). A limit item is its own slot counter (`used`);
 * a run holding slots carries `slots` (name → the id of the limit it took a slot of). Taking is
 * one transaction of the run's transition and the counters' increments, each conditional on the
 * counter as read (`id`, `limit`, room), so under any race exactly `limit` runs get in. Giving
 * back is one transaction of the transition out of a holding state (removing `slots`) and the
 * decrements, so a slot is released exactly once, whatever ends the run: the transition's
 * version lock makes the `slots` it removes exactly the ones it read. A decrement is kept only
 * for a limit with the id the run took (a limit deleted, or deleted and created again, is not
 * decremented for slots of the old one).
 */
export type RunEntity = "task run" | "flow run";
/** The slots a run holds: limit name (tag or label) → id of the limit. */
export type Slots = Record<string, string>;
/** A limit's counter as read. */
export type Counter = { name: string; id: string; limit: number; used: number };
type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

/** States in which a run keeps its slots; any other state gives them back. */
const HOLDING: Record<RunEntity, ReadonlySet<string>> = {
  "task run": new Set(["Running", "Cancelling"]),
  "flow run": new Set(["Submitted", "Running", "Cancelling"]),
};
/** States that need a slot of every limited name of the run (tags of its task, labels of the flow run). */
const TAKING: Record<RunEntity, ReadonlySet<string>> = {
  "task run": new Set(["Running"]),
  "flow run": new Set(["Submitted", "Running"]),
};

export const holdsSlots = (entity: RunEntity, type: string) => HOLDING[entity].has(type);
export const takesSlots = (entity: RunEntity, type: string) => TAKING[entity].has(type);

/** How long a refused run is told to wait (Prefect 1's `cloud.queue_interval`; the client uses its own). */
export const QUEUE_INTERVAL_MS = 30_000;

export function counterKey(entity: RunEntity, t: string, name: string) {
  return entity === "task run" ? ConcurrencyKeys.taskTag(t, name) : ConcurrencyKeys.flowLabel(t, name);
}

/** The slots a stored run holds (undefined: none). */
export function slotsOf(item: Record<string, unknown> | undefined): Slots | undefined {
  const slots = item?.slots;
  if (!slots || typeof slots !== "object" || Array.isArray(slots)) return undefined;
  return Object.keys(slots).length > 0 ? (slots as Slots) : undefined;
}

export function toCounter(entity: RunEntity, item: Record<string, unknown>): Counter {
  return {
    name: String(entity === "task run" ? item.tag : item.name),
    id: String(item.id),
    limit: Number(item.limit),
    used: Number(item.used ?? 0),
  };
}

/** The limits of `names` that exist, strongly read (one BatchGetItem per 100 names; none for no names). */
export async function readCounters(
  entity: RunEntity,
  t: string,
  names: readonly string[],
): Promise<Map<string, Counter>> {
  const unique = [...new Set(names)];
  if (unique.length === 0) return new Map();
  const items = await batchGet(
    unique.map((name) => counterKey(entity, t, name)),
    { consistent: true },
  );
  return new Map(items.map((item) => toCounter(entity, item)).map((c) => [c.name, c]));
}

/**
 * A counter's change inside a transaction: `delta` > 0 takes slots (only while the limit is the
 * one read and has room for them), < 0 gives them back (only to the limit they were taken from),
 * 0 checks the limit is still the one read.
 */
function counterItem(
  entity: RunEntity,
  t: string,
  counter: Pick<Counter, "id" | "limit"> & { name: string },
  delta: number,
  now: string,
): TransactItem {
  const Key = counterKey(entity, t, counter.name);
  if (delta === 0)
    return {
      ConditionCheck: {
        TableName: mainTable(),
        Key,
        ConditionExpression: "id = :id",
        ExpressionAttributeValues: { ":id": counter.id },
      },
    };
  if (delta > 0)
    return {
      Update: {
        TableName: mainTable(),
        Key,
        UpdateExpression: "SET used = used + :delta, updated = :now",
        ConditionExpression: "id = :id AND #limit = :limit AND used <= :max",
        ExpressionAttributeNames: { "#limit": "limit" },
        ExpressionAttributeValues: {
          ":delta": delta,
          ":now": now,
          ":id": counter.id,
          ":limit": counter.limit,
          ":max": counter.limit - delta,
        },
      },
    };
  return {
    Update: {
      TableName: mainTable(),
      Key,
      UpdateExpression: "SET used = used - :n, updated = :now",
      ConditionExpression: "id = :id AND used >= :n",
      ExpressionAttributeValues: { ":n": -delta, ":now": now, ":id": counter.id },
    },
  };
}

/** What a transition does about slots: write `slots` (taken), remove them (given back), or queue the run. */
export type SlotDecision = { write?: Slots | "remove"; queued?: string };

/**
 * The slot side of a set of transitions (one transaction): which entries give back slots, which
 * take them (in entry order, while every limited name has room) and which are refused (queued),
 * with the counters' changes. `namesOf(i)` names the limit names entry i would need (its task's
 * tags, its flow run's labels); names without a limit are unlimited.
 */
export async function planSlots(
  entity: RunEntity,
  t: string,
  entries: ReadonlyArray<{ state: ParsedState }>,
  items: ReadonlyArray<Record<string, unknown>>,
  now: string,
  namesOf: ((i: number) => readonly string[]) | undefined,
  prefetched?: Map<string, Counter>,
): Promise<{ decisions: SlotDecision[]; counters: TransactItem[] }> {
  const releases = new Map<number, Slots>();
  const takes = new Map<number, readonly string[]>();
  const all = new Set<string>();
  entries.forEach((entry, i) => {
    const held = slotsOf(items[i]);
    if (held && !holdsSlots(entity, entry.state.type)) {
      releases.set(i, held);
      for (const name of Object.keys(held)) all.add(name);
    } else if (!held && takesSlots(entity, entry.state.type) && namesOf) {
      const names = namesOf(i);
      if (names.length > 0) takes.set(i, names);
      for (const name of names) all.add(name);
    }
  });
  const decisions: SlotDecision[] = entries.map(() => ({}));
  if (all.size === 0) return { decisions, counters: [] };
  // A read made just before for the same takes (the single-entry path) serves the first attempt.
  const counters = prefetched && releases.size === 0 ? prefetched : await readCounters(entity, t, [...all]);
  const delta = new Map<string, number>();
  for (const [i, held] of releases) {
    (decisions[i] as SlotDecision).write = "remove";
    for (const [name, id] of Object.entries(held)) {
      if (counters.get(name)?.id === id) delta.set(name, (delta.get(name) ?? 0) - 1);
    }
  }
  const taken = new Map<string, number>();
  for (const [i, names] of takes) {
    const limited = [...new Set(names)].filter((name) => counters.has(name));
    if (limited.length === 0) continue;
    const full = limited.filter((name) => {
      const c = counters.get(name) as Counter;
      return c.limit - c.used - (taken.get(name) ?? 0) < 1;
    });
    if (full.length > 0) {
      (decisions[i] as SlotDecision).queued = queuedMessage(entity, full, counters);
      continue;
    }
    const slots: Slots = {};
    for (const name of limited) {
      slots[name] = (counters.get(name) as Counter).id;
      taken.set(name, (taken.get(name) ?? 0) + 1);
      delta.set(name, (delta.get(name) ?? 0) + 1);
    }
    (decisions[i] as SlotDecision).write = slots;
  }
  const changes: TransactItem[] = [];
  for (const [name, d] of delta) {
    const counter = counters.get(name) as Counter;
    // A net zero still checks the limit of a slot taken is the one read.
    if (d !== 0 || taken.has(name)) changes.push(counterItem(entity, t, counter, d, now));
  }
  return { decisions, counters: changes };
}

function queuedMessage(entity: RunEntity, full: string[], counters: Map<string, Counter>): string {
  const what = full
    .map((name) => {
      const c = counters.get(name) as Counter;
      return `"${name}" (${Math.max(c.used, 0)} of ${c.limit} in use)`;
    })
    .join(", ");
  return entity === "task run"
    ? `Queued by task tag concurrency limit: no free slot for tag ${what}.`
    : `Queued by flow run concurrency limit: no free slot for label ${what}.`;
}

/**
 * The Queued state a refused run is given: it wraps the state the run was in (the Prefect
 * client unwraps it and tries Running again), starting after the client's queue interval.
 */
export function queuedState(item: Record<string, unknown>, message: string, now: string): ParsedState {
  const start = new Date(Date.parse(now) + QUEUE_INTERVAL_MS).toISOString();
  const state = serverState("Queued", message, start);
  state.serialized.state = item.serialized_state ?? null;
  return state;
}

/** Transactions tried when concurrent ones hold the same counters. */
const RELEASE_ATTEMPTS = 8;

/**
 * Writes `run` (the run's own item of a transaction: its transition out of a holding state, or
 * its deletion, conditional on the version read) with the slots `held` given back. A decrement
 * refused because its limit is gone (or new) is dropped and the rest written again. Answers
 * false when the run's own condition failed (it changed meanwhile: the caller reads it again).
 */
export async function writeReleasing(
  entity: RunEntity,
  t: string,
  run: TransactItem,
  held: Slots,
  now: string,
): Promise<boolean> {
  let names = Object.keys(held);
  for (let attempt = 1; ; attempt++) {
    const changes = names.map((name) =>
      counterItem(entity, t, { name, id: held[name] as string, limit: 0 }, -1, now),
    );
    try {
      await useDynamo().send(new TransactWriteCommand({ TransactItems: [run, ...changes] }));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (reasons[0]?.Code === "ConditionalCheckFailed") return false;
      const gone = new Set(names.filter((_, i) => reasons[i + 1]?.Code === "ConditionalCheckFailed"));
      names = names.filter((name) => !gone.has(name));
      const conflict = reasons.some((r) => r.Code === "TransactionConflict");
      if (reasons[0]?.Code && reasons[0].Code !== "None" && reasons[0].Code !== "TransactionConflict")
        throw error;
      if (attempt >= RELEASE_ATTEMPTS)
        throw new RetryableError("Concurrency slots kept changing while a run gave them back; retry");
      if (conflict) await jitter(attempt);
    }
  }
}

export function jitter(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** attempt) * Math.random()));
}

/**
 * Deletes a run's item, giving back the slots it holds in the same transaction. One DeleteItem
 * when it holds none (conditional on that, `mustExist` adding that it exists); answers whether
 * an item was deleted.
 */
export async function deleteReleasing(
  entity: RunEntity,
  key: { pk: string; sk: string },
  options: { mustExist?: boolean } = {},
): Promise<boolean> {
  for (let attempt = 1; attempt <= RELEASE_ATTEMPTS; attempt++) {
    let old: Record<string, unknown> | undefined;
    try {
      await useDynamo().send(
        new DeleteCommand({
          TableName: mainTable(),
          Key: key,
          ConditionExpression: options.mustExist
            ? "attribute_exists(pk) AND attribute_not_exists(slots)"
            : "attribute_not_exists(slots)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!error.Item) return false;
      old = unmarshall(error.Item);
    }
    const held = slotsOf(old);
    if (!held) continue;
    const run: TransactItem = {
      Delete: {
        TableName: mainTable(),
        Key: key,
        ConditionExpression: "version = :v",
        ExpressionAttributeValues: { ":v": old.version },
      },
    };
    if (await writeReleasing(entity, String(old.tenant_id), run, held, new Date().toISOString())) return true;
  }
  throw new RetryableError("A run kept changing while it was deleted; retry");
}
