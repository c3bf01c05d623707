import type { QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { stripStorage } from "../dynamo/keys.js";
import { queryItems } from "../dynamo/operations.js";
import type { BoolExp, Comparison, OrderBy } from "../query/where.js";
import * as TaskRun from "../task-run/index.js";
import { LogKeys } from "./keys.js";
import { normalizeTimestamp } from "./record.js";

export type Window = { from?: string; through?: string };
export type ReadOptions = { where?: BoolExp | undefined; order?: OrderBy[] | undefined };

/** The orders a log partition yields without sorting: its sort key, `<timestamp>#<id>`, either way. */
export const LOG_ORDERS: OrderBy[][] = [
  [{ timestamp: "asc" }, { id: "asc" }],
  [{ timestamp: "desc" }, { id: "desc" }],
];

function asList(value: BoolExp[] | BoolExp | undefined): BoolExp[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * The time window every matching line lies in, from `timestamp` comparisons the where-clause
 * requires (at the top or inside `_and`; `_or` and `_not` never narrow). Bounds are inclusive to
 * the millisecond: the exact comparison is still applied to each line afterwards.
 */
export function timeWindow(where: BoolExp | undefined | null): Window {
  const window: Window = {};
  const visit = (exp: BoolExp) => {
    const comparison = exp.timestamp as Comparison | undefined;
    if (comparison && typeof comparison === "object") {
      const at = (value: unknown) => (typeof value === "string" ? normalizeTimestamp(value) : undefined);
      for (const lower of [comparison._gt, comparison._gte, comparison._eq].map(at)) {
        if (lower && (!window.from || lower > window.from)) window.from = lower;
      }
      for (const upper of [comparison._lt, comparison._lte, comparison._eq].map(at)) {
        if (upper && (!window.through || upper < window.through)) window.through = upper;
      }
    }
    for (const sub of asList(exp._and)) visit(sub);
  };
  if (where) visit(where);
  return window;
}

function keyCondition(window: Window): { expression: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  if (window.from) values[":from"] = LogKeys.from(window.from);
  if (window.through) values[":through"] = LogKeys.through(window.through);
  const range =
    window.from && window.through
      ? " AND sk BETWEEN :from AND :through"
      : window.from
        ? " AND sk >= :from"
        : window.through
          ? " AND sk <= :through"
          : "";
  return { expression: `pk = :pk${range}`, values };
}

/**
 * Lines of a flow run in the window the where-clause implies, in (timestamp, id) order either way,
 * unexpired only, each line once. Items come in sort-key order, a bucket's items together; each
 * bucket's lines (its chunks and any old one-line items) are merged before they are yielded, so a
 * reader holds one bucket at a time.
 */
export function ofFlowRun(flowRunId: string, options: ReadOptions = {}, taskRunId?: string) {
  const window = timeWindow(options.where);
  if (window.from && window.through && window.from > window.through) return empty();
  const { expression, values } = keyCondition(window);
  const descending = options.order?.[0]?.timestamp?.startsWith("desc") ?? false;
  const input: Omit<QueryCommandInput, "ExclusiveStartKey"> = {
    TableName: useConfig().tables.logs,
    KeyConditionExpression: expression,
    // DynamoDB deletes expired items lazily (DynamoDB Local never): reads must skip them.
    FilterExpression: `(attribute_not_exists(ttl_epoch) OR ttl_epoch > :now)${taskRunId ? " AND (task_run_id = :task OR contains(task_run_ids, :task))" : ""}`,
    ExpressionAttributeValues: {
      ":pk": LogKeys.partition(useTenantId(), flowRunId),
      ":now": Math.floor(Date.now() / 1000),
      ...values,
      ...(taskRunId ? { ":task": taskRunId } : {}),
    },
    ScanIndexForward: !descending,
  };
  return merged(queryItems(input), descending, taskRunId);
}

/** Lines of a task run: its flow run's partition, filtered on the task run (no index needed). */
export async function* ofTaskRun(taskRunId: string, options: ReadOptions = {}) {
  const run = await TaskRun.fromId(taskRunId);
  if (!run) return;
  yield* ofFlowRun(run.flow_run_id, options, run.id);
}

type Line = Record<string, unknown> & { id: string; timestamp: string };

/** The lines one stored item holds: a chunk's, or the one line of an item from before chunks. */
export function linesOf(item: Record<string, unknown>): Line[] {
  if (typeof item.lines_json === "string") return JSON.parse(item.lines_json) as Line[];
  return [stripStorage(item) as Line];
}

/** How many lines a stored item holds, from its `line_count` (read alone, it is cheap to poll). */
export function lineCountOf(item: Record<string, unknown>): number {
  return typeof item.line_count === "number" ? item.line_count : 1;
}

function bucketOfItem(item: Record<string, unknown>): string {
  return LogKeys.bucketOf(String(item.sk));
}

async function* merged(
  items: AsyncIterable<Record<string, unknown>>,
  descending: boolean,
  taskRunId: string | undefined,
): AsyncIterable<Record<string, unknown>> {
  const direction = descending ? -1 : 1;
  const order = (a: Line, b: Line) =>
    direction *
    (a.timestamp !== b.timestamp
      ? a.timestamp < b.timestamp
        ? -1
        : 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0);
  let bucket: string | undefined;
  let pending: Line[] = [];
  function* flush() {
    pending.sort(order);
    let previous: string | undefined;
    for (const line of pending) {
      if (line.id === previous) continue;
      previous = line.id;
      if (taskRunId === undefined || line.task_run_id === taskRunId) yield line;
    }
    pending = [];
  }
  for await (const item of items) {
    const at = bucketOfItem(item);
    if (at !== bucket) {
      yield* flush();
      bucket = at;
    }
    for (const line of linesOf(item)) pending.push(line);
  }
  yield* flush();
}

async function* empty(): AsyncIterable<Record<string, unknown>> {}
