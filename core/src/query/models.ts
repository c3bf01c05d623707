import { AgentEntity } from "../agent/entity.js";
import * as Agent from "../agent/index.js";
import { ArtifactEntity } from "../artifact/entity.js";
import * as Artifact from "../artifact/index.js";
import { AuditEntity } from "../audit/entity.js";
import * as Audit from "../audit/index.js";
import * as Automation from "../automation/index.js";
import { FlowLabelLimitEntity, TaskTagLimitEntity } from "../concurrency/entity.js";
import * as Concurrency from "../concurrency/index.js";
import { FlowEntity, FlowGroupEntity, TaskEntity } from "../flow/entity.js";
import * as FlowGroup from "../flow/group.js";
import * as Flow from "../flow/index.js";
import { FlowRunEntity } from "../flow-run/entity.js";
import * as FlowRun from "../flow-run/index.js";
import * as Hook from "../hook/index.js";
import * as Message from "../hook/message.js";
import * as Log from "../log/index.js";
import { ProjectEntity } from "../project/entity.js";
import * as Project from "../project/index.js";
import { TaskRunEntity } from "../task-run/entity.js";
import * as TaskRun from "../task-run/index.js";
import { type ColumnType, type EntityModel, type PathOptions, type Row, registerModel } from "./engine.js";
import { type BoolExp, lowerBound, pinnedValue, requiresValue } from "./where.js";

/** Reads from several exact values of an index, one after the other. */
function each(load: (value: string, options: PathOptions) => AsyncIterable<Row> | Promise<Row[]>) {
  return async function* (values: unknown[], options: PathOptions): AsyncIterable<Row> {
    for (const value of values) {
      if (typeof value !== "string") continue;
      const rows = await load(value, options);
      yield* rows as AsyncIterable<Row>;
    }
  };
}

/** The read model's name and columns, from the entity's declaration. */
const readModelOf = (entity: { name: string; columns: Record<string, ColumnType> }) => ({
  name: entity.name,
  columns: entity.columns,
});

const asRows = <T>(fn: (ids: string[]) => Promise<T[]>) => fn as unknown as (ids: string[]) => Promise<Row[]>;
const t = (columns: Record<string, ColumnType>) => columns;

export const MODELS: EntityModel[] = [
  {
    ...readModelOf(ProjectEntity),
    relationships: { flows: { kind: "array", target: "flow", foreignKey: "project_id" } },
    byIds: asRows(Project.fromIds),
    indexes: [
      { column: "name", load: each(async (name) => [await Project.fromName(name)].filter(Boolean) as Row[]) },
    ],
    listAll: async function* () {
      yield* (await Project.listAll()) as unknown as Row[];
    },
    naturalOrder: { name: "asc" },
  },
  {
    ...readModelOf(FlowGroupEntity),
    relationships: {
      project: { kind: "object", target: "project", column: "project_id" },
      flows: { kind: "array", target: "flow", foreignKey: "flow_group_id" },
      flow_runs: { kind: "array", target: "flow_run", foreignKey: "flow_group_id" },
    },
    byIds: asRows(FlowGroup.fromIds),
    indexes: [],
    listAll: FlowGroup.listAll,
    naturalOrder: { created: "desc" },
  },
  {
    ...readModelOf(FlowEntity),
    relationships: {
      project: { kind: "object", target: "project", column: "project_id" },
      flow_group: { kind: "object", target: "flow_group", column: "flow_group_id" },
      tasks: { kind: "array", target: "task", foreignKey: "flow_id" },
      flow_runs: { kind: "array", target: "flow_run", foreignKey: "flow_id" },
    },
    byIds: asRows(Flow.fromIds),
    indexes: [
      { column: "flow_group_id", load: each(Flow.versionsOf) },
      { column: "name", load: each(Flow.byName) },
    ],
    listAll: Flow.listAll,
    naturalOrder: { created: "desc" },
  },
  {
    ...readModelOf(TaskEntity),
    relationships: { flow: { kind: "object", target: "flow", column: "flow_id" } },
    byIds: asRows(Flow.tasksFromIds),
    indexes: [{ column: "flow_id", load: each(async (id) => (await Flow.tasksOf(id)) as unknown as Row[]) }],
    // `prefect get tasks`: every flow's tasks, flow by flow (no natural order: `register_tasks`
    // may add tasks to an older flow later), bounded by the request's read budget.
    listAll: async function* () {
      for await (const flow of Flow.listAll())
        yield* (await Flow.tasksOf(String(flow.id))) as unknown as Row[];
    },
  },
  {
    ...readModelOf(FlowRunEntity),
    relationships: {
      flow: { kind: "object", target: "flow", column: "flow_id" },
      flow_group: { kind: "object", target: "flow_group", column: "flow_group_id" },
      project: { kind: "object", target: "project", column: "project_id" },
      agent: { kind: "object", target: "agent", column: "agent_id" },
      task_runs: { kind: "array", target: "task_run", foreignKey: "flow_run_id" },
      states: { kind: "array", target: "flow_run_state", foreignKey: "flow_run_id" },
      logs: { kind: "array", target: "log", foreignKey: "flow_run_id" },
      // Not in Hasura's schema (clients query task_run_artifact): the dashboard's run page.
      artifacts: { kind: "array", target: "task_run_artifact", foreignKey: "flow_run_id" },
    },
    byIds: asRows(FlowRun.fromIds),
    indexes: [
      {
        column: "flow_id",
        load: each((id, { pageSize }) => FlowRun.ofFlow(id, pageSize)),
        orders: [[{ created: "desc" }]],
      },
      {
        column: "flow_group_id",
        load: each((id, { pageSize }) => FlowRun.ofGroup(id, pageSize)),
        orders: [[{ scheduled_start_time: "desc" }]],
      },
      // `prefect describe flow-runs --name`, `prefect get logs --name`.
      {
        column: "name",
        load: each((name, { pageSize }) => FlowRun.byName(name, pageSize)),
        orders: [[{ created: "desc" }]],
      },
    ],
    listAll: (options) => FlowRun.listAll(options?.pageSize),
    naturalOrder: { created: "desc" },
    // `prefect get flow-runs --started`: the most recently started runs.
    listings: [
      {
        order: { start_time: "desc" },
        serves: (where) => requiresValue(where, "start_time"),
        servesWhen: "start_time: { _is_null: false }",
        load: ({ pageSize }) => FlowRun.started(pageSize),
      },
    ],
  },
  {
    ...readModelOf(TaskRunEntity),
    relationships: {
      flow_run: { kind: "object", target: "flow_run", column: "flow_run_id" },
      task: { kind: "object", target: "task", column: "task_id" },
      states: { kind: "array", target: "task_run_state", foreignKey: "task_run_id" },
      logs: { kind: "array", target: "log", foreignKey: "task_run_id" },
      artifacts: { kind: "array", target: "task_run_artifact", foreignKey: "task_run_id" },
    },
    byIds: asRows(TaskRun.fromIds),
    indexes: [
      { column: "flow_run_id", load: each((id) => TaskRun.ofFlowRun(id)) },
      // The client's cached-state query (`get_latest_cached_states`): Cached runs of a task or a
      // cache key, newest first, from the given state timestamp on.
      ...(["task_id", "cache_key"] as const).map((column) => ({
        column,
        serves: (where: BoolExp | undefined) => pinnedValue(where, "state") === "Cached",
        servesWhen: 'state: { _eq: "Cached" }',
        load: each((value, { where, pageSize }) =>
          TaskRun.cached(column === "task_id" ? { taskId: value } : { cacheKey: value }, {
            from: lowerBound(where, "state_timestamp"),
            pageSize,
          }),
        ),
        orders: [[{ state_timestamp: "desc" as const }]],
      })),
    ],
  },
  ...(["flow_run", "task_run"] as const).map(
    (parent): EntityModel => ({
      name: `${parent}_state`,
      columns: t({
        id: "String",
        tenant_id: "uuid",
        [`${parent}_id`]: "uuid",
        version: "Int",
        state: "String",
        message: "String",
        serialized_state: "jsonb",
        start_time: "timestamptz",
        timestamp: "timestamptz",
        created: "timestamptz",
      }),
      relationships: { [parent]: { kind: "object", target: parent, column: `${parent}_id` } },
      byIds: async () => [],
      indexes: [
        {
          column: `${parent}_id`,
          load: each((id) => (parent === "flow_run" ? FlowRun.states(id) : TaskRun.states(id))),
        },
      ],
    }),
  ),
  {
    // Run logs: read per flow run (or task run) through the run's log partition, a time window
    // of the where-clause as a key range, in (timestamp, id) order either way.
    name: "log",
    columns: t({
      id: "String",
      tenant_id: "uuid",
      flow_run_id: "uuid",
      task_run_id: "uuid",
      timestamp: "timestamptz",
      level: "String",
      name: "String",
      message: "String",
      info: "jsonb",
      created: "timestamptz",
    }),
    relationships: {
      flow_run: { kind: "object", target: "flow_run", column: "flow_run_id" },
      task_run: { kind: "object", target: "task_run", column: "task_run_id" },
    },
    byIds: async () => [],
    idPath: false,
    indexes: [
      {
        column: "flow_run_id",
        load: each((id, options) => Log.ofFlowRun(id, options)),
        orders: Log.LOG_ORDERS,
      },
      {
        column: "task_run_id",
        load: each((id, options) => Log.ofTaskRun(id, options)),
        orders: Log.LOG_ORDERS,
      },
    ],
  },
  {
    // Task run artifacts (core/src/artifact): by task run (the UI's `task_run_id: { _in }`) or by
    // flow run, through the flow run's artifact partition; artifacts of a deleted run read as none.
    ...readModelOf(ArtifactEntity),
    relationships: {
      task_run: { kind: "object", target: "task_run", column: "task_run_id" },
      flow_run: { kind: "object", target: "flow_run", column: "flow_run_id" },
    },
    byIds: asRows(Artifact.fromIds),
    indexes: [
      {
        column: "task_run_id",
        load: (values, { pageSize }) =>
          Artifact.ofTaskRuns(
            values.filter((v): v is string => typeof v === "string"),
            pageSize,
          ) as AsyncIterable<Row>,
        orders: [[{ created: "asc" }]],
      },
      {
        column: "flow_run_id",
        load: each((id, { pageSize }) => Artifact.ofFlowRun(id, pageSize) as AsyncIterable<Row>),
      },
    ],
  },
  {
    ...readModelOf(AgentEntity),
    relationships: { flow_runs: { kind: "array", target: "flow_run", foreignKey: "agent_id" } },
    byIds: asRows(Agent.fromIds),
    indexes: [],
    listAll: Agent.listAll,
    naturalOrder: { created: "desc" },
  },
  {
    // The audit log (core/src/audit): newest first, month by month, the workspace's own only.
    ...readModelOf(AuditEntity),
    relationships: {},
    byIds: async () => [],
    idPath: false,
    indexes: [],
    listAll: (options) => Audit.listAll(options) as AsyncIterable<Row>,
    naturalOrder: { at: "desc" },
  },
  ...concurrencyModels(),
  {
    // Cloud hooks (core/src/hook): at most Hook.MAX_HOOKS per workspace, all in one Query.
    ...readModelOf(Hook.CloudHookEntity),
    relationships: {
      deliveries: { kind: "array", target: "cloud_hook_delivery", foreignKey: "cloud_hook_id" },
    },
    byIds: asRows(Hook.fromIds),
    indexes: [],
    listAll: async function* () {
      const hooks = await Hook.list();
      yield* hooks.sort((a, b) => a.created.localeCompare(b.created)) as unknown as Row[];
    },
    naturalOrder: { created: "asc" },
  },
  {
    // Each hook's delivery log, newest first (by its event's time).
    ...readModelOf(Hook.CloudHookDeliveryEntity),
    relationships: { cloud_hook: { kind: "object", target: "cloud_hook", column: "cloud_hook_id" } },
    byIds: async () => [],
    idPath: false,
    indexes: [
      {
        column: "cloud_hook_id",
        load: each((id, { pageSize }) => Hook.deliveriesOf(id, pageSize) as AsyncIterable<Row>),
        orders: [[{ event_timestamp: "desc" }]],
      },
    ],
    // Hook by hook: sorted as asked, at most MAX_ITEMS_READ rows.
    listAll: () => Hook.allDeliveries() as AsyncIterable<Row>,
  },
  {
    // Automations (core/src/automation): beside the hooks, at most Automation.MAX_AUTOMATIONS.
    ...readModelOf(Automation.AutomationEntity),
    relationships: { fires: { kind: "array", target: "automation_fire", foreignKey: "automation_id" } },
    byIds: asRows(Automation.fromIds),
    indexes: [],
    listAll: async function* () {
      const { automations } = await Hook.partition();
      const rows = automations.map(Automation.AutomationEntity.fromItem);
      yield* rows.sort((a, b) => a.created.localeCompare(b.created)) as unknown as Row[];
    },
    naturalOrder: { created: "asc" },
  },
  {
    // Each automation's firings (one per run or agent silence).
    ...readModelOf(Automation.AutomationFireEntity),
    relationships: { automation: { kind: "object", target: "automation", column: "automation_id" } },
    byIds: async () => [],
    idPath: false,
    indexes: [
      {
        column: "automation_id",
        load: each((id, { pageSize }) => Automation.firesOf(id, pageSize) as AsyncIterable<Row>),
      },
    ],
    listAll: async function* () {
      const { automations } = await Hook.partition();
      for (const item of automations) yield* Automation.firesOf(String(item.id)) as AsyncIterable<Row>;
    },
  },
  {
    // Messages a PREFECT_MESSAGE hook left (core/src/hook/message.ts), newest first.
    ...readModelOf(Message.MessageEntity),
    relationships: {},
    byIds: async () => [],
    idPath: false,
    indexes: [],
    listAll: (options) => Message.listAll(options?.pageSize) as AsyncIterable<Row>,
    naturalOrder: { created: "desc" },
  },
];

/**
 * Concurrency limits (core/src/concurrency): `task_tag_limit` (rows id, tag, limit: what the
 * Prefect 1.4.1 client reads), the same limits as `task_concurrency_limit` (the tag in `name`,
 * Prefect Cloud's later name) and `flow_concurrency_limit` (labels in `name`). A workspace keeps
 * few limits (at most Concurrency.MAX_LIMITS of each kind): every path reads them from its list,
 * one Query; by tag or name, one GetItem.
 */
function concurrencyModels(): EntityModel[] {
  const rows =
    (as: "tag" | "name") =>
    (found: Concurrency.LimitRow[]): Row[] =>
      found.map((row) => ({ ...row, [as]: row.name }));
  const model = (
    name: string,
    columns: Record<string, ColumnType>,
    kind: Concurrency.Kind,
    as: "tag" | "name",
  ): EntityModel => ({
    name,
    columns,
    relationships: {},
    byIds: async (ids) => rows(as)(await Concurrency.fromIds(kind, ids)),
    indexes: [
      {
        column: as,
        load: each(async (value) =>
          rows(as)([await Concurrency.byName(kind, value)].filter(Boolean) as Concurrency.LimitRow[]),
        ),
      },
    ],
    listAll: async function* () {
      yield* rows(as)(await Concurrency.list(kind));
    },
    naturalOrder: { [as]: "asc" },
  });
  const renamed = Object.fromEntries(
    Object.entries(TaskTagLimitEntity.columns).map(([column, type]) => [
      column === "tag" ? "name" : column,
      type,
    ]),
  );
  return [
    model(TaskTagLimitEntity.name, TaskTagLimitEntity.columns, "task", "tag"),
    model("task_concurrency_limit", renamed, "task", "name"),
    model(FlowLabelLimitEntity.name, FlowLabelLimitEntity.columns, "flow", "name"),
  ];
}

for (const m of MODELS) registerModel(m);
