import { useTenantId } from "../actor.js";
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
const CACHE_MAX = 20_000;
const known = new Map<string, { flowRunId: string; until: number }>();

function remember(key: string, flowRunId: string, now: number): void {
  if (known.size >= CACHE_MAX) known.clear();
  known.set(key, { flowRunId, until: now + CACHE_MS });
}

function cached(key: string, now: number): string | undefined {
  const hit = known.get(key);
  return hit && hit.until > now ? hit.flowRunId : undefined;
}

export async function checkRuns(records: LogRecord[]): Promise<void> {
  const t = useTenantId();
  const now = Date.now();
  const flowKey = (id: string) => `${t}#flow-run#${id}`;
  const taskKey = (id: string) => `${t}#task-run#${id}`;

  const flowRunIds = [...new Set(records.map((r) => r.flow_run_id))].filter(
    (id) => !cached(flowKey(id), now),
  );
  if (flowRunIds.length > 0) {
    const found = new Set((await FlowRun.fromIds(flowRunIds)).map((run) => run.id));
    for (const id of flowRunIds) {
      // BatchGetItem reads eventually consistent: a run created a moment ago gets a strong read.
      if (!found.has(id) && !(await FlowRun.fromId(id))) throw new NotFoundError(`Flow run ${id} not found`);
      remember(flowKey(id), id, now);
    }
  }

  const taskRunIds = [...new Set(records.flatMap((r) => (r.task_run_id ? [r.task_run_id] : [])))].filter(
    (id) => !cached(taskKey(id), now),
  );
  if (taskRunIds.length > 0) {
    const found = await TaskRun.flowRunIdsOf(taskRunIds);
    for (const id of taskRunIds) {
      const flowRunId = found.get(id);
      if (!flowRunId) throw new NotFoundError(`Task run ${id} not found`);
      remember(taskKey(id), flowRunId, now);
    }
  }
  for (const record of records) {
    if (!record.task_run_id) continue;
    const owner = cached(taskKey(record.task_run_id), now);
    if (owner !== record.flow_run_id) {
      throw new ValidationError(
        `Task run ${record.task_run_id} does not belong to flow run ${record.flow_run_id}`,
      );
    }
  }
}
