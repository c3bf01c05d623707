/**
 * The events Drover publishes (docs/events.md): one per state change of a flow run or a task run,
 * one when the scheduler marks a run late, and one when it finds an agent silent. Each is derived from one change of a stored item
 * (./changes.ts), so its id follows from that change: a change read twice (a stream batch retried
 * after a crash) gives the same event, and consumers drop the second by id.
 */
export const EVENT_SOURCE = "drover";

export const EVENT_TYPES = [
  "FlowRunStateChange",
  "TaskRunStateChange",
  "FlowRunLate",
  "AgentSilent",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type StateChange = {
  /** The state before (null for a run just created). */
  previous: string | null;
  state: string;
  message: string | null;
  /** The run's version after the change. */
  version: number;
  timestamp: string;
  serialized_state: unknown;
  /** Set when `serialized_state` was left out to fit the bus's size limit (core/src/events/bus.ts). */
  truncated?: boolean;
};

export type FlowRunRef = {
  id: string;
  name: string;
  flow_id: string;
  flow_group_id: string;
  project_id: string;
  labels: string[];
  scheduled_start_time: string | null;
  start_time: string | null;
  end_time: string | null;
  agent_id: string | null;
};

export type TaskRunRef = {
  id: string;
  flow_run_id: string;
  task_id: string;
  task_slug: string;
  map_index: number;
  name: string | null;
};

type Base = { id: string; timestamp: string; tenant_id: string };

export type FlowRunStateChange = Base & {
  type: "FlowRunStateChange";
  flow_run: FlowRunRef;
  state: StateChange;
};

export type TaskRunStateChange = Base & {
  type: "TaskRunStateChange";
  task_run: TaskRunRef;
  state: StateChange;
};

export type FlowRunLate = Base & {
  type: "FlowRunLate";
  flow_run: FlowRunRef;
  state: StateChange;
  /** Why no agent picked it up, as the scheduler's late check found (null when unknown). */
  late_reason: string | null;
};

export type AgentSilent = Base & {
  type: "AgentSilent";
  agent: {
    id: string;
    name: string | null;
    type: string | null;
    labels: string[];
    last_queried: string | null;
  };
  /** The agent's last poll (its registration when it never polled). */
  silent_since: string;
};

export type DroverEvent = FlowRunStateChange | TaskRunStateChange | FlowRunLate | AgentSilent;

/**
 * The bus rule that feeds the hooks queue (infra/lib/events.ts builds it; the local bus applies
 * it): flow run state changes, the events cloud hooks watch.
 */
export const HOOK_RULE_PATTERN = { source: [EVENT_SOURCE], "detail-type": ["FlowRunStateChange"] } as const;
