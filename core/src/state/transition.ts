import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { DroverError, NotFoundError } from "../errors.js";
import { isFinished, isRunning, isScheduled, type ParsedState } from "./types.js";

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
  /** Sparse ready-index attributes to set, or "remove" to take the run off the agents' queue. */
  ready?: { ready_pk: string; ready_sk: string } | "remove";
  /** Sparse watch-index attributes (the scheduler's health checks, flow-run/keys.ts), or "remove". */
  watch?: { watch_pk: string; watch_sk: string } | "remove";
  /** Further attributes set by the same write (e.g. the scheduler's lazarus count). */
  set?: Record<string, unknown>;
  /** A further condition on the current item (placeholders `:c_*`; `#state` names the state). */
  condition?: { expression: string; values: Record<string, unknown> };
  /** The transition's clock (the scheduler passes its tick's). */
  now?: string;
};

/**
 * One conditional UpdateItem: the unit of work of a state change (version lock, current state,
 * times, ready index). Returns the item as written. The history entry is written after it with a
 * deterministic key (`state#<version>`), so a retry rewrites the same entry.
 */
export async function applyTransition(t: Transition): Promise<Record<string, unknown>> {
  const now = t.now ?? new Date().toISOString();
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
    ":start": isScheduled(state.type) ? (state.startTime ?? now) : null,
  };
  if (isRunning(state.type)) set.push("start_time = if_not_exists(start_time, :now)");
  if (isFinished(state.type)) set.push("end_time = :now");
  if (t.ready === "remove") remove.push("ready_pk", "ready_sk");
  else if (t.ready) {
    set.push("ready_pk = :rpk", "ready_sk = :rsk");
    values[":rpk"] = t.ready.ready_pk;
    values[":rsk"] = t.ready.ready_sk;
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
  let condition = "attribute_exists(pk)";
  if (t.version !== null) {
    condition += " AND version = :expected";
    values[":expected"] = t.version;
  }
  if (t.condition) {
    condition += ` AND (${t.condition.expression})`;
    Object.assign(values, t.condition.values);
  }
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: t.key,
        UpdateExpression: `SET ${set.join(", ")}${remove.length ? ` REMOVE ${remove.join(", ")}` : ""}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    const written = result.Attributes ?? {};
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: {
          pk: t.key.pk,
          sk: `state#${String(written.version).padStart(10, "0")}`,
          entity: "state",
          id: `${t.id}:${String(written.version)}`,
          tenant_id: written.tenant_id,
          [t.entity === "flow run" ? "flow_run_id" : "task_run_id"]: t.id,
          version: written.version,
          state: state.type,
          message: state.message,
          serialized_state: state.serialized,
          start_time: isScheduled(state.type) ? (state.startTime ?? now) : null,
          timestamp: now,
          created: now,
        },
      }),
    );
    return written;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      if (!error.Item)
        throw new NotFoundError(`${t.entity === "flow run" ? "Flow run" : "Task run"} ${t.id} not found`);
      const current = (error.Item.version as { N?: string } | undefined)?.N;
      throw new VersionLockingError(t.entity, t.id, t.version ?? -1, current);
    }
    throw error;
  }
}
