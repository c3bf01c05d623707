import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { GetCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { asTenant, useTenantId } from "../actor.js";
import * as Agent from "../agent/index.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { NotFoundError } from "../errors.js";
import * as Flow from "../flow/index.js";
import { FlowKeys } from "../flow/keys.js";
import * as FlowRun from "../flow-run/index.js";
import { FlowRunKeys, WATCH_KINDS, WATCH_SHARDS, type WatchKind, watchFor } from "../flow-run/keys.js";
import { deterministicId } from "../ids.js";
import type { Level, LogRecord } from "../log/record.js";
import { store } from "../log/store.js";
import { applyTransition, VersionLockingError } from "../state/transition.js";
import { isRunning, type ParsedState, serverState } from "../state/types.js";
import * as TaskRun from "../task-run/index.js";
import { TaskRunKeys } from "../task-run/keys.js";

/**
 * The scheduler's health checks: late runs, zombies (no heartbeat), and lazarus (a Submitted or
 * Running run whose process vanished). Candidates come only from the sparse `watch` index
 * (flow-run/keys.ts): a run carries one entry while it is Scheduled, Submitted, Running or
 * Cancelling, keyed by the time its condition is measured from, and every state transition and
 * heartbeat moves it in the same write. A check Queries each (kind, shard) partition for entries
 * older than its threshold, so a tick reads `WATCH_KINDS × WATCH_SHARDS` Query pages plus the
 * runs that need attention, never the healthy ones. Every action is conditional on the entry it
 * was found by (`watch_sk` unchanged) and on the run's version, so a heartbeat or transition
 * racing the tick wins, and overlapping ticks act once.
 */
export type HealthOptions = {
  /** The tick's clock (tests pass their own; no sleeping). */
  now?: Date;
  /** A Scheduled run this long past its start without being submitted is late (default 15 s). */
  lateGraceMs?: number;
  /** A Running or Cancelling run without a heartbeat for this long is a zombie (default 2 min). */
  heartbeatTimeoutMs?: number;
  /** A Submitted run that has not started running after this long lost its process (default 10 min). */
  submittedTimeoutMs?: number;
  /** An agent that polled within this window is live (default 5 min). */
  agentLivenessMs?: number;
  /** Times lazarus reschedules a run before failing it (default 3). */
  maxLazarus?: number;
  /** Candidates handled per condition and tick; the rest wait for the next tick. */
  maxPerCondition?: number;
  /** No candidate is started after this many ms. */
  budgetMs?: number;
  concurrency?: number;
  onError?: (error: unknown, run: { tenant_id: string; id: string; kind: WatchKind }) => void;
};

export type HealthResult = {
  candidates: Record<WatchKind, number>;
  markedLate: number;
  skipped: number;
  zombies: number;
  cancelled: number;
  rescheduled: number;
  failed: number;
  taskRunsFailed: number;
  taskRunsRetrying: number;
  /** Entries moved or removed without a state change (checks disabled, retry waits, stale entries). */
  repaired: number;
  /** Entries moved up to a heartbeat that came after them (heartbeats do not move entries themselves). */
  refreshed: number;
  /** Candidates that changed under the tick (a heartbeat, a transition): left as they are. */
  raced: number;
  errors: number;
};

const DEFAULTS = {
  lateGraceMs: 15_000,
  heartbeatTimeoutMs: 120_000,
  submittedTimeoutMs: 600_000,
  agentLivenessMs: 300_000,
  maxLazarus: 3,
  maxPerCondition: 200,
  budgetMs: 45_000,
  concurrency: 8,
};
type Resolved = typeof DEFAULTS & { now: Date };

/** The run as the index holds it (projection ALL). */
type Watched = Record<string, unknown> & {
  id: string;
  tenant_id: string;
  flow_id: string;
  flow_group_id: string;
  state: string;
  version: number;
  watch_sk: string;
};

/** Per-flow settings and the flow group's late-run policy, as the scheduler reads them. */
export type RunSettings = {
  heartbeat_enabled: boolean;
  lazarus_enabled: boolean;
  /** Skip a run still Scheduled this long after its start (flow group setting; null: never). */
  max_lateness_seconds: number | null;
  /** What a run too late becomes: Skipped (default) or Cancelled. */
  late_run_state: "Skipped" | "Cancelled";
};

/**
 * The flow's settings overridden by its group's, where the mutations write them
 * (`enable/disable_flow_heartbeat`, `enable/disable_flow_lazarus_process`, `set_flow_group_settings`;
 * flow/settings.ts).
 */
export function runSettings(flow: unknown, group: unknown): RunSettings {
  const merged = {
    ...((flow as Record<string, unknown> | undefined) ?? {}),
    ...((group as Record<string, unknown> | undefined) ?? {}),
  };
  const max = Number(merged.max_lateness_seconds);
  return {
    heartbeat_enabled: merged.heartbeat_enabled !== false,
    lazarus_enabled: merged.lazarus_enabled !== false,
    max_lateness_seconds:
      merged.max_lateness_seconds !== null && Number.isFinite(max) && max >= 0 ? max : null,
    late_run_state: merged.late_run_state === "Cancelled" ? "Cancelled" : "Skipped",
  };
}

class Raced extends Error {}

type Outcome = keyof Omit<HealthResult, "candidates" | "errors" | "taskRunsFailed" | "taskRunsRetrying">;

/** One pass of every health check over what the `watch` index says needs attention at `now`. */
export async function checkHealth(options: HealthOptions = {}): Promise<HealthResult> {
  const o: Resolved = { ...DEFAULTS, ...stripUndefined(options), now: options.now ?? new Date() };
  const started = Date.now();
  const result: HealthResult = {
    candidates: { scheduled: 0, skip: 0, submitted: 0, heartbeat: 0 },
    markedLate: 0,
    skipped: 0,
    zombies: 0,
    cancelled: 0,
    rescheduled: 0,
    failed: 0,
    taskRunsFailed: 0,
    taskRunsRetrying: 0,
    repaired: 0,
    refreshed: 0,
    raced: 0,
    errors: 0,
  };
  const thresholds: Record<WatchKind, number> = {
    scheduled: o.lateGraceMs,
    skip: 0,
    submitted: o.submittedTimeoutMs,
    heartbeat: o.heartbeatTimeoutMs,
  };
  const batches = await Promise.all(
    WATCH_KINDS.map(async (kind) => {
      const items = await candidates(kind, new Date(o.now.getTime() - thresholds[kind]), o.maxPerCondition);
      result.candidates[kind] = items.length;
      return items.map((item) => ({ kind, item }));
    }),
  );
  const work = batches.flat();
  const context = new TickContext(o, result);
  let next = 0;
  const worker = async () => {
    while (next < work.length && Date.now() - started < o.budgetMs) {
      const { kind, item } = work[next++] as { kind: WatchKind; item: Watched };
      try {
        const outcome = await asTenant(item.tenant_id, () => context.handle(kind, item));
        result[outcome]++;
      } catch (error) {
        if (
          error instanceof Raced ||
          error instanceof VersionLockingError ||
          error instanceof NotFoundError
        ) {
          result.raced++;
        } else if (error instanceof ConditionalCheckFailedException) {
          result.raced++;
        } else {
          result.errors++;
          options.onError?.(error, { tenant_id: item.tenant_id, id: item.id, kind });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, work.length) }, worker));
  return result;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Entries of one kind whose reference time is at or before `until`, oldest first: one Query per shard. */
async function candidates(kind: WatchKind, until: Date, limit: number): Promise<Watched[]> {
  const pages = await Promise.all(
    Array.from({ length: WATCH_SHARDS }, (_, shard) =>
      useDynamo().send(
        new QueryCommand({
          TableName: mainTable(),
          IndexName: "watch",
          KeyConditionExpression: "watch_pk = :pk AND watch_sk <= :until",
          ExpressionAttributeValues: {
            ":pk": FlowRunKeys.watchPartition(kind, shard),
            ":until": `${until.toISOString()}#~`,
          },
          Limit: limit,
        }),
      ),
    ),
  );
  return pages
    .flatMap((page) => (page.Items ?? []) as Watched[])
    .sort((a, b) => (a.watch_sk < b.watch_sk ? -1 : 1))
    .slice(0, limit);
}

const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Which states an entry of each kind is for; anything else is a stale entry to put right. */
function fits(kind: WatchKind, state: string): boolean {
  if (kind === "scheduled" || kind === "skip") return state === "Scheduled";
  if (kind === "submitted") return state === "Submitted";
  return isRunning(state) || state === "Submitted";
}

class TickContext {
  private readonly settingsCache = new Map<string, Promise<RunSettings>>();
  private readonly agentsCache = new Map<string, Promise<Agent.Agent[]>>();

  constructor(
    private readonly o: Resolved,
    private readonly result: HealthResult,
  ) {}

  get nowIso(): string {
    return this.o.now.toISOString();
  }

  async handle(kind: WatchKind, run: Watched): Promise<Outcome> {
    if (!fits(kind, run.state)) return this.moveWatch(run, this.rightWatch(run));
    if (run.state === "Scheduled") return this.scheduled(run);
    // A heartbeat writes only the run's `heartbeat` (no index entry moves on the API's path):
    // an entry found old whose run has beaten since, within the timeout, is moved up to that beat.
    const heartbeat = typeof run.heartbeat === "string" ? run.heartbeat : undefined;
    if (
      heartbeat &&
      heartbeat > (run.watch_sk.split("#")[0] ?? "") &&
      Date.parse(heartbeat) > this.o.now.getTime() - this.o.heartbeatTimeoutMs
    ) {
      await this.moveWatch(run, FlowRunKeys.watch("heartbeat", run.tenant_id, heartbeat, run.id));
      return "refreshed";
    }
    const settings = await this.settings(run);
    if (run.state === "Submitted") {
      if (!settings.lazarus_enabled) return this.moveWatch(run, "remove");
      const since = kind === "heartbeat" ? String(run.heartbeat) : String(run.state_timestamp);
      return this.lazarus(
        run,
        `the run was Submitted at ${String(run.state_timestamp)} and its process has not started it (no sign of life since ${since})`,
      );
    }
    if (!settings.heartbeat_enabled) return this.moveWatch(run, "remove");
    const last = this.lastSignOfLife(run);
    const why = `no heartbeat from the flow run's process since ${last} (more than ${seconds(this.o.heartbeatTimeoutMs)})`;
    if (run.state === "Cancelling") {
      await FlowRun.setState(run.id, run.version, serverState("Cancelled", `Flow run cancelled: ${why}.`), {
        condition: this.stillWatched(run),
        now: this.nowIso,
      });
      await this.log(run.id, "WARNING", `Cancelling flow run marked Cancelled by the scheduler: ${why}.`);
      return "cancelled";
    }
    // Waiting for a task run's retry (its process exits meanwhile): not a zombie until the retry is due and unclaimed.
    if (typeof run.ready_sk === "string") {
      const due = run.ready_sk.split("#")[0] ?? this.nowIso;
      const reference = due > this.nowIso ? due : this.nowIso;
      return this.moveWatch(run, FlowRunKeys.watch("heartbeat", run.tenant_id, reference, run.id));
    }
    return this.zombie(run, settings, why);
  }

  /**
   * Late marking and the flow group's skip-late policy (entries of kinds `scheduled` and `skip`).
   * Backfilled runs (`backfilled`, set by schedule/backfill.ts) are marked late but never skipped
   * for lateness: they start in the past because someone asked for them. No run is skipped within
   * the late grace of its creation either, so a backfill's mark, written right after it creates a
   * run, always lands before the policy could act; the skip is also conditional on the mark's
   * absence in the item itself (the index copy may lag).
   */
  private async scheduled(run: Watched): Promise<Outcome> {
    const settings = await this.settings(run);
    const start = String(run.state_start_time ?? run.scheduled_start_time);
    const lateness = this.o.now.getTime() - Date.parse(start);
    const maxMs =
      settings.max_lateness_seconds === null || run.backfilled === true
        ? null
        : settings.max_lateness_seconds * 1000;
    const created = Date.parse(String(run.created));
    const skipAt =
      maxMs === null
        ? null
        : Math.max(Date.parse(start) + maxMs, Number.isNaN(created) ? 0 : created + this.o.lateGraceMs);
    const reason =
      run.is_late === true ? ((run.late_reason as string | null) ?? null) : await this.lateReason(run);
    if (skipAt !== null && this.o.now.getTime() >= skipAt) {
      const message = `Flow run ${settings.late_run_state === "Skipped" ? "skipped" : "cancelled"}: scheduled for ${start}, it is ${seconds(lateness)} late, more than the flow group's max_lateness_seconds (${settings.max_lateness_seconds}).`;
      const watched = this.stillWatched(run);
      await FlowRun.setState(run.id, run.version, serverState(settings.late_run_state, message), {
        set: { is_late: true, late_reason: reason },
        condition: { ...watched, expression: `${watched.expression} AND attribute_not_exists(backfilled)` },
        now: this.nowIso,
      });
      await this.log(run.id, "WARNING", `${message}${reason ? ` ${reason}` : ""}`);
      return "skipped";
    }
    const next = skipAt === null ? "remove" : FlowRunKeys.watch("skip", run.tenant_id, iso(skipAt), run.id);
    if (run.is_late === true) return this.moveWatch(run, next);
    await this.moveWatch(run, next, { is_late: true, late_reason: reason });
    await this.log(
      run.id,
      "WARNING",
      `Flow run is late: scheduled for ${start} and not submitted ${seconds(lateness)} later.${reason ? ` ${reason}` : ""}`,
    );
    return "markedLate";
  }

  /** Why no agent picks the run up, when that is the case (null when a matching agent is live). */
  private async lateReason(run: Watched): Promise<string | null> {
    let agents = this.agentsCache.get(run.tenant_id);
    if (!agents) {
      agents = (async () => {
        const all: Agent.Agent[] = [];
        for await (const agent of Agent.listAll()) {
          all.push(agent as unknown as Agent.Agent);
          if (all.length >= 500) break;
        }
        return all;
      })();
      this.agentsCache.set(run.tenant_id, agents);
    }
    const all = await agents;
    const since = this.o.now.getTime() - this.o.agentLivenessMs;
    const live = all.filter((a) => a.last_queried && Date.parse(a.last_queried) >= since);
    const labels = Array.isArray(run.labels) ? (run.labels as string[]) : [];
    if (live.length === 0) {
      return all.length === 0
        ? "No agent is registered in this workspace."
        : `No agent has polled for runs in the last ${seconds(this.o.agentLivenessMs)}.`;
    }
    // The rule of get_runs_in_queue: the run's labels ⊆ the agent's, and an agent with labels skips unlabeled runs.
    const matching = live.filter((agent) => {
      const own = new Set(agent.labels ?? []);
      return labels.length === 0 ? own.size === 0 : labels.every((label) => own.has(label));
    });
    if (matching.length > 0) return null;
    return labels.length > 0
      ? `No live agent has all of the run's labels (${labels.join(", ")}).`
      : "The run has no labels and every live agent has labels (agents with labels only run labeled runs).";
  }

  /** Fails (or retries) the run's Running task runs, then reschedules the run (lazarus) or fails it. */
  private async zombie(run: Watched, settings: RunSettings, why: string): Promise<Outcome> {
    // The index copy may lag the item: make sure no heartbeat came in before touching the task runs.
    const fresh = await useDynamo().send(
      new GetCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(run.tenant_id, run.id),
        ConsistentRead: true,
      }),
    );
    if (
      fresh.Item?.watch_sk !== run.watch_sk ||
      fresh.Item?.version !== run.version ||
      (fresh.Item?.heartbeat ?? null) !== (run.heartbeat ?? null)
    )
      throw new Raced();
    for await (const taskRun of TaskRun.ofFlowRun(run.id)) {
      if (taskRun.state === "Running") await this.failOrRetry(taskRun, why);
    }
    if (settings.lazarus_enabled) {
      const outcome = await this.lazarus(run, why);
      return outcome === "failed" ? "zombies" : outcome;
    }
    const message = `Flow run failed by the scheduler's zombie check: ${why}.`;
    await FlowRun.setState(run.id, run.version, serverState("Failed", message), {
      condition: this.stillWatched(run),
      now: this.nowIso,
    });
    await this.log(run.id, "ERROR", message);
    return "zombies";
  }

  /** A Running task run of a dead process: Retrying while its task has retries left (Prefect's rule), else Failed. */
  private async failOrRetry(taskRun: Record<string, unknown>, why: string): Promise<void> {
    const id = String(taskRun.id);
    const [[task], history] = await Promise.all([
      Flow.tasksFromIds([String(taskRun.task_id)]),
      TaskRun.states(id),
    ]);
    const maxRetries = Number(task?.max_retries ?? 0);
    // Each attempt enters Running once; a Retrying state carries the attempts made before it.
    let runCount = history.filter((entry) => entry.state === "Running").length;
    for (const entry of history) {
      const counted = Number((entry.serialized_state as { run_count?: unknown } | null)?.run_count);
      if (entry.state === "Retrying" && Number.isFinite(counted)) runCount = Math.max(runCount, counted + 1);
    }
    runCount = Math.max(runCount, 1);
    let state: ParsedState;
    if (runCount <= maxRetries) {
      const delay = Number(task?.retry_delay);
      const start = iso(this.o.now.getTime() + (Number.isFinite(delay) && delay > 0 ? delay * 1000 : 0));
      state = serverState(
        "Retrying",
        `Task run retrying (attempt ${runCount} of ${maxRetries + 1} lost): ${why}.`,
        start,
      );
      state.serialized.run_count = runCount;
    } else {
      state = serverState("Failed", `Task run failed: ${why}.`);
    }
    const applied = await applyTransition({
      entity: "task run",
      id,
      key: TaskRunKeys.run(useTenantId(), id),
      version: null,
      state,
      condition: { expression: "#state = :c_running", values: { ":c_running": "Running" } },
      now: this.nowIso,
    }).then(
      () => true,
      (error) => {
        // The task run left Running meanwhile (or an overlapping tick took it): not ours to change.
        if (error instanceof VersionLockingError) return false;
        throw error;
      },
    );
    if (!applied) return;
    if (state.type === "Retrying") this.result.taskRunsRetrying++;
    else this.result.taskRunsFailed++;
    await this.log(
      String(taskRun.flow_run_id),
      state.type === "Failed" ? "ERROR" : "WARNING",
      String(state.message),
      id,
    );
  }

  /** Reschedules a run whose process vanished, up to `maxLazarus` times (counted on the run), then fails it. */
  private async lazarus(run: Watched, why: string): Promise<"rescheduled" | "failed"> {
    const count = Number(run.lazarus_count ?? 0);
    if (count < this.o.maxLazarus) {
      const message = `Rescheduled by lazarus (${count + 1} of ${this.o.maxLazarus}): ${why}.`;
      await FlowRun.setState(run.id, run.version, serverState("Scheduled", message, this.nowIso), {
        set: { lazarus_count: count + 1 },
        condition: this.stillWatched(run),
        now: this.nowIso,
      });
      await this.log(run.id, "WARNING", message);
      return "rescheduled";
    }
    const message = `Flow run failed: lazarus rescheduled it ${count} times already; ${why}.`;
    await FlowRun.setState(run.id, run.version, serverState("Failed", message), {
      condition: this.stillWatched(run),
      now: this.nowIso,
    });
    await this.log(run.id, "ERROR", message);
    return "failed";
  }

  /** The entry the tick found is still the run's, and no heartbeat came in since it was read. */
  private stillWatched(run: Watched) {
    return typeof run.heartbeat === "string"
      ? {
          expression: "watch_sk = :c_wsk AND heartbeat = :c_hb",
          values: { ":c_wsk": run.watch_sk, ":c_hb": run.heartbeat },
        }
      : {
          expression:
            "watch_sk = :c_wsk AND (attribute_not_exists(heartbeat) OR attribute_type(heartbeat, :c_null))",
          values: { ":c_wsk": run.watch_sk, ":c_null": "NULL" },
        };
  }

  private lastSignOfLife(run: Watched): string {
    const heartbeat = typeof run.heartbeat === "string" ? run.heartbeat : "";
    const entered = String(run.state_timestamp ?? "");
    return heartbeat > entered ? heartbeat : entered;
  }

  /** The entry the run's current state calls for (for stale entries: a heartbeat after the run finished...). */
  private rightWatch(run: Watched) {
    if (isRunning(run.state))
      return FlowRunKeys.watch("heartbeat", run.tenant_id, this.lastSignOfLife(run), run.id);
    const start = typeof run.state_start_time === "string" ? run.state_start_time : null;
    return watchFor(run.tenant_id, run.id, run.state, start, String(run.state_timestamp ?? this.nowIso));
  }

  /** Moves or removes the run's entry (and sets `extra`), if it is still the one the tick found. */
  private async moveWatch(
    run: Watched,
    next: { watch_pk: string; watch_sk: string } | "remove",
    extra: Record<string, unknown> = {},
  ): Promise<"repaired"> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ":seen": run.watch_sk };
    const set: string[] = [];
    Object.entries(extra).forEach(([attribute, value], i) => {
      set.push(`#x${i} = :x${i}`);
      names[`#x${i}`] = attribute;
      values[`:x${i}`] = value;
    });
    if (next !== "remove") {
      set.push("watch_pk = :wpk", "watch_sk = :wsk");
      values[":wpk"] = next.watch_pk;
      values[":wsk"] = next.watch_sk;
    }
    const expression = `${set.length ? `SET ${set.join(", ")}` : ""}${next === "remove" ? " REMOVE watch_pk, watch_sk" : ""}`;
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(run.tenant_id, run.id),
        UpdateExpression: expression.trim(),
        ConditionExpression: "watch_sk = :seen",
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      }),
    );
    return "repaired";
  }

  private settings(run: Watched): Promise<RunSettings> {
    const cacheKey = `${run.tenant_id}#${run.flow_id}`;
    let settings = this.settingsCache.get(cacheKey);
    if (!settings) {
      const get = (key: { pk: string; sk: string }) =>
        useDynamo().send(
          new GetCommand({ TableName: mainTable(), Key: key, ProjectionExpression: "settings" }),
        );
      settings = Promise.all([
        get(FlowKeys.flow(run.tenant_id, run.flow_id)),
        get(FlowKeys.group(run.tenant_id, run.flow_group_id)),
      ]).then(([flow, group]) => runSettings(flow.Item?.settings, group.Item?.settings));
      this.settingsCache.set(cacheKey, settings);
    }
    return settings;
  }

  /** A log line on the run, written the way the ingestion consumer stores lines (idempotent keys, retention TTL). */
  private async log(flowRunId: string, level: Level, message: string, taskRunId: string | null = null) {
    const t = useTenantId();
    const now = this.nowIso;
    const record: LogRecord = {
      id: deterministicId("scheduler-log", t, flowRunId, taskRunId ?? "", now, message),
      flow_run_id: flowRunId,
      task_run_id: taskRunId,
      timestamp: now,
      level,
      name: "drover.scheduler",
      message,
      info: null,
      created: now,
    };
    await store([record]);
  }
}
