import * as z from "zod";
import { asTenant } from "../actor.js";
import { AutomationEntity } from "../automation/entity.js";
import { onStateChange } from "../automation/evaluate.js";
import { boundedCache, stringBytes } from "../cache.js";
import type { FlowRunStateChange } from "../events/types.js";
import * as FlowGroup from "../flow/group.js";
import { groupId } from "../flow/group.js";
import * as FlowRun from "../flow-run/index.js";
import { newId, nowIso } from "../ids.js";
import { formatIssues } from "../storable.js";
import * as Workspace from "../workspace/index.js";
import type { AttemptResult } from "./deliver.js";
import { deliverAll, record, send } from "./delivery.js";
import type { CloudHook } from "./entity.js";
import { partition, requireHook } from "./index.js";
import { hookEvent, type Payload } from "./payload.js";

export { ATTEMPTS_PER_RECEIVE, FIRST_RETRY_MS } from "./delivery.js";

/**
 * Delivers a flow run's state change to the workspace's hooks that watch it (docs/events.md,
 * "Delivery"), each through ./delivery.ts: what still fails after a receive's attempts is retried
 * by the queue's redelivery, up to its maxReceiveCount, and marked FAILED on the last receive
 * (the message then goes to the DLQ).
 */
export type DispatchResult = {
  matched: number;
  delivered: number;
  /** Already delivered (or given up) on an earlier receive. */
  skipped: number;
  failed: number;
  /** Still failing on the queue's last receive: marked FAILED, the message is for the DLQ. */
  exhausted: number;
  /** Still failing, to be retried by the queue. */
  pending: number;
};

export function matches(hook: CloudHook, event: FlowRunStateChange): boolean {
  if (!hook.active || !hook.states.includes(event.state.state.toUpperCase())) return false;
  return (
    !hook.version_group_id || groupId(event.tenant_id, hook.version_group_id) === event.flow_run.flow_group_id
  );
}

type Context = { tenantSlug: string | null; flowName: string | null; versionGroupId: string | null };

/** What the hook payload adds to an event: the workspace's slug and the flow's name (kept a minute). */
const contexts = boundedCache<string, Context>({
  name: "hook.event-context",
  maxEntries: 5_000,
  maxBytes: 4 * 2 ** 20,
  sizeOf: (value, key) => stringBytes(key) + stringBytes(JSON.stringify(value)),
  ttlMs: 60_000,
});

async function contextOf(event: FlowRunStateChange): Promise<Context> {
  const key = `${event.tenant_id}#${event.flow_run.flow_group_id}`;
  const known = contexts.get(key);
  if (known) return known;
  const [workspace, group] = await Promise.all([
    Workspace.fromId(event.tenant_id),
    FlowGroup.fromId(event.flow_run.flow_group_id),
  ]);
  const context = {
    tenantSlug: workspace?.slug ?? null,
    flowName: group?.name ?? null,
    versionGroupId: group?.version_group_id ?? null,
  };
  contexts.set(key, context);
  return context;
}

export type Dispatch = { event: FlowRunStateChange; lastReceive: boolean };

/**
 * Dispatches a batch of state changes (one receive of the hooks queue): each workspace's hooks and
 * automations read once for the batch, then every delivery of the batch through one `deliverAll`.
 * Results are in the order of `items`.
 */
export async function dispatchAll(items: readonly Dispatch[]): Promise<DispatchResult[]> {
  const results = items.map(
    (): DispatchResult => ({ matched: 0, delivered: 0, skipped: 0, failed: 0, exhausted: 0, pending: 0 }),
  );
  const tenants = [...new Set(items.map((i) => i.event.tenant_id))];
  const deliveries: Array<{ index: number; hook: CloudHook; event: Payload; lastReceive: boolean }> = [];
  for (const tenant of tenants) {
    await asTenant(tenant, async () => {
      const found = await partition();
      const automations = found.automations.map(AutomationEntity.fromItem);
      for (const [index, item] of items.entries()) {
        if (item.event.tenant_id !== tenant) continue;
        const result = results[index] as DispatchResult;
        if (automations.length > 0)
          result.pending += (await onStateChange(item.event, automations, item)).pending;
        const hooks = found.hooks.filter((hook) => matches(hook, item.event));
        result.matched = hooks.length;
        if (hooks.length === 0) continue;
        const payload = hookEvent(item.event, await contextOf(item.event));
        for (const hook of hooks)
          deliveries.push({ index, hook, event: payload, lastReceive: item.lastReceive });
      }
    });
  }
  const outcomes = await deliverAll(deliveries);
  for (const [n, delivery] of deliveries.entries()) {
    const result = results[delivery.index] as DispatchResult;
    result[outcomes[n] ?? "pending"]++;
  }
  return results;
}

/** Dispatches one state change (see `dispatchAll`). */
export async function dispatch(
  event: FlowRunStateChange,
  options: { lastReceive: boolean },
): Promise<DispatchResult> {
  const [result] = await dispatchAll([{ event, lastReceive: options.lastReceive }]);
  return result as DispatchResult;
}

/**
 * Sends a test event to one hook now, once (`test_cloud_hook`), and logs it with its deliveries
 * (`is_test_event`). Resolves with what happened; never retried.
 */
export async function deliverTest(hook: CloudHook, event: FlowRunStateChange): Promise<AttemptResult> {
  const payload = hookEvent(event, { ...(await contextOf(event)), isTest: true });
  const result = await send(hook, payload);
  await record(
    hook,
    payload,
    undefined,
    [{ at: nowIso(), status_code: result.statusCode, latency_ms: result.latencyMs, error: result.error }],
    result.ok ? "DELIVERED" : "FAILED",
  );
  return result;
}

export const TEST_STATE_TYPES = ["SCHEDULED", "SUBMITTED", "RUNNING", "SUCCESS", "FAILED"] as const;
const TEST_STATES: Record<(typeof TEST_STATE_TYPES)[number], string> = {
  SCHEDULED: "Scheduled",
  SUBMITTED: "Submitted",
  RUNNING: "Running",
  SUCCESS: "Success",
  FAILED: "Failed",
};

/**
 * `test_cloud_hook`: one test event (`is_test_event: true`) sent to the hook now, about the given
 * flow run of the workspace or a made-up one, in the given state (Success by default).
 */
export async function testHook(input: {
  cloud_hook_id: unknown;
  flow_run_id?: string | null;
  state_type?: (typeof TEST_STATE_TYPES)[number] | null;
}): Promise<{ success: boolean; error: string | null }> {
  const hook = await requireHook(input.cloud_hook_id);
  const state = TEST_STATES[input.state_type ?? "SUCCESS"];
  const message = `Test ${state.toLowerCase()} state`;
  const now = nowIso();
  const run = input.flow_run_id ? await FlowRun.requireRun(input.flow_run_id) : undefined;
  const event: FlowRunStateChange = {
    id: newId(),
    type: "FlowRunStateChange",
    timestamp: now,
    tenant_id: hook.tenant_id,
    flow_run: run
      ? {
          id: run.id,
          name: run.name,
          flow_id: run.flow_id,
          flow_group_id: run.flow_group_id,
          project_id: run.project_id,
          labels: run.labels,
          scheduled_start_time: run.scheduled_start_time,
          start_time: run.start_time,
          end_time: run.end_time,
          agent_id: run.agent_id,
        }
      : {
          id: newId(),
          name: "cloud-hook-test",
          flow_id: newId(),
          flow_group_id: newId(),
          project_id: newId(),
          labels: [],
          scheduled_start_time: now,
          start_time: null,
          end_time: null,
          agent_id: null,
        },
    state: {
      previous: run?.state ?? null,
      state,
      message,
      version: (run?.version ?? 0) + 1,
      timestamp: now,
      serialized_state: { type: state, message, __version__: "1.4.1" },
    },
  };
  const result = await deliverTest(hook, event);
  return { success: result.ok, error: result.error };
}

/** Receives of a hooks-queue message before it moves to the DLQ (the queue's maxReceiveCount). */
export const HOOKS_MAX_RECEIVES = 5;

const busMessage = z.object({
  "detail-type": z.literal("FlowRunStateChange"),
  detail: z
    .object({
      id: z.string().min(1),
      type: z.literal("FlowRunStateChange"),
      timestamp: z.string().min(1),
      tenant_id: z.string().min(1),
      flow_run: z.object({ id: z.string(), flow_group_id: z.string() }).loose(),
      state: z.object({ state: z.string(), version: z.number() }).loose(),
    })
    .loose(),
});

/** A hooks-queue message: the EventBridge envelope of a FlowRunStateChange (as the rule delivers it). */
export function parseBusMessage(body: string): FlowRunStateChange {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error("the message body is not JSON");
  }
  const parsed = busMessage.safeParse(json);
  if (!parsed.success) throw new Error(`not a FlowRunStateChange event: ${formatIssues(parsed.error)}`);
  return parsed.data.detail as unknown as FlowRunStateChange;
}
