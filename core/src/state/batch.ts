import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { batchGet } from "../dynamo/operations.js";
import { DroverError, NotFoundError, RetryableError, ValidationError } from "../errors.js";
import { nowIso } from "../ids.js";
import { inlineEntry } from "./history.js";
import { moveToPage, type Transition, transitionUpdate, VersionLockingError } from "./transition.js";
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

/** Cancellation reasons that a fresh read and validation resolve (or turn into the entry's own error). */
const RETRIED = new Set(["None", "ConditionalCheckFailed", "TransactionConflict"]);

/** An entry of a batch: its transition with the version the caller gave (null: any). */
export type BatchEntry = Omit<Transition, "now" | "ready" | "watch" | "set" | "remove" | "condition">;

/** What the transition of each entry adds, known only once the run is read (index attributes). */
export type Complete = (entry: BatchEntry, item: Record<string, unknown>, now: string) => Partial<Transition>;

/** One entry of a state mutation, parsed: the run, the version the caller gave (null: any), the state. */
export type StateEntry = { id: string; version: number | null; state: ParsedState };
export type StateResult = { id: string; status: "SUCCESS"; message: null };

/**
 * A state mutation (`set_flow_run_states`, `set_task_run_states`): its entries parsed, then one
 * entry applied by `single` (its one conditional write, the hot path) or several by `together`
 * (all or none, `applyAll`). Each entry answers SUCCESS; any error answers for the whole call.
 */
export async function setStates(
  entries: Array<{ id: string; version?: number | null; state: unknown }>,
  single: (entry: StateEntry) => Promise<unknown>,
  together: (entries: StateEntry[]) => Promise<void>,
): Promise<StateResult[]> {
  if (entries.length === 0) throw new ValidationError("states must not be empty");
  if (entries.length > MAX_BATCH_ENTRIES)
    throw new ValidationError(`at most ${MAX_BATCH_ENTRIES} states per call`);
  const parsed = entries.map((e) => ({ id: e.id, version: e.version ?? null, state: parseState(e.state) }));
  const [first] = parsed;
  if (parsed.length === 1 && first) await single(first);
  else await together(parsed);
  return parsed.map((e) => ({ id: e.id, status: "SUCCESS", message: null }));
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
 * Applies every entry or none. `validate` sees the runs as read (in entry order) and throws to
 * refuse the batch; `complete` adds each entry's index attributes. Returns the runs as they were
 * before the write (the write held them at exactly that version).
 */
export async function applyAll(
  entries: BatchEntry[],
  options: {
    validate?: (items: Record<string, unknown>[]) => Promise<void>;
    complete?: Complete;
  } = {},
): Promise<{ before: Record<string, unknown>[]; now: string }> {
  checkBatchShape(entries);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const items = await readAll(entries);
    await options.validate?.(items);
    const now = nowIso();
    const transitions = entries.map((entry, i) => {
      const item = items[i] as Record<string, unknown>;
      // Held at the version read, whatever the caller gave: what was validated is what is written.
      return { ...entry, ...options.complete?.(entry, item, now), version: Number(item.version), now };
    });
    // A full inline history is first moved to its page (invisible to readers), then all is read again.
    const updates = transitions.map((t, i) => {
      const { room, ...params } = transitionUpdate(t, now, inlineEntry(t.state, now));
      const item = items[i] as Record<string, unknown>;
      return { params, item, t, full: Number(item.history_bytes ?? 0) > room };
    });
    if (updates.some((u) => u.full)) {
      for (const { item, t } of updates.filter((u) => u.full)) await moveToPage(t, item);
      continue;
    }
    try {
      await useDynamo().send(
        new TransactWriteCommand({
          TransactItems: updates.map(({ params }) => ({ Update: { TableName: mainTable(), ...params } })),
        }),
      );
      return { before: items, now };
    } catch (error) {
      // A run changed since it was read (or a concurrent transaction held it): read and validate again.
      if (!(error instanceof TransactionCanceledException)) throw error;
      const refused = (error.CancellationReasons ?? []).find((r) => r.Code && !RETRIED.has(r.Code));
      // An item the write would make too large, say: nothing was written, and trying again cannot help.
      if (refused?.Code === "ValidationError")
        throw new ValidationError(`A state could not be stored: ${refused.Message ?? "invalid value"}`);
      if (refused) throw error;
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
