import { useTenantId } from "../actor.js";
import { boundedCache, stringBytes } from "../cache.js";
import { NotFoundError, ValidationError } from "../errors.js";
import * as FlowRun from "../flow-run/index.js";
import * as TaskRun from "../task-run/index.js";
import type { LogRecord } from "./record.js";

/**
 * Checks that every line names a flow run of the caller's workspace (keys carry the tenant, so
 * another workspace's run is simply not found) and, if it names a task run, one of that flow run.
 * One BatchGetItem per kind for the whole batch; runs seen in the last minute are not read again
 * (a run deleted meanwhile can still receive a minute of logs, which then expire with their TTL).
 */
const CACHE_MS = 60_000;
/** `<tenant>#flow-run#<id>` or `<tenant>#task-run#<id>` → the flow run id. */
const known = boundedCache<string, string>({
  name: "log.runs",
  maxEntries: 20_000,
  maxBytes: 8 * 2 ** 20,
  ttlMs: CACHE_MS,
  sizeOf: (flowRunId, key) => stringBytes(key) + stringBytes(flowRunId) + 64,
});

function remember(key: string, flowRunId: string): void {
  known.set(key, flowRunId);
}

function cached(key: string): string | undefined {
  return known.get(key);
}

export async function checkRuns(records: LogRecord[]): Promise<void> {
  const t = useTenantId();
  const flowKey = (id: string) => `${t}#flow-run#${id}`;
  const taskKey = (id: string) => `${t}#task-run#${id}`;

  const flowRunIds = [...new Set(records.map((r) => r.flow_run_id))].filter((id) => !cached(flowKey(id)));
  if (flowRunIds.length > 0) {
    const found = new Set((await FlowRun.fromIds(flowRunIds)).map((run) => run.id));
    for (const id of flowRunIds) {
      // BatchGetItem reads eventually consistent: a run created a moment ago gets a strong read.
      if (!found.has(id) && !(await FlowRun.fromId(id))) throw new NotFoundError(`Flow run ${id} not found`);
      remember(flowKey(id), id);
    }
  }

  const taskRunIds = [...new Set(records.flatMap((r) => (r.task_run_id ? [r.task_run_id] : [])))].filter(
    (id) => !cached(taskKey(id)),
  );
  if (taskRunIds.length > 0) {
    const found = await TaskRun.flowRunIdsOf(taskRunIds);
    for (const id of taskRunIds) {
      const flowRunId = found.get(id);
      if (!flowRunId) throw new NotFoundError(`Task run ${id} not found`);
      remember(taskKey(id), flowRunId);
    }
  }
  for (const record of records) {
    if (!record.task_run_id) continue;
    const owner = cached(taskKey(record.task_run_id));
    if (owner !== record.flow_run_id) {
      throw new ValidationError(
        `Task run ${record.task_run_id} does not belong to flow run ${record.flow_run_id}`,
      );
    }
  }
}
