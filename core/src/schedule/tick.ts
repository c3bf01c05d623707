import { createHash } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import pLimit from "p-limit";
import { asTenant } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import * as FlowGroup from "../flow/group.js";
import * as Flow from "../flow/index.js";
import * as FlowRun from "../flow-run/index.js";
import { RunQuotaExceededError, warn } from "../limits/quota.js";
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
  /** DynamoDB requests in flight at once (reads of flows and groups, run puts, index updates). */
  concurrency?: number;
  onError?: (error: unknown, item: ScheduleItem) => void;
  /** A schedule's runs skipped because its workspace is at its stored-run quota (default: a warning line). */
  onOverQuota?: (error: RunQuotaExceededError, item: ScheduleItem, skipped: number) => void;
};

export type TickResult = {
  due: number;
  processed: number;
  runsCreated: number;
  indexUpdates: number;
  failed: number;
  skippedEvents: number;
  /** Runs not created because their workspace was at its stored-run quota (also in `skippedEvents`). */
  overQuota: number;
};

const DEFAULTS = { upcoming: 10, maxSchedules: 1000, budgetMs: 45_000, concurrency: 32 };

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

/** What a schedule's runs are created from (its flow and flow group), read once per schedule. */
export async function scheduledTarget(
  item: ScheduleItem,
  io: Limit = (fn) => fn(),
): Promise<FlowRun.ScheduledTarget> {
  const [flow, group] = await Promise.all([
    io(() => Flow.fromId(item.flow_id)),
    io(() => FlowGroup.fromId(item.flow_group_id)),
  ]);
  if (!flow) throw new NotFoundError(`Flow ${item.flow_id} not found`);
  return { flow, group };
}

/** The run a schedule event stands for, created once whoever asks (the tick, a backfill). */
export function createScheduledRun(
  target: FlowRun.ScheduledTarget,
  item: ScheduleItem,
  event: ScheduleEvent,
) {
  return FlowRun.createScheduled(target, {
    parameters: event.parameterDefaults,
    labels: event.labels,
    scheduled_start_time: event.startTime,
    idempotency_key: idempotencyKey(item.generation, event),
  });
}

/**
 * The schedules due at `now`, oldest first within each shard: a Query per shard for its share of
 * `limit`, then, while fewer than `limit` were found, more from the shards that have more. With
 * nothing due that is one empty page per shard; with a backlog, about `limit` items, not
 * `limit` per shard.
 */
async function dueSchedules(now: Date, limit: number): Promise<ScheduleItem[]> {
  type Shard = { shard: number; start?: Record<string, unknown> };
  const found: Array<ScheduleItem & { due_sk: string }> = [];
  let open: Shard[] = Array.from({ length: DUE_SHARDS }, (_, shard) => ({ shard }));
  while (open.length > 0 && found.length < limit) {
    const share = Math.ceil((limit - found.length) / open.length);
    const pages = await Promise.all(
      open.map(async ({ shard, start }) => {
        const page = await useDynamo().send(
          new QueryCommand({
            TableName: mainTable(),
            IndexName: "due",
            KeyConditionExpression: "due_pk = :pk AND due_sk <= :now",
            ExpressionAttributeValues: {
              ":pk": ScheduleKeys.duePartition(shard),
              ":now": `${now.toISOString()}#~`,
            },
            Limit: share,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        found.push(...((page.Items ?? []) as Array<ScheduleItem & { due_sk: string }>));
        return { shard, start: page.LastEvaluatedKey };
      }),
    );
    open = pages.filter((page): page is Required<Shard> => page.start !== undefined);
  }
  return found.sort((a, b) => (a.due_sk < b.due_sk ? -1 : 1)).slice(0, limit);
}

/** Runs a DynamoDB request within the tick's bound on requests in flight (p-limit). */
type Limit = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * One scheduler tick: for each due schedule, creates the missing runs among its next `upcoming`
 * events (Scheduled, auto_scheduled, with the clock's parameters and labels), then advances its
 * index item. Bounded by `maxSchedules` and `budgetMs`; whatever is not handled stays due, and a
 * schedule interrupted half-way is redone by the next tick with the same keys (no loss, no duplicates).
 * A schedule costs its flow and group reads, one conditional put per missing run and one index
 * update; `concurrency` bounds the DynamoDB requests in flight across all of them.
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
    overQuota: 0,
  };
  const io = pLimit(o.concurrency);
  let next = 0;
  const worker = async () => {
    while (next < due.length && Date.now() - started < o.budgetMs) {
      const item = due[next++] as ScheduleItem;
      try {
        const one = await asTenant(item.tenant_id, () => scheduleOne(item, now, o.upcoming, io));
        if (one.overQuota) {
          const { error, skipped } = one.overQuota;
          result.overQuota += skipped;
          (o.onOverQuota ?? warnOverQuota)(error, item, skipped);
        }
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
  // As many schedules in progress as requests allowed in flight: each mostly waits for its requests.
  await Promise.all(Array.from({ length: Math.min(o.concurrency, due.length) }, worker));
  return result;
}

function warnOverQuota(error: RunQuotaExceededError, item: ScheduleItem, skipped: number): void {
  warn("scheduled runs skipped: workspace at its stored-run quota", item.tenant_id, {
    flowGroup: item.flow_group_id,
    skipped,
    stored: error.stored,
    quota: error.quota,
  });
}

async function scheduleOne(item: ScheduleItem, now: Date, upcoming: number, io: Limit) {
  const outcome: {
    runsCreated: number;
    indexUpdates: number;
    skippedEvents: number;
    overQuota?: { error: RunQuotaExceededError; skipped: number };
  } = { runsCreated: 0, indexUpdates: 0, skippedEvents: 0 };
  let events: ScheduleEvent[];
  try {
    events = nextEvents(parseSchedule(item.schedule), now, upcoming);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    events = []; // validated when stored; a schedule that no longer parses is dropped rather than retried forever
  }
  const missing = events.filter((e) => item.scheduled_until === null || e.startTime > item.scheduled_until);
  const created: string[] = [];
  if (missing.length > 0) {
    const target = await scheduledTarget(item, io).catch((error) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (!target || target.flow.archived) {
      // The flow went away under the schedule: recompute what (if anything) the group schedules.
      await sync(item.flow_group_id);
      return outcome;
    }
    const runs = await Promise.allSettled(
      missing.map((event) => io(() => createScheduledRun(target, item, event))),
    );
    for (const run of runs) {
      if (run.status === "fulfilled") {
        if (run.value.created) created.push(run.value.id);
      } else if (run.reason instanceof ValidationError) {
        outcome.skippedEvents++; // e.g. clock parameters the flow refuses: never retried forever
      } else if (run.reason instanceof RunQuotaExceededError) {
        // The workspace is at its quota: this run is skipped like a refused one, and the index
        // advances, so an over-quota tenant's schedules never stay due and crowd out others' ticks.
        outcome.skippedEvents++;
        outcome.overQuota = { error: run.reason, skipped: (outcome.overQuota?.skipped ?? 0) + 1 };
      }
    }
    const failure = runs.find(
      (run) =>
        run.status === "rejected" &&
        !(run.reason instanceof ValidationError) &&
        !(run.reason instanceof RunQuotaExceededError),
    );
    // The index stays as it was: the next tick redoes this schedule with the same keys.
    if (failure?.status === "rejected") throw failure.reason;
  }
  outcome.runsCreated = created.length;
  const key = ScheduleKeys.schedule(item.tenant_id, item.flow_group_id);
  try {
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last) {
      await io(() =>
        useDynamo().send(
          new DeleteCommand({
            TableName: mainTable(),
            Key: key,
            ConditionExpression: "generation = :gen",
            ExpressionAttributeValues: { ":gen": item.generation },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        ),
      );
    } else {
      const due = ScheduleKeys.due(item.tenant_id, item.flow_group_id, first.startTime);
      await io(() =>
        useDynamo().send(
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
        ),
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
