import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { key } from "../dynamo/keys.js";
import { HookKeys } from "../hook/entity.js";

export const AUTOMATION_KINDS = ["FLOW_RUN_LATE", "FLOW_RUN_LONG", "AGENT_SILENT", "FLOW_FAILURES"] as const;
export type AutomationKind = (typeof AUTOMATION_KINDS)[number];
export const ACTION_TYPES = ["HOOK", "CANCEL_RUN", "PAUSE_SCHEDULE"] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/**
 * An automation (docs/events.md, "Automations"): a condition on the workspace's runs or agents
 * and what to do when it holds. It lives beside the workspace's cloud hooks (same partition, so
 * one Query reads both for each state change). `threshold` is minutes for the time kinds and a
 * number of runs for FLOW_FAILURES. An AGENT_SILENT automation is also in the scheduler's `due`
 * index (`AutomationKeys.silentWatch`), the one kind the tick looks for without a timer.
 */
export const AutomationEntity = defineEntity({
  name: "automation",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    name: attr.string().nullable().default(null),
    kind: attr.string(),
    threshold: attr.int(),
    version_group_id: attr.string().nullable().default(null),
    /** The flow group `version_group_id` names (matching an event needs no read). */
    flow_group_id: attr.uuid().nullable().default(null),
    action: attr.jsonOf(
      z.object({ type: z.enum(ACTION_TYPES), cloud_hook_id: z.string().nullable().default(null) }),
    ),
    active: attr.boolean(),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  hidden: ["flow_group_id"],
  key: (a: { tenant_id: string; id: string }) => AutomationKeys.automation(a.tenant_id, a.id),
  indexes: (a) =>
    a.kind === "AGENT_SILENT" && a.active ? AutomationKeys.silentWatch(a.tenant_id, a.id) : {},
});
export type Automation = EntityOf<typeof AutomationEntity>;

/**
 * One firing of an automation: for one run (late, long, the run that completed a failure streak)
 * or one agent's silence (`subject`). Created before the action, so a condition seen by two ticks
 * fires once; `status` PENDING until the action is done (a crash between leaves the timer, and
 * the next tick does it then).
 */
export const AutomationFireEntity = defineEntity({
  name: "automation_fire",
  itemName: "automation-fire",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    automation_id: attr.uuid(),
    subject: attr.string(),
    flow_run_id: attr.uuid().nullable().default(null),
    agent_id: attr.uuid().nullable().default(null),
    reason: attr.string(),
    action: attr.string(),
    status: attr.string(),
    error: attr.string().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  key: (f: { tenant_id: string; automation_id: string; subject: string }) =>
    AutomationKeys.fire(f.tenant_id, f.automation_id, f.subject),
});
export type AutomationFire = EntityOf<typeof AutomationFireEntity>;

export const AUTOMATION_TIMER_SHARDS = 4;

export const AutomationKeys = {
  automation: (t: string, id: string) => ({ pk: HookKeys.partition(t), sk: key("automation", id) }),
  count: (t: string) => ({ pk: HookKeys.partition(t), sk: "automation-count" }),
  fires: (t: string, automationId: string) => key(t, "automation-fires", automationId),
  fire: (t: string, automationId: string, subject: string) => ({
    pk: key(t, "automation-fires", automationId),
    sk: subject,
  }),
  /** A flow group's failure streak for one automation. */
  streak: (t: string, automationId: string, groupId: string) => ({
    pk: key(t, "automation-fires", automationId),
    sk: key("streak", groupId),
  }),
  /**
   * A timer: check this run for this automation at `dueAt`. In the run's tenant's partition,
   * found by the tick through the `due` index (`automation-due#<shard>`, by time).
   */
  timer: (t: string, automationId: string, runId: string) => ({
    pk: key(t, "automation-timer", automationId),
    sk: runId,
  }),
  timerDue: (t: string, automationId: string, runId: string, dueAt: string) => ({
    due_pk: key("automation-due", shard(runId)),
    due_sk: key(dueAt, t, automationId, runId),
  }),
  timerPartition: (n: number) => key("automation-due", n),
  /** AGENT_SILENT automations, for the tick (few: bounded by the workspaces' automations). */
  silentWatch: (t: string, id: string) => ({ due_pk: "automation-agent-silent", due_sk: key(t, id) }),
};

function shard(id: string): number {
  return Number.parseInt(id.replace(/-/g, "").slice(-4), 16) % AUTOMATION_TIMER_SHARDS;
}
