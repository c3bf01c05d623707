import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { asTenant } from "../actor.js";
import * as Agent from "../agent/index.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import type { FlowRunStateChange } from "../events/types.js";
import * as Flow from "../flow/index.js";
import * as FlowRun from "../flow-run/index.js";
import { deliver } from "../hook/delivery.js";
import { requireHook } from "../hook/index.js";
import type { AutomationEvent } from "../hook/payload.js";
import { deterministicId, nowIso } from "../ids.js";
import { isFinished, isScheduled } from "../state/types.js";
import * as Workspace from "../workspace/index.js";
import {
  AUTOMATION_TIMER_SHARDS,
  type Automation,
  AutomationEntity,
  AutomationFireEntity,
  AutomationKeys,
} from "./entity.js";

/**
 * How automations fire (docs/events.md, "Automations"), each at most once per run or per agent
 * silence, with bounded reads:
 * - FLOW_RUN_LATE and FLOW_RUN_LONG: a state change into Scheduled (resp. Running) sets a timer
 *   for that run at its scheduled start (resp. start) plus the threshold, one item per
 *   (automation, run) in the scheduler's `due` index. The tick reads the timers due
 *   (`AUTOMATION_TIMER_SHARDS` Query pages), reads each one's run and fires if the condition
 *   still holds (still not started; still Running): runs that started or finished in time cost
 *   one GetItem when their timer comes due, never a scan.
 * - FLOW_FAILURES: each finished run of the flow moves a streak counter (one conditional
 *   UpdateItem, counted once per run); the Nth failure in a row fires and starts it again.
 * - AGENT_SILENT: active ones are in the `due` index; the tick reads each one's workspace's
 *   agents and fires for an agent whose last poll is older than the threshold, once per poll time.
 * A firing writes its record first (conditional: one per subject), then acts, then marks itself
 * DONE; a timer is deleted only after, so a crash in between acts on the next tick.
 */
const FAILED = new Set(["Failed", "TimedOut", "TriggerFailed", "ValidationFailed"]);
const SUCCEEDED = new Set(["Success", "Cached", "Skipped", "Mapped", "Looped"]);
const MINUTE = 60_000;
const TIMER_TTL_DAYS = 14;
export const FIRE_RETENTION_DAYS = 90;

const applies = (a: Automation, event: FlowRunStateChange) =>
  a.active && (!a.flow_group_id || a.flow_group_id === event.flow_run.flow_group_id);

/** What a flow run state change means for the workspace's automations (from the hooks function). */
export async function onStateChange(
  event: FlowRunStateChange,
  automations: Automation[],
  options: { lastReceive: boolean },
): Promise<{ pending: number }> {
  let pending = 0;
  for (const automation of automations.filter((a) => applies(a, event))) {
    const { state, previous, timestamp } = event.state;
    if (automation.kind === "FLOW_RUN_LATE" && isScheduled(state) && event.flow_run.scheduled_start_time) {
      const due = Date.parse(event.flow_run.scheduled_start_time) + automation.threshold * MINUTE;
      await setTimer(automation, event.flow_run.id, new Date(due).toISOString());
    } else if (automation.kind === "FLOW_RUN_LONG" && state === "Running" && previous !== "Running") {
      const started = event.flow_run.start_time ?? timestamp;
      await setTimer(
        automation,
        event.flow_run.id,
        new Date(Date.parse(started) + automation.threshold * MINUTE).toISOString(),
      );
    } else if (automation.kind === "FLOW_FAILURES" && (FAILED.has(state) || SUCCEEDED.has(state))) {
      const outcome = await countStreak(automation, event, FAILED.has(state), options);
      if (outcome === "pending") pending++;
    }
  }
  return { pending };
}

async function setTimer(automation: Automation, runId: string, dueAt: string): Promise<void> {
  await useDynamo().send(
    new PutCommand({
      TableName: mainTable(),
      Item: {
        ...AutomationKeys.timer(automation.tenant_id, automation.id, runId),
        ...AutomationKeys.timerDue(automation.tenant_id, automation.id, runId, dueAt),
        entity: "automation-timer",
        tenant_id: automation.tenant_id,
        automation_id: automation.id,
        flow_run_id: runId,
        due_at: dueAt,
        ttl_epoch: Math.floor(Date.parse(dueAt) / 1000) + TIMER_TTL_DAYS * 86_400,
      },
    }),
  );
}

async function countStreak(
  automation: Automation,
  event: FlowRunStateChange,
  failed: boolean,
  options: { lastReceive: boolean },
): Promise<Fired> {
  const key = AutomationKeys.streak(automation.tenant_id, automation.id, event.flow_run.flow_group_id);
  let streak: number;
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: key,
        UpdateExpression: failed
          ? "SET streak = if_not_exists(streak, :zero) + :one, last_run = :run, entity = :entity"
          : "SET streak = :zero, last_run = :run, entity = :entity",
        ConditionExpression: "attribute_not_exists(last_run) OR last_run <> :run",
        ExpressionAttributeValues: {
          ":zero": 0,
          ":run": event.flow_run.id,
          ":entity": "automation-streak",
          ...(failed ? { ":one": 1 } : {}),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    streak = Number(result.Attributes?.streak ?? 0);
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    // This run was counted already (the event handed over again): finish its firing if it had one.
    return finishPending(automation, event.flow_run.id, event, options);
  }
  if (!failed || streak < automation.threshold) return "skipped";
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: key,
        UpdateExpression: "SET streak = :zero",
        ConditionExpression: "last_run = :run",
        ExpressionAttributeValues: { ":zero": 0, ":run": event.flow_run.id },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  const reason = `${automation.threshold} runs of the flow failed in a row (the last: ${event.flow_run.name}).`;
  return fire(automation, event.flow_run.id, { run: runRef(event), reason }, options);
}

const runRef = (event: FlowRunStateChange): Subject["run"] => ({
  id: event.flow_run.id,
  name: event.flow_run.name,
  flow_id: event.flow_run.flow_id,
  state: event.state.state,
  labels: event.flow_run.labels,
});

type Subject = {
  run?: { id: string; name: string; flow_id: string; state: string; labels: string[] };
  agent?: { id: string; name: string | null; labels: string[]; last_queried: string | null };
  reason: string;
};
type Fired = "done" | "skipped" | "failed" | "pending";

async function finishPending(
  automation: Automation,
  subject: string,
  event: FlowRunStateChange,
  options: { lastReceive: boolean },
): Promise<Fired> {
  const found = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: AutomationKeys.fire(automation.tenant_id, automation.id, subject),
    }),
  );
  if (found.Item?.status !== "PENDING") return "skipped";
  return fire(automation, subject, { run: runRef(event), reason: String(found.Item.reason) }, options);
}

/**
 * Fires once for `subject`: the record first (a second firing finds it and only finishes a
 * PENDING one), then the action, then DONE (or FAILED with why).
 */
async function fire(
  automation: Automation,
  subject: string,
  what: Subject,
  options: { lastReceive: boolean },
): Promise<Fired> {
  const t = automation.tenant_id;
  const now = nowIso();
  const record = AutomationFireEntity.toItem({
    id: deterministicId("automation-fire", automation.id, subject),
    tenant_id: t,
    automation_id: automation.id,
    subject,
    flow_run_id: what.run?.id ?? null,
    agent_id: what.agent?.id ?? null,
    reason: what.reason,
    action: automation.action.type,
    status: "PENDING",
    error: null,
    created: now,
    updated: now,
  });
  try {
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: { ...record, ttl_epoch: Math.floor(Date.now() / 1000) + FIRE_RETENTION_DAYS * 86_400 },
        ConditionExpression: "attribute_not_exists(pk) OR #status = :pending",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":pending": "PENDING" },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return "skipped";
    throw error;
  }
  let status: "DONE" | "FAILED" | "PENDING" = "DONE";
  let why: string | null = null;
  try {
    if (automation.action.type === "CANCEL_RUN" && what.run) await FlowRun.cancel(what.run.id);
    else if (automation.action.type === "PAUSE_SCHEDULE" && what.run)
      await Flow.setScheduleActive(what.run.flow_id, false);
    else if (automation.action.type === "HOOK") {
      const hook = await requireHook(automation.action.cloud_hook_id);
      if (!hook.active) throw new Error(`the cloud hook ${hook.id} is paused`);
      const outcome = await deliver(hook, await automationEvent(automation, subject, what), options);
      if (outcome === "pending") status = "PENDING";
      if (outcome === "failed" || outcome === "exhausted") {
        status = "FAILED";
        why = "the hook's delivery failed (see its delivery log)";
      }
    }
  } catch (error) {
    status = options.lastReceive ? "FAILED" : "PENDING";
    why = (error as Error).message.slice(0, 500);
  }
  await useDynamo().send(
    new UpdateCommand({
      TableName: mainTable(),
      Key: AutomationKeys.fire(t, automation.id, subject),
      UpdateExpression: "SET #status = :status, #error = :error, updated = :now",
      ExpressionAttributeNames: { "#status": "status", "#error": "error" },
      ExpressionAttributeValues: { ":status": status, ":error": why, ":now": nowIso() },
    }),
  );
  return status === "DONE" ? "done" : status === "FAILED" ? "failed" : "pending";
}

async function automationEvent(
  automation: Automation,
  subject: string,
  what: Subject,
): Promise<AutomationEvent> {
  const workspace = await Workspace.fromId(automation.tenant_id);
  return {
    id: deterministicId("automation-event", automation.id, subject),
    timestamp: nowIso(),
    type: "AutomationFired",
    is_test_event: false,
    tenant: { id: automation.tenant_id, slug: workspace?.slug ?? null },
    automation: {
      id: automation.id,
      name: automation.name,
      kind: automation.kind,
      threshold: automation.threshold,
    },
    reason: what.reason,
    flow_run: what.run ?? null,
    agent: what.agent ?? null,
  };
}

export type AutomationTickResult = {
  timers: number;
  fired: number;
  dropped: number;
  agentChecks: number;
  errors: number;
};

/** The scheduler tick's part: due timers, then silent agents; at most `maxPerShard` timers per shard. */
export async function checkAutomations(options: {
  now: Date;
  maxPerShard?: number;
  onError?: (error: unknown) => void;
}): Promise<AutomationTickResult> {
  const result: AutomationTickResult = { timers: 0, fired: 0, dropped: 0, agentChecks: 0, errors: 0 };
  const now = options.now;
  const automations = new Map<string, Promise<Automation | undefined>>();
  const automationOf = (t: string, id: string) => {
    let found = automations.get(id);
    if (!found) {
      found = AutomationEntity.get({ tenant_id: t, id });
      automations.set(id, found);
    }
    return found;
  };
  for (let shard = 0; shard < AUTOMATION_TIMER_SHARDS; shard++) {
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: mainTable(),
        IndexName: "due",
        KeyConditionExpression: "due_pk = :pk AND due_sk < :now",
        ExpressionAttributeValues: { ":pk": AutomationKeys.timerPartition(shard), ":now": now.toISOString() },
        Limit: options.maxPerShard ?? 200,
      }),
    );
    for (const timer of page.Items ?? []) {
      result.timers++;
      try {
        const t = String(timer.tenant_id);
        const outcome = await asTenant(t, () => checkTimer(timer, automationOf, now));
        if (outcome === "done" || outcome === "failed") result.fired++;
        else if (outcome === "dropped") result.dropped++;
      } catch (error) {
        result.errors++;
        options.onError?.(error);
      }
    }
  }
  const silent = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "due",
      KeyConditionExpression: "due_pk = :pk",
      ExpressionAttributeValues: { ":pk": "automation-agent-silent" },
      Limit: 500,
    }),
  );
  for (const item of silent.Items ?? []) {
    try {
      const automation = AutomationEntity.fromItem(item);
      result.agentChecks++;
      result.fired += await asTenant(automation.tenant_id, () => checkAgents(automation, now));
    } catch (error) {
      result.errors++;
      options.onError?.(error);
    }
  }
  return result;
}

async function checkTimer(
  timer: Record<string, unknown>,
  automationOf: (t: string, id: string) => Promise<Automation | undefined>,
  now: Date,
): Promise<Fired | "dropped"> {
  const t = String(timer.tenant_id);
  const runId = String(timer.flow_run_id);
  const automation = await automationOf(t, String(timer.automation_id));
  const run = automation?.active ? await FlowRun.fromId(runId) : undefined;
  let outcome: Fired | "dropped" = "dropped";
  if (automation && run) {
    const ref = { id: run.id, name: run.name, flow_id: run.flow_id, state: run.state, labels: run.labels };
    const minutes = automation.threshold;
    if (
      automation.kind === "FLOW_RUN_LATE" &&
      !isFinished(run.state) &&
      run.state !== "Running" &&
      run.state !== "Cancelling" &&
      now.getTime() - Date.parse(run.scheduled_start_time) >= minutes * MINUTE
    ) {
      const reason = `Flow run ${run.name} has not started ${minutes} minute(s) after its scheduled start (${run.scheduled_start_time}); it is ${run.state}.`;
      outcome = await fire(automation, run.id, { run: ref, reason }, { lastReceive: true });
    } else if (
      automation.kind === "FLOW_RUN_LONG" &&
      run.state === "Running" &&
      run.start_time &&
      now.getTime() - Date.parse(run.start_time) >= minutes * MINUTE
    ) {
      const reason = `Flow run ${run.name} has been running for more than ${minutes} minute(s) (since ${run.start_time}).`;
      outcome = await fire(automation, run.id, { run: ref, reason }, { lastReceive: true });
    }
  }
  // Done with it, unless a new change moved it meanwhile (a rescheduled run's later timer).
  await useDynamo()
    .send(
      new DeleteCommand({
        TableName: mainTable(),
        Key: AutomationKeys.timer(t, String(timer.automation_id), runId),
        ConditionExpression: "due_sk = :seen",
        ExpressionAttributeValues: { ":seen": timer.due_sk },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  return outcome;
}

async function checkAgents(automation: Automation, now: Date): Promise<number> {
  let fired = 0;
  const cutoff = now.getTime() - automation.threshold * MINUTE;
  for await (const item of Agent.listAll()) {
    const agent = item as unknown as Agent.Agent;
    const seen = agent.last_queried ?? agent.created;
    if (Date.parse(seen) > cutoff) continue;
    const reason = `Agent ${agent.name ?? agent.id} has not polled for runs for ${automation.threshold} minute(s) (last: ${agent.last_queried ?? "never"}).`;
    const outcome = await fire(
      automation,
      `agent#${agent.id}#${seen}`,
      {
        agent: { id: agent.id, name: agent.name, labels: agent.labels, last_queried: agent.last_queried },
        reason,
      },
      { lastReceive: true },
    );
    if (outcome === "done" || outcome === "failed") fired++;
  }
  return fired;
}
