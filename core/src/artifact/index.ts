import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import pLimit from "p-limit";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { batchGet, cancellationCodes, queryItems } from "../dynamo/operations.js";
import { DroverError, LimitExceededError, NotFoundError, ValidationError } from "../errors.js";
import * as FlowRun from "../flow-run/index.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { chargeReads } from "../limits/index.js";
import { formatIssues, storable } from "../storable.js";
import * as TaskRun from "../task-run/index.js";
import { type Artifact, ArtifactEntity } from "./entity.js";
import { ArtifactKeys } from "./keys.js";

export type { Artifact } from "./entity.js";

/**
 * Task run artifacts (Prefect 1's `create_link_artifact`, `create_markdown_artifact` and their
 * update and delete): any JSON `data` of any `kind`, attached to a task run of the workspace.
 *
 * An artifact whose flow run is gone (deleted) is never read back: every read checks that the
 * flow runs of what it returns still exist (`removeAllOfFlowRun` deletes them outright).
 */

/**
 * UTF-8 bytes of `data` as compact JSON. Prefect Server allows 1,000,000; one DynamoDB item holds
 * 400 KB, and the stored (native) form of a JSON value may take up to about 1.5 times its JSON
 * text (a list of small numbers), so 256 KiB always fits, with the item's other attributes.
 */
export const MAX_ARTIFACT_DATA_BYTES = 256 * 1024;
/** Artifacts one task run may hold. */
export const MAX_ARTIFACTS_PER_TASK_RUN = 1000;
const MAX_KIND_LENGTH = 255;

/** Flow run existence checks in flight at once (a read of artifacts of many flow runs). */
const LIVENESS_CONCURRENCY = 8;

const uuid = z.string().refine(isUuid, "must be a UUID");
const data = z
  .unknown()
  .refine((v) => v !== undefined && v !== null, "is required (a JSON value)")
  .superRefine(storable({ as: "native" }));

const createInput = z.object({
  task_run_id: uuid,
  kind: z
    .string()
    .min(1, "must not be empty")
    .max(MAX_KIND_LENGTH, `is at most ${MAX_KIND_LENGTH} characters`),
  data,
});
const updateInput = z.object({ task_run_artifact_id: uuid, data });
const removeInput = z.object({ task_run_artifact_id: uuid });

function parse<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error));
  return parsed.data;
}

/** The bytes of `value` as JSON, refused beyond the limit with Prefect Server's message. */
function sizeOf(value: unknown): number {
  const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (bytes > MAX_ARTIFACT_DATA_BYTES) {
    throw new DroverError(
      "PAYLOAD_TOO_LARGE",
      `Artifact data payload exceeds ${MAX_ARTIFACT_DATA_BYTES} bytes limit. It is ${bytes} bytes as JSON.`,
    );
  }
  return bytes;
}

/** Bytes of artifact data one read-budget unit stands for (beyond the unit each row costs). */
const BYTES_PER_READ_UNIT = 4096;

/** An artifact read back, its data charged to the request's read budget (large ones are not free). */
function charged(item: Record<string, unknown>): Artifact {
  const artifact = ArtifactEntity.fromItem(item);
  chargeReads(Math.floor(artifact.data_bytes / BYTES_PER_READ_UNIT));
  return artifact;
}

/**
 * `create_task_run_artifact`: the task run must be the workspace's (else `Task run <id> not
 * found`, which the client retries for a few seconds); the artifact and its task run's count are
 * written in one transaction, so a task run never holds more than `MAX_ARTIFACTS_PER_TASK_RUN`.
 */
export async function create(raw: { task_run_id: unknown; kind: unknown; data: unknown }): Promise<Artifact> {
  const input = parse(createInput, raw);
  const bytes = sizeOf(input.data);
  const run = await TaskRun.fromId(input.task_run_id);
  if (!run) throw new NotFoundError(`Task run ${input.task_run_id} not found`);
  const t = useTenantId();
  const now = nowIso();
  const artifact: Artifact = {
    id: newId(),
    tenant_id: t,
    task_run_id: run.id,
    flow_run_id: run.flow_run_id,
    kind: input.kind,
    data: input.data,
    data_bytes: bytes,
    created: now,
    updated: now,
  };
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: mainTable(),
              Item: ArtifactEntity.toItem(artifact),
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Update: {
              TableName: mainTable(),
              Key: ArtifactKeys.count(t, run.id),
              UpdateExpression: "ADD artifacts :one SET entity = :entity",
              ConditionExpression: "attribute_not_exists(artifacts) OR artifacts < :max",
              ExpressionAttributeValues: {
                ":one": 1,
                ":max": MAX_ARTIFACTS_PER_TASK_RUN,
                ":entity": "artifact-count",
              },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (cancellationCodes(error)[1] === "ConditionalCheckFailed") {
      throw new LimitExceededError(
        `Task run ${run.id} holds ${MAX_ARTIFACTS_PER_TASK_RUN} artifacts, the most a task run may; delete one to create another.`,
      );
    }
    throw error;
  }
  return artifact;
}

/** `update_task_run_artifact`: replaces the data; false (as Prefect Server) when there is no such artifact. */
export async function update(raw: { task_run_artifact_id: unknown; data: unknown }): Promise<boolean> {
  const input = parse(updateInput, raw);
  const bytes = sizeOf(input.data);
  try {
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: ArtifactKeys.item(useTenantId(), input.task_run_artifact_id),
        UpdateExpression: "SET #data = :data, data_bytes = :bytes, updated = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { "#data": "data" },
        ExpressionAttributeValues: { ":data": input.data, ":bytes": bytes, ":now": nowIso() },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** `delete_task_run_artifact`: false (as Prefect Server) when there is no such artifact. */
export async function remove(raw: { task_run_artifact_id: unknown }): Promise<boolean> {
  const { task_run_artifact_id: id } = parse(removeInput, raw);
  const t = useTenantId();
  const found = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: ArtifactKeys.item(t, id),
      ConsistentRead: true,
      ProjectionExpression: "task_run_id",
    }),
  );
  const taskRunId = found.Item?.task_run_id;
  if (typeof taskRunId !== "string") return false;
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: mainTable(),
              Key: ArtifactKeys.item(t, id),
              ConditionExpression: "attribute_exists(pk)",
            },
          },
          {
            Update: {
              TableName: mainTable(),
              Key: ArtifactKeys.count(t, taskRunId),
              UpdateExpression: "ADD artifacts :minus",
              ExpressionAttributeValues: { ":minus": -1 },
            },
          },
        ],
      }),
    );
  } catch (error) {
    // Deleted meanwhile by another call: that one answered true.
    if (cancellationCodes(error)[0] === "ConditionalCheckFailed") return false;
    throw error;
  }
  await removeCountIfZero(t, taskRunId);
  return true;
}

/** A count at zero goes, so no item outlives a task run's last artifact (a create meanwhile keeps it). */
async function removeCountIfZero(t: string, taskRunId: string): Promise<void> {
  await useDynamo()
    .send(
      new DeleteCommand({
        TableName: mainTable(),
        Key: ArtifactKeys.count(t, taskRunId),
        ConditionExpression: "artifacts <= :zero",
        ExpressionAttributeValues: { ":zero": 0 },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

/** The given flow runs that exist (strong reads of one attribute each). */
async function liveFlowRuns(ids: Iterable<string>): Promise<Set<string>> {
  const unique = [...new Set(ids)];
  const limit = pLimit(LIVENESS_CONCURRENCY);
  const states = await Promise.all(unique.map((id) => limit(() => FlowRun.stateOf(id))));
  return new Set(unique.filter((_, i) => states[i] !== undefined));
}

export async function fromIds(ids: string[]): Promise<Artifact[]> {
  const t = useTenantId();
  const keys = ids.filter(isUuid).map((id) => ArtifactEntity.key({ tenant_id: t, id }));
  const found = (await batchGet(keys)).map(charged);
  const live = await liveFlowRuns(found.map((a) => a.flow_run_id));
  return found.filter((a) => live.has(a.flow_run_id));
}

function inFlowRun(
  flowRunId: string,
  taskRunId: string | undefined,
  pageSize: number | undefined,
): AsyncIterable<Record<string, unknown>> {
  const pk = ArtifactKeys.flowRunPartition(useTenantId(), flowRunId);
  return queryItems({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: taskRunId ? "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)" : "gsi1pk = :pk",
    ExpressionAttributeValues: {
      ":pk": pk,
      ...(taskRunId ? { ":prefix": ArtifactKeys.taskRunPrefix(taskRunId) } : {}),
    },
    ...(pageSize ? { Limit: pageSize } : {}),
  });
}

/** A flow run's artifacts, task run by task run, each task run's in created order. */
export async function* ofFlowRun(flowRunId: string, pageSize?: number): AsyncIterable<Artifact> {
  if (!isUuid(flowRunId) || !(await FlowRun.stateOf(flowRunId))) return;
  for await (const item of inFlowRun(flowRunId, undefined, pageSize)) yield charged(item);
}

/** The artifacts of each given task run in turn, each task run's in created order. */
export async function* ofTaskRuns(taskRunIds: string[], pageSize?: number): AsyncIterable<Artifact> {
  const ids = [...new Set(taskRunIds.filter(isUuid))];
  if (ids.length === 0) return;
  const owners = await TaskRun.flowRunIdsOf(ids);
  const live = await liveFlowRuns(owners.values());
  for (const id of ids) {
    const flowRunId = owners.get(id);
    if (!flowRunId || !live.has(flowRunId)) continue;
    for await (const item of inFlowRun(flowRunId, id, pageSize)) yield charged(item);
  }
}

/**
 * Deletes every artifact of a flow run and their task runs' counts, for when the flow run is
 * deleted (until it is called there, reads hide them: see the module comment).
 */
export async function removeAllOfFlowRun(flowRunId: string): Promise<number> {
  if (!isUuid(flowRunId)) return 0;
  const t = useTenantId();
  const keys: Array<{ pk: unknown; sk: unknown }> = [];
  const taskRuns = new Set<string>();
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": ArtifactKeys.flowRunPartition(t, flowRunId) },
    ProjectionExpression: "pk, sk, task_run_id",
  })) {
    keys.push({ pk: item.pk, sk: item.sk });
    taskRuns.add(String(item.task_run_id));
  }
  const limit = pLimit(LIVENESS_CONCURRENCY);
  const doomed = [...keys, ...[...taskRuns].map((id) => ArtifactKeys.count(t, id))];
  await Promise.all(
    doomed.map((key) =>
      limit(() => useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: key }))),
    ),
  );
  return keys.length;
}
