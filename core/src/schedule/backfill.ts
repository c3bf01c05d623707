import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { LimitExceededError, NotFoundError, ValidationError } from "../errors.js";
import { FlowRunKeys } from "../flow-run/keys.js";
import { isUuid } from "../ids.js";
import { RunQuotaExceededError } from "../limits/quota.js";
import { fromGroup } from "./index.js";
import { nextEvents, parseSchedule } from "./schedule.js";
import { createScheduledRun, scheduledTarget } from "./tick.js";

/** Runs one backfill may create; a longer window is refused (split it). */
export const MAX_BACKFILL_RUNS = 1000;

const input = z.object({
  flow_group_id: z.string().refine(isUuid, "flow_group_id must be a UUID"),
  start: z.iso.datetime({ offset: true, message: "start must be an ISO 8601 timestamp" }),
  end: z.iso.datetime({ offset: true, message: "end must be an ISO 8601 timestamp" }),
});

export type BackfillResult = { flow_run_ids: string[]; created: number; existing: number };

/**
 * Creates the runs the flow group's active schedule would have created with start times in
 * [start, end] (capped at now: the future is the scheduler's), with the scheduler's own
 * idempotency keys, so a backfill repeated, or overlapping what the scheduler created, creates
 * each run once. The runs are due at once: agents pick them up oldest first. Each is marked
 * `backfilled`: the skip-late policy leaves it alone, and under the overlap policy `skip` it waits
 * for its turn instead of being skipped.
 */
export async function backfill(raw: z.input<typeof input>, now = new Date()): Promise<BackfillResult> {
  const parsed = input.safeParse(raw);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const start = new Date(parsed.data.start);
  const end = new Date(Math.min(Date.parse(parsed.data.end), now.getTime()));
  if (start.getTime() > end.getTime()) throw new ValidationError("start must be before end (and before now)");
  const item = await fromGroup(parsed.data.flow_group_id);
  if (!item) {
    throw new NotFoundError(`Flow group ${parsed.data.flow_group_id} has no active schedule to backfill`);
  }
  const events = nextEvents(
    parseSchedule(item.schedule),
    new Date(start.getTime() - 1),
    MAX_BACKFILL_RUNS + 1,
  ).filter((event) => Date.parse(event.startTime) <= end.getTime());
  if (events.length > MAX_BACKFILL_RUNS) {
    throw new ValidationError(
      `That window holds more than ${MAX_BACKFILL_RUNS} scheduled runs; backfill it in smaller windows`,
    );
  }
  const result: BackfillResult = { flow_run_ids: [], created: 0, existing: 0 };
  if (events.length === 0) return result;
  const target = await scheduledTarget(item);
  for (const event of events) {
    const run = await createScheduledRun(target, item, event).catch((error) => {
      // Stored-run quota: the runs created so far stay (each whole); a repeat creates only the rest.
      if (!(error instanceof RunQuotaExceededError)) throw error;
      throw new LimitExceededError(
        `${error.message} The backfill stopped after ${result.flow_run_ids.length} of ${events.length} runs (${result.created} created); repeat it once there is room: it creates only the missing runs.`,
      );
    });
    await markBackfilled(run.id);
    result.flow_run_ids.push(run.id);
    if (run.created) result.created++;
    else result.existing++;
  }
  return result;
}

/**
 * Marks a run the backfill asked for (created now, or created earlier by the scheduler and still
 * waiting), so the scheduler's skip-late policy leaves it alone (health.ts) and the overlap policy
 * holds it back rather than skipping it (overlap.ts). Written right after the run is created: the
 * skip-late policy never acts within the late grace of a run's creation. A run that already left
 * Scheduled keeps what happened to it.
 */
async function markBackfilled(id: string): Promise<void> {
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(useTenantId(), id),
        UpdateExpression: "SET backfilled = :true",
        ConditionExpression: "#state = :scheduled",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":true": true, ":scheduled": "Scheduled" },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}
