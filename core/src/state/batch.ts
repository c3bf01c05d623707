import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { type Counter, jitter, planSlots, queuedState } from "../concurrency/slots.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { batchGet } from "../dynamo/operations.js";
import { DroverError, NotFoundError, RetryableError, ValidationError } from "../errors.js";
import { nowIso } from "../ids.js";
import { inlineEntry } from "./history.js";
import {
  moveToPage,
  type Transition,
  transitionUpdate,
  VersionLockingError,
  writtenItem,
} from "./transition.js";
import { type ParsedState, parseState } from "./types.js";

/**
 * Batched state changes (`set_flow_run_states`, `set_task_run_states` with several entries) are
 * all or nothing (docs/all-or-nothing.md): every entry is validated against the runs as read
 * (existence in the tenant, version, the caller's own checks) before anything is written, then all
 * are written in one TransactWriteItems whose conditions hold each run at the version read. A run
 * changed between the read and the write cancels the transaction, and the batch is read and
 * validated again, so the errors a batch answers are those of its entries, never a half-applied batch.
 */

/** DynamoDB's TransactWriteItems limit, and so the most entries a batch may have. */
export const MAX_BATCH_ENTRIES = 100;

/** A transaction's request is at most 4 MB; each entry's state is written twice (current and history). */
const MAX_BATCH_STATE_BYTES = 3 * 1024 * 1024;

/** Reads, validations and transactions tried before answering a retryable error (concurrent writers). */
const MAX_ATTEMPTS = 5;
/** The same for calls racing others for concurrency slots (every racer but one is refused or queued). */
const MAX_SLOT_ATTEMPTS = 15;

/** Cancellation reasons that a fresh read and validation resolve (or turn into the entry's own error). */
const RETRIED = new Set(["None", "ConditionalCheckFailed", "TransactionConflict"]);

/** An entry of a batch: its transition with the version the caller gave (null: any). */
export type BatchEntry = Omit<Transition, "now" | "ready" | "watch" | "set" | "remove" | "condition">;

/** What the transition of each entry adds, known only once the run is read (index attributes). */
export type Complete = (entry: BatchEntry, item: Record<string, unknown>, now: string) => Partial<Transition>;

/** One entry of a state mutation, parsed: the run, the version the caller gave (null: any), the state. */
export type StateEntry = { id: string; version: number | null; state: ParsedState };
/**
 * What each entry answers: SUCCESS, or QUEUED when a concurrency limit refused its Running (or a
 * flow run's Submitted) and a Queued state was stored instead (Prefect Cloud's answer, which the
 * Prefect client turns into a wait and a new attempt), with that state's message.
 */
export type StateResult = { id: string; status: "SUCCESS" | "QUEUED"; message: string | null };

/** What applying an entry did: its message when it was queued instead (undefined: applied as asked). */
export type Applied = { queued?: string | undefined };

/**
 * A state mutation (`set_flow_run_states`, `set_task_run_states`): its entries parsed, then one
 * entry applied by `single` (its one conditional write, the hot path) or several by `together`
 * (all or none, `applyAll`). Each entry answers SUCCESS; any error answers for the whole call.
 */
export async function setStates(
  entries: Array<{ id: string; version?: number | null; state: unknown }>,
  single: (entry: StateEntry) => Promise<Applied>,
  together: (entries: StateEntry[]) => Promise<Applied[]>,
): Promise<StateResult[]> {
  if (entries.length === 0) throw new ValidationError("states must not be empty");
  if (entries.length > MAX_BATCH_ENTRIES)
    throw new ValidationError(`at most ${MAX_BATCH_ENTRIES} states per call`);
  const parsed = entries.map((e) => ({ id: e.id, version: e.version ?? null, state: parseState(e.state) }));
  const [first] = parsed;
  const applied = parsed.length === 1 && first ? [await single(first)] : await together(parsed);
  return parsed.map((e, i) => {
    const queued = applied[i]?.queued;
    return queued === undefined
      ? { id: e.id, status: "SUCCESS", message: null }
      : { id: e.id, status: "QUEUED", message: queued };
  });
}

/**
 * Refuses what no transaction can hold, before any read: duplicate runs (a transaction names each
 * item once), too many entries, and states too large together.
 */
export function checkBatchShape(entries: BatchEntry[]): void {
  if (entries.length > MAX_BATCH_ENTRIES)
    throw new ValidationError(`at most ${MAX_BATCH_ENTRIES} states per call`);
  const seen = new Set<string>();
  let bytes = 0;
  for (const entry of entries) {
    if (seen.has(entry.id))
      throw new ValidationError(`${entry.entity} ${entry.id} appears more than once in one call`);
    seen.add(entry.id);
    bytes += 2 * Buffer.byteLength(JSON.stringify(entry.state.serialized), "utf8");
  }
  if (bytes > MAX_BATCH_STATE_BYTES)
    throw new DroverError(
      "PAYLOAD_TOO_LARGE",
      `The states of one call total ${bytes} bytes stored; the limit is ${MAX_BATCH_STATE_BYTES} (send fewer per call)`,
    );
}

/**
 * What a batch needs to know about concurrency limits (core/src/concurrency/slots.ts): the limit
 * names entry i would take slots of when it enters a slot-taking state (its task's tags, its flow
 * run's labels; names without a limit are unlimited), what a refused entry's Queued transition
 * adds (index attributes), and, for the first attempt, counters read just before.
 */
export type SlotOptions = {
  namesOf: (entry: BatchEntry, item: Record<string, unknown>) => readonly string[];
  queued?: (entry: BatchEntry, item: Record<string, unknown>, now: string) => Partial<Transition>;
  prefetched?: Map<string, Counter>;
};

/**
 * Applies every entry or none. `validate` sees the runs as read (in entry order) and throws to
 * refuse the batch; `complete` adds each entry's index attributes. Concurrency slots are part of
 * the same transaction: a run leaving a holding state gives its slots back; with `slots`, a run
 * entering a slot-taking state takes a slot of each of its limited names, or, when one has no
 * room, is written Queued instead (wrapping its state; left as it is when already Queued) and
 * answers QUEUED. Returns the runs as they were before the write (the write held them at exactly
 * that version), as written, and what each entry did.
 */
export async function applyAll(
  entries: BatchEntry[],
  options: {
    validate?: (items: Record<string, unknown>[]) => Promise<void>;
    complete?: Complete;
    slots?: SlotOptions;
  } = {},
): Promise<{
  before: Record<string, unknown>[];
  after: Record<string, unknown>[];
  applied: Applied[];
  now: string;
}> {
  checkBatchShape(entries);
  const entity = entries[0]?.entity ?? "task run";
  let contended = false;
  for (let attempt = 1; attempt <= (contended ? MAX_SLOT_ATTEMPTS : MAX_ATTEMPTS); attempt++) {
    const items = await readAll(entries);
    await options.validate?.(items);
    const now = nowIso();
    const t = String(items[0]?.tenant_id ?? "");
    const slotOptions = options.slots;
    const plan = await planSlots(
      entity,
      t,
      entries,
      items,
      now,
      slotOptions
        ? (i) => slotOptions.namesOf(entries[i] as BatchEntry, items[i] as Record<string, unknown>)
        : undefined,
      attempt === 1 ? slotOptions?.prefetched : undefined,
    );
    if (entries.length + plan.counters.length > MAX_BATCH_ENTRIES)
      throw new ValidationError(
        `at most ${MAX_BATCH_ENTRIES} states and concurrency limits per call (send fewer states per call)`,
      );
    const transitions = entries.map((entry, i) => {
      const item = items[i] as Record<string, unknown>;
      const decision = plan.decisions[i] ?? {};
      // Held at the version read, whatever the caller gave: what was validated is what is written.
      const base = { ...entry, ...options.complete?.(entry, item, now), version: Number(item.version), now };
      if (decision.queued === undefined)
        return { ...base, ...(decision.write ? { slots: decision.write } : {}) };
      const state = queuedState(item, decision.queued, now);
      return { ...base, ...slotOptions?.queued?.(entry, item, now), state };
    });
    // A full inline history is first moved to its page (invisible to readers), then all is read again.
    const updates = transitions.map((t, i) => {
      const { room, ...params } = transitionUpdate(t, now, inlineEntry(t.state, now));
      const item = items[i] as Record<string, unknown>;
      // A run already Queued and refused again is left as it is (its version still checked).
      const alone = plan.decisions[i]?.queued !== undefined && item.state === "Queued";
      return { params, item, t, alone, full: !alone && Number(item.history_bytes ?? 0) > room };
    });
    if (updates.some((u) => u.full)) {
      for (const { item, t } of updates.filter((u) => u.full)) await moveToPage(t, item);
      continue;
    }
    const applied: Applied[] = updates.map((u, i) => ({
      queued: u.alone ? String(u.item.state_message ?? "") : plan.decisions[i]?.queued,
    }));
    const after = updates.map(({ item, t, alone }) =>
      alone ? item : writtenItem(item, t, now, inlineEntry(t.state, now)),
    );
    const writes = [
      ...updates.map(({ params, item, alone }) =>
        alone
          ? {
              ConditionCheck: {
                TableName: mainTable(),
                Key: params.Key,
                ConditionExpression: "version = :v",
                ExpressionAttributeValues: { ":v": item.version },
              },
            }
          : { Update: { TableName: mainTable(), ...params } },
      ),
      ...plan.counters,
    ];
    // Nothing to write (every entry left as it is): the strong reads were the answer.
    if (writes.every((w) => "ConditionCheck" in w)) return { before: items, after, applied, now };
    try {
      await useDynamo().send(new TransactWriteCommand({ TransactItems: writes }));
      return { before: items, after, applied, now };
    } catch (error) {
      // A run changed since it was read (or a concurrent transaction held it): read and validate again.
      if (!(error instanceof TransactionCanceledException)) throw error;
      const refused = (error.CancellationReasons ?? []).find((r) => r.Code && !RETRIED.has(r.Code));
      // An item the write would make too large, say: nothing was written, and trying again cannot help.
      if (refused?.Code === "ValidationError")
        throw new ValidationError(`A state could not be stored: ${refused.Message ?? "invalid value"}`);
      if (refused) throw error;
      // Runs racing for the same slots: spread the next attempts.
      if (plan.counters.length > 0) {
        contended = true;
        await jitter(attempt);
      }
    }
  }
  throw new RetryableError(
    "The runs of this call kept changing while it was applied; nothing was changed, retry",
  );
}

/** The runs of the entries, strongly read, in entry order; an entry without a run refuses the batch. */
async function readAll(entries: BatchEntry[]): Promise<Record<string, unknown>[]> {
  const found = await batchGet(
    entries.map((e) => e.key),
    { consistent: true },
  );
  const byKey = new Map(found.map((item) => [`${item.pk}\u0000${item.sk}`, item]));
  return entries.map((entry) => {
    const item = byKey.get(`${entry.key.pk}\u0000${entry.key.sk}`);
    const name = entry.entity === "flow run" ? "Flow run" : "Task run";
    if (!item) throw new NotFoundError(`${name} ${entry.id} not found`);
    if (entry.version !== null && Number(item.version) !== entry.version)
      throw new VersionLockingError(entry.entity, entry.id, entry.version, item.version);
    return item;
  });
}
