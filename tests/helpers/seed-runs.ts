import { BatchWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { FlowRunEntity } from "#core/flow-run/entity.js";
import { serverState } from "#core/state/types.js";

/**
 * Seeds finished flow runs fast, straight into the main table with BatchWriteItem, in the shape
 * `FlowRun.create` writes and a finished state leaves them: the run item with its index keys and no
 * ready-index attributes (finished runs are not queued).
 * History entries and task runs are left out: the readers these seeds exist for never touch them.
 * Used where creating tens of thousands of runs through the API would take minutes (bench, read limits).
 */
export type SeedTarget = { tenantId: string; flowId: string; flowGroupId: string; projectId: string };

/**
 * `tenant-listing` leaves out the per-flow and per-group index keys (fewer index writes, for
 * read-limit tests); `before-lookup-keys` is a run as versions before the name index and the
 * started order stored it (for the backfill, core/src/flow-run/backfill.ts).
 */
export type SeedShape = "as-core-writes" | "tenant-listing" | "before-lookup-keys";

const LEFT_OUT: Record<SeedShape, string[]> = {
  "as-core-writes": [],
  "tenant-listing": ["gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"],
  "before-lookup-keys": ["gsi4pk", "gsi4sk", "due_pk", "due_sk"],
};

export function finishedRunItem(
  target: SeedTarget,
  index: number,
  created: Date,
  shape: SeedShape = "as-core-writes",
): Record<string, unknown> {
  const t = target.tenantId;
  const id = seededRunId(target.flowId, index);
  const at = created.toISOString();
  const done = serverState("Success", "All reference tasks succeeded.");
  // The entity's own item conversion: every index key a run of this shape carries (by flow, group,
  // tenant, name, and the started order) follows from its declaration.
  const item = FlowRunEntity.toItem({
    id,
    tenant_id: t,
    flow_id: target.flowId,
    flow_group_id: target.flowGroupId,
    project_id: target.projectId,
    name: `seeded-${index}`,
    labels: [],
    parameters: {},
    context: {},
    run_config: null,
    version: 4,
    state: done.type,
    serialized_state: done.serialized,
    state_message: done.message,
    state_timestamp: at,
    state_start_time: null,
    start_time: at,
    end_time: at,
    scheduled_start_time: at,
    heartbeat: at,
    idempotency_key: null,
    auto_scheduled: false,
    agent_id: null,
    created: at,
    updated: at,
  });
  for (const attribute of LEFT_OUT[shape]) delete item[attribute];
  return item;
}

/** A UUID-shaped id per (flow, index), so seeds are repeatable. */
export function seededRunId(flowId: string, index: number): string {
  const hex = index.toString(16).padStart(12, "0");
  return `${flowId.slice(0, 24)}${hex}`;
}

/** Writes `count` finished runs of a flow, 25 a request, `concurrency` requests in flight. */
export async function seedFinishedRuns(
  client: DynamoDBDocumentClient,
  table: string,
  target: SeedTarget,
  count: number,
  options: { concurrency?: number; firstIndex?: number; createdBefore?: Date; shape?: SeedShape } = {},
): Promise<void> {
  const first = options.firstIndex ?? 0;
  const base = (options.createdBefore ?? new Date()).getTime() - count * 1000;
  let next = 0;
  const batches = Math.ceil(count / 25);
  const worker = async () => {
    for (let batch = next++; batch < batches; batch = next++) {
      const items = [];
      for (let i = batch * 25; i < Math.min(count, (batch + 1) * 25); i++) {
        items.push(finishedRunItem(target, first + i, new Date(base + i * 1000), options.shape));
      }
      let pending: Record<string, unknown[]> | undefined = {
        [table]: items.map((Item) => ({ PutRequest: { Item } })),
      };
      while (pending && Object.keys(pending).length > 0) {
        const result = await client.send(new BatchWriteCommand({ RequestItems: pending as never }));
        pending = result.UnprocessedItems as Record<string, unknown[]> | undefined;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
}
