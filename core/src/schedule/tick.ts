import { createHash } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { asTenant } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import * as FlowRun from "../flow-run/index.js";
import { type ScheduleItem, stableJson, sync } from "./index.js";
import { DUE_SHARDS, ScheduleKeys } from "./keys.js";
import { nextEvents, parseSchedule, type ScheduleEvent } from "./schedule.js";

export type TickOptions = {
  /** The tick's clock (tests pass their own; no sleeping). */
  now?: Date;
  /** Upcoming runs kept per schedule (Prefect Cloud: 10). */
  upcoming?: number;
  /** Schedules handled per invocation; the rest stay due for the next tick. */
  maxSchedules?: number;
  /** No schedule is started after this many ms (the Lambda's timeout minus a margin). */
  budgetMs?: number;
  /** Schedules handled in parallel. */
  concurrency?: number;
  onError?: (error: unknown, item: ScheduleItem) => void;
};

export type TickResult = {
  due: number;
  processed: number;
  runsCreated: number;
  indexUpdates: number;
  failed: number;
  skippedEvents: number;
};

const DEFAULTS = { upcoming: 10, maxSchedules: 1000, budgetMs: 45_000, concurrency: 16 };

/**
 * The run's idempotency key: the schedule generation, the start time and what the clock gives the
 * run, so two clocks firing at once with different parameters get a run each, and any number of
 * overlapping or repeated ticks create each run once.
 */
export function idempotencyKey(generation: string, event: ScheduleEvent): string {
  const what = createHash("sha1")
    .update(stableJson({ p: event.parameterDefaults, l: event.labels ? [...event.labels].sort() : null }))
    .digest("hex")
    .slice(0, 16);
  return `auto-scheduled:${generation}:${event.startTime}:${what}`;
}

/** The run a schedule event stands for, created once whoever asks (the tick, a backfill). */
export function createScheduledRun(item: ScheduleItem, event: ScheduleEvent) {
  return FlowRun.create({
    flow_id: item.flow_id,
    parameters: event.parameterDefaults,
    ...(event.labels ? { labels: event.labels } : {}),
    scheduled_start_time: event.startTime,
    idempotency_key: idempotencyKey(item.generation, event),
    auto_scheduled: true,
  });
}

/** The schedules due at `now`, oldest first: one Query per shard, never the schedules not due. */
async function dueSchedules(now: Date, limit: number): Promise<ScheduleItem[]> {
  const pages = await Promise.all(
    Array.from({ length: DUE_SHARDS }, (_, shard) =>
      useDynamo().send(
        new QueryCommand({
          TableName: mainTable(),
          IndexName: "due",
          KeyConditionExpression: "due_pk = :pk AND due_sk <= :now",
          ExpressionAttributeValues: {
            ":pk": ScheduleKeys.duePartition(shard),
            ":now": `${now.toISOString()}#~`,
          },
          Limit: limit,
        }),
      ),
    ),
  );
  return pages
    .flatMap((page) => (page.Items ?? []) as Array<ScheduleItem & { due_sk: string }>)
    .sort((a, b) => (a.due_sk < b.due_sk ? -1 : 1))
    .slice(0, limit);
}

/**
 * One scheduler tick: for each due schedule, creates the missing runs among its next `upcoming`
 * events (Scheduled, auto_scheduled, with the clock's parameters and labels), then advances its
 * index item. Bounded by `maxSchedules` and `budgetMs`; whatever is not handled stays due, and a
 * schedule interrupted half-way is redone by the next tick with the same keys (no loss, no duplicates).
 */
export async function tick(options: TickOptions = {}): Promise<TickResult> {
  const o = { ...DEFAULTS, ...options };
  const now = options.now ?? new Date();
  const started = Date.now();
  const due = await dueSchedules(now, o.maxSchedules);
  const result: TickResult = {
    due: due.length,
    processed: 0,
    runsCreated: 0,
    indexUpdates: 0,
    failed: 0,
    skippedEvents: 0,
  };
  let next = 0;
  const worker = async () => {
    while (next < due.length && Date.now() - started < o.budgetMs) {
      const item = due[next++] as ScheduleItem;
      try {
        const one = await asTenant(item.tenant_id, () => scheduleOne(item, now, o.upcoming));
        result.processed++;
        result.runsCreated += one.runsCreated;
        result.indexUpdates += one.indexUpdates;
        result.skippedEvents += one.skippedEvents;
      } catch (error) {
        result.failed++;
        o.onError?.(error, item);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, due.length) }, worker));
  return result;
}

async function scheduleOne(item: ScheduleItem, now: Date, upcoming: number) {
  const outcome = { runsCreated: 0, indexUpdates: 0, skippedEvents: 0 };
  let events: ScheduleEvent[];
  try {
    events = nextEvents(parseSchedule(item.schedule), now, upcoming);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    events = []; // validated when stored; a schedule that no longer parses is dropped rather than retried forever
  }
  const created: string[] = [];
  for (const event of events) {
    if (item.scheduled_until !== null && event.startTime <= item.scheduled_until) continue;
    try {
      const run = await createScheduledRun(item, event);
      if (run.created) created.push(run.id);
    } catch (error) {
      if (
        error instanceof NotFoundError ||
        (error instanceof ValidationError && /archived/.test(error.message))
      ) {
        // The flow went away under the schedule: recompute what (if anything) the group schedules.
        await sync(item.flow_group_id);
        return outcome;
      }
      if (!(error instanceof ValidationError)) throw error;
      outcome.skippedEvents++; // e.g. clock parameters the flow refuses: never retried forever
    }
  }
  outcome.runsCreated = created.length;
  const key = ScheduleKeys.schedule(item.tenant_id, item.flow_group_id);
  try {
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last) {
      await useDynamo().send(
        new DeleteCommand({
          TableName: mainTable(),
          Key: key,
          ConditionExpression: "generation = :gen",
          ExpressionAttributeValues: { ":gen": item.generation },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
    } else {
      const due = ScheduleKeys.due(item.tenant_id, item.flow_group_id, first.startTime);
      await useDynamo().send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: key,
          UpdateExpression: "SET scheduled_until = :until, next_due = :due, due_pk = :dpk, due_sk = :dsk",
          // Monotonic: a tick that read a stale copy of the index never moves it backwards.
          ConditionExpression:
            "generation = :gen AND attribute_exists(due_pk) AND (scheduled_until = :null OR scheduled_until <= :until)",
          ExpressionAttributeValues: {
            ":until": last.startTime,
            ":due": first.startTime,
            ":dpk": due.due_pk,
            ":dsk": due.due_sk,
            ":gen": item.generation,
            ":null": null,
          },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
    }
    outcome.indexUpdates = 1;
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const current = error.Item as { generation?: { S?: string } } | undefined;
    if (current?.generation?.S !== item.generation) {
      // The schedule was turned off or changed while this tick created runs: take back its runs.
      for (const id of created) await FlowRun.remove(id).catch(() => {});
      outcome.runsCreated = 0;
    }
  }
  return outcome;
}
