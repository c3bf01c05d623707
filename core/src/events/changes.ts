import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { deterministicId } from "../ids.js";
import type { DroverEvent, FlowRunRef, StateChange, TaskRunRef } from "./types.js";

/**
 * The events one change of a main-table item stands for. The table's stream is the outbox: a
 * state change is in the stream exactly when its write committed, in the same write, so no event
 * is published for a write that failed and none is lost when a process dies between the write and
 * the publish (the stream keeps the change for 24 hours; the events function's checkpoint only
 * moves past a change once its events are on the bus).
 *
 * - A flow run or task run item whose `version` or `state` changed (or that was just created):
 *   a `FlowRunStateChange` or `TaskRunStateChange`.
 * - A flow run whose `is_late` became true (the scheduler's late check): a `FlowRunLate`.
 * - An agent whose `silent_since` was set (the scheduler's silence check): an `AgentSilent`.
 * Heartbeats, renames and every other item change no event. A record that cannot be read as such
 * an item yields nothing: the stream must never stall on it.
 */
export function eventsOfRecord(record: DynamoDBRecord): DroverEvent[] {
  if (record.eventName !== "INSERT" && record.eventName !== "MODIFY") return [];
  const image = record.dynamodb?.NewImage;
  if (!image) return [];
  const next = unmarshall(image as Record<string, AttributeValue>);
  const old = record.dynamodb?.OldImage
    ? unmarshall(record.dynamodb.OldImage as Record<string, AttributeValue>)
    : undefined;
  if (next.entity === "flow-run") return flowRunEvents(old, next);
  if (next.entity === "task-run") return taskRunEvents(old, next);
  if (next.entity === "agent") return agentEvents(old, next);
  return [];
}

type Item = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" ? v : Number(v ?? 0));

function changed(old: Item | undefined, next: Item): boolean {
  return !old || old.version !== next.version || old.state !== next.state;
}

function stateOf(old: Item | undefined, next: Item): StateChange {
  return {
    previous: old ? str(old.state) : null,
    state: String(next.state),
    message: str(next.state_message),
    version: num(next.version),
    timestamp: str(next.state_timestamp) ?? str(next.updated) ?? new Date().toISOString(),
    serialized_state: next.serialized_state ?? null,
  };
}

function flowRunOf(item: Item): FlowRunRef {
  return {
    id: String(item.id),
    name: String(item.name ?? ""),
    flow_id: String(item.flow_id),
    flow_group_id: String(item.flow_group_id),
    project_id: String(item.project_id),
    labels: Array.isArray(item.labels) ? item.labels.filter((l): l is string => typeof l === "string") : [],
    scheduled_start_time: str(item.scheduled_start_time),
    start_time: str(item.start_time),
    end_time: str(item.end_time),
    agent_id: str(item.agent_id),
  };
}

function taskRunOf(item: Item): TaskRunRef {
  return {
    id: String(item.id),
    flow_run_id: String(item.flow_run_id),
    task_id: String(item.task_id),
    task_slug: String(item.task_slug ?? ""),
    map_index: num(item.map_index ?? -1),
    name: str(item.name),
  };
}

function flowRunEvents(old: Item | undefined, next: Item): DroverEvent[] {
  if (typeof next.tenant_id !== "string" || typeof next.id !== "string") return [];
  const events: DroverEvent[] = [];
  const state = stateOf(old, next);
  if (changed(old, next)) {
    events.push({
      id: deterministicId("event", "flow-run-state", next.id, state.version, state.state, state.timestamp),
      type: "FlowRunStateChange",
      timestamp: state.timestamp,
      tenant_id: next.tenant_id,
      flow_run: flowRunOf(next),
      state,
    });
  }
  if (next.is_late === true && old?.is_late !== true) {
    events.push({
      id: deterministicId("event", "flow-run-late", next.id, state.version, state.timestamp),
      type: "FlowRunLate",
      timestamp: str(next.updated) ?? state.timestamp,
      tenant_id: next.tenant_id,
      flow_run: flowRunOf(next),
      state,
      late_reason: str(next.late_reason),
    });
  }
  return events;
}

function taskRunEvents(old: Item | undefined, next: Item): DroverEvent[] {
  if (typeof next.tenant_id !== "string" || typeof next.id !== "string" || !changed(old, next)) return [];
  const state = stateOf(old, next);
  return [
    {
      id: deterministicId("event", "task-run-state", next.id, state.version, state.state, state.timestamp),
      type: "TaskRunStateChange",
      timestamp: state.timestamp,
      tenant_id: next.tenant_id,
      task_run: taskRunOf(next),
      state,
    },
  ];
}

function agentEvents(old: Item | undefined, next: Item): DroverEvent[] {
  const since = str(next.silent_since);
  if (typeof next.tenant_id !== "string" || typeof next.id !== "string" || !since || old?.silent_since)
    return [];
  return [
    {
      id: deterministicId("event", "agent-silent", next.id, since),
      type: "AgentSilent",
      timestamp: str(next.updated) && String(next.updated) > since ? String(next.updated) : since,
      tenant_id: next.tenant_id,
      agent: {
        id: next.id,
        name: str(next.name),
        type: str(next.type),
        labels: Array.isArray(next.labels)
          ? next.labels.filter((l): l is string => typeof l === "string")
          : [],
        last_queried: str(next.last_queried),
      },
      silent_since: since,
    },
  ];
}
