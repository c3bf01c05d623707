import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  GetCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { NotFoundError } from "../errors.js";
import { FlowKeys } from "../flow/keys.js";
import * as FlowRun from "../flow-run/index.js";
import { FlowRunKeys } from "../flow-run/keys.js";
import { deterministicId } from "../ids.js";
import { store } from "../log/store.js";
import { VersionLockingError } from "../state/transition.js";
import { isFinished, serverState } from "../state/types.js";

/**
 * The per-flow-group overlap policy (`settings.overlap_policy`, set with `set_flow_group_settings`):
 * `allow` (the default: runs of a group may run side by side) or `skip`: a run that comes due while
 * another run of its group is still in progress is not started.
 *
 * Where it is enforced: in the agents' queue (`get_runs_in_queue`, agent/index.ts), because handing
 * a run to an agent is the only way a run starts (the agent then moves it Scheduled → Submitted with
 * the version it read, which is the real gate: a version-locked write). The queue of a tenant is
 * read oldest first, so the decision is taken for the oldest due run of a group first.
 *
 * How, without reading a group's runs: each `skip` group's item carries a claim, `overlap_run_id`
 * (the run of the group last handed to an agent) and `overlap_claim_expires`. A due Scheduled run R
 * of the group is, at a poll:
 * - handed out if the claim names R, or no run, or a run that is finished (or gone): the claim is
 *   moved to R by a conditional write on the claim as read, so two agents polling at once never
 *   both take a claim (the loser holds its run back until its next poll);
 * - held back (not handed out, not changed) while the claimed run is still Scheduled and its claim
 *   fresh: an agent was given it and is about to submit it (agents prefetch up to 10 s ahead and
 *   submit within seconds; the claim lasts `OVERLAP_CLAIM_MS` from the later of now and its start);
 * - handed out in its place once that claim expired with the claimed run still Scheduled (its agent
 *   died or lost it): the claimed run is first re-queued by a version-locked Scheduled → Scheduled
 *   write, so the stale agent's Submitted (carrying the old version) fails and both cannot start;
 * - skipped (Skipped, with a message and a log line naming the run in progress) while the claimed
 *   run is in progress (neither finished nor Scheduled: Submitted, Running, Cancelling...), if R is
 *   an auto-scheduled run whose start time has passed. The write is version-locked on the version
 *   the queue read and on R still being Scheduled, so concurrent polls skip it once. Runs someone
 *   asked for explicitly (created with create_flow_run, or by backfill_flow_group) are held back
 *   instead, and start in order, one at a time, once the group is free; so is an auto-scheduled
 *   run that is not due yet (agents prefetch): it is skipped, or run, when due.
 *
 * A run finishing while a poll checks it: the poll acts on what its consistent read saw (skipping
 * R then is right: R came due while the other run was in progress). Runs started without an agent
 * (e.g. `prefect run --execute`) never pass the queue, so the claim does not know them; switching a
 * group to `skip` records its newest run already in progress as the claimed one (`seedOverlapHolder`).
 * A claimed run that never finishes (its heartbeat off and its process gone) keeps the group's
 * runs skipped until it is cancelled or the zombie check fails it.
 */
export const OVERLAP_CLAIM_MS = 60_000;

/** Runs of a group looked at for one in progress when the policy is switched to `skip`. */
const SEED_SCAN = 200;

type Row = Record<string, unknown>;

type Gate = {
  policy: "allow" | "skip";
  holder: string | null;
  expires: string | null;
  /** The claimed run as read (consistently) in this poll, once needed. */
  holderRun?: Promise<Row | undefined>;
  /** A claim write of this poll lost a race: the group's runs wait for the next poll. */
  contended?: boolean;
};

type Decision = "admit" | "hold" | "skipped";

const inProgress = (state: string) => !isFinished(state) && state !== "Scheduled";
const startOf = (run: Row) => String(run.state_start_time ?? run.scheduled_start_time ?? "");

async function consistentRun(id: string): Promise<Row | undefined> {
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: FlowRunKeys.run(useTenantId(), id), ConsistentRead: true }),
  );
  return result.Item;
}

/** Whether a failed conditional write or transition only means someone else acted first. */
function lostRace(error: unknown): boolean {
  return (
    error instanceof VersionLockingError ||
    error instanceof NotFoundError ||
    error instanceof ConditionalCheckFailedException
  );
}

/**
 * One poll's view of the overlap policies of the groups its candidates belong to. `admit` is
 * called with the poll's candidates in queue order (labels already matched) and answers the ones
 * to hand out, acting on the others as described above. A group's policy and claim are read once
 * per poll (one strongly consistent BatchGetItem per batch of candidates), so a poll costs
 * O(candidates), plus, for `skip` groups only, the claimed run's GetItem and the claim's write.
 */
export class QueueGate {
  private readonly gates = new Map<string, Gate>();
  private readonly nowIso: string;

  constructor(private readonly now = new Date()) {
    this.nowIso = now.toISOString();
  }

  async admit(runs: Row[]): Promise<Row[]> {
    await this.load(runs.filter((run) => run.state === "Scheduled").map((run) => String(run.flow_group_id)));
    const admitted: Row[] = [];
    // In order, one by one: a decision for a group depends on the ones before it.
    for (const run of runs) if ((await this.decide(run)) === "admit") admitted.push(run);
    return admitted;
  }

  /** The policy and claim of groups not seen yet in this poll: consistent reads (100 keys a call). */
  private async load(groupIds: string[]): Promise<void> {
    const t = useTenantId();
    const missing = [...new Set(groupIds)].filter((id) => !this.gates.has(id));
    for (let i = 0; i < missing.length; i += 100) {
      const chunk = missing.slice(i, i + 100);
      for (const id of chunk) this.gates.set(id, { policy: "allow", holder: null, expires: null });
      let keys: Record<string, unknown>[] | undefined = chunk.map((id) => FlowKeys.group(t, id));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(500, 20 * 2 ** attempt)));
        const table = mainTable();
        const result: BatchGetCommandOutput = await useDynamo().send(
          new BatchGetCommand({
            RequestItems: {
              [table]: {
                Keys: keys,
                ConsistentRead: true,
                ProjectionExpression: "#id, #settings.overlap_policy, overlap_run_id, overlap_claim_expires",
                ExpressionAttributeNames: { "#id": "id", "#settings": "settings" },
              },
            },
          }),
        );
        for (const item of result.Responses?.[table] ?? []) {
          const settings = item.settings as { overlap_policy?: unknown } | undefined;
          this.gates.set(String(item.id), {
            policy: settings?.overlap_policy === "skip" ? "skip" : "allow",
            holder: typeof item.overlap_run_id === "string" ? item.overlap_run_id : null,
            expires: typeof item.overlap_claim_expires === "string" ? item.overlap_claim_expires : null,
          });
        }
        keys = result.UnprocessedKeys?.[table]?.Keys;
      }
    }
  }

  private async decide(run: Row): Promise<Decision> {
    // Running runs with a task run's retry due are the run in progress itself: never held back.
    if (run.state !== "Scheduled") return "admit";
    const gate = this.gates.get(String(run.flow_group_id));
    if (gate?.policy !== "skip") return "admit";
    if (gate.contended) return "hold";
    const id = String(run.id);
    if (gate.holder === id) {
      await this.refresh(gate, run);
      return "admit";
    }
    if (gate.holder === null) return (await this.claim(gate, run)) ? "admit" : "hold";
    gate.holderRun ??= consistentRun(gate.holder);
    const holder = await gate.holderRun;
    if (!holder || isFinished(String(holder.state))) return (await this.claim(gate, run)) ? "admit" : "hold";
    if (holder.state === "Scheduled") {
      if (gate.expires !== null && gate.expires > this.nowIso) return "hold";
      if (!(await this.requeue(holder, run))) {
        gate.contended = true;
        return "hold";
      }
      return (await this.claim(gate, run)) ? "admit" : "hold";
    }
    // The claimed run is in progress (neither finished nor Scheduled).
    if (this.skippable(run)) {
      await this.skip(run, holder);
      return "skipped";
    }
    return "hold";
  }

  /** Auto-scheduled runs whose start has passed are skipped; others wait for the group to be free. */
  private skippable(run: Row): boolean {
    return run.auto_scheduled === true && run.backfilled !== true && startOf(run) <= this.nowIso;
  }

  private expiry(run: Row): string {
    const start = Date.parse(startOf(run));
    const from = Number.isNaN(start) ? this.now.getTime() : Math.max(start, this.now.getTime());
    return new Date(from + OVERLAP_CLAIM_MS).toISOString();
  }

  /** Moves the group's claim to `run`, if the claim is still the one this poll read. */
  private async claim(gate: Gate, run: Row): Promise<boolean> {
    const expires = this.expiry(run);
    const values: Record<string, unknown> = { ":run": run.id, ":expires": expires };
    let condition = "attribute_exists(pk) AND attribute_not_exists(overlap_run_id)";
    if (gate.holder !== null) {
      condition = "overlap_run_id = :seen";
      values[":seen"] = gate.holder;
      if (gate.expires !== null) {
        condition += " AND overlap_claim_expires = :seen_expires";
        values[":seen_expires"] = gate.expires;
      }
    }
    try {
      await useDynamo().send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: FlowKeys.group(useTenantId(), String(run.flow_group_id)),
          UpdateExpression: "SET overlap_run_id = :run, overlap_claim_expires = :expires",
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!lostRace(error)) throw error;
      gate.contended = true;
      return false;
    }
    gate.holder = String(run.id);
    gate.expires = expires;
    gate.holderRun = Promise.resolve(run);
    return true;
  }

  /** Keeps a claimed run's claim fresh while agents are still being handed it (a write at most every half claim). */
  private async refresh(gate: Gate, run: Row): Promise<void> {
    const halfway = new Date(this.now.getTime() + OVERLAP_CLAIM_MS / 2).toISOString();
    if (gate.expires !== null && gate.expires > halfway) return;
    const expires = this.expiry(run);
    await useDynamo()
      .send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: FlowKeys.group(useTenantId(), String(run.flow_group_id)),
          UpdateExpression: "SET overlap_claim_expires = :expires",
          ConditionExpression: "overlap_run_id = :run",
          ExpressionAttributeValues: { ":run": run.id, ":expires": expires },
        }),
      )
      .then(
        () => {
          gate.expires = expires;
        },
        (error) => {
          if (!lostRace(error)) throw error;
        },
      );
  }

  /**
   * Re-queues a claimed run whose claim expired while it stayed Scheduled: a version-locked
   * Scheduled → Scheduled write (same start time), so an agent still holding the old version can
   * no longer submit it. False when the run changed meanwhile (its agent submitted it after all).
   */
  private async requeue(holder: Row, instead: Row): Promise<boolean> {
    const message = `Flow run re-queued: it was handed to an agent that did not submit it before its claim expired, and the flow group's overlap_policy is "skip"; flow run ${String(instead.id)} was handed out instead.`;
    try {
      await FlowRun.setState(
        String(holder.id),
        Number(holder.version),
        serverState("Scheduled", message, startOf(holder) || this.nowIso),
        { condition: { expression: "#state = :c_scheduled", values: { ":c_scheduled": "Scheduled" } } },
      );
      return true;
    } catch (error) {
      if (lostRace(error)) return false;
      throw error;
    }
  }

  /** Skips `run` because `holder` is in progress (version-locked: concurrent polls act once). */
  private async skip(run: Row, holder: Row): Promise<void> {
    const message = `Flow run skipped: flow run ${String(holder.name ?? "")} (${String(holder.id)}) of the same flow group is still ${String(holder.state)}, and the flow group's overlap_policy is "skip".`;
    try {
      await FlowRun.setState(String(run.id), Number(run.version), serverState("Skipped", message), {
        condition: { expression: "#state = :c_scheduled", values: { ":c_scheduled": "Scheduled" } },
        now: this.nowIso,
      });
    } catch (error) {
      if (lostRace(error)) return; // another poll (or a transition) got there first
      throw error;
    }
    const t = useTenantId();
    await store([
      {
        id: deterministicId("overlap-skip", t, String(run.id)),
        flow_run_id: String(run.id),
        task_run_id: null,
        timestamp: this.nowIso,
        level: "WARNING",
        name: "drover.scheduler",
        message,
        info: null,
        created: this.nowIso,
      },
    ]);
  }
}

/**
 * When a group is switched to `skip`: if its claim names no run in progress, records the newest
 * run of the group (by scheduled start, among its latest `SEED_SCAN`) that is in progress, so the
 * policy waits for a run that started before it was switched on. Conditional on the claim as read.
 */
export async function seedOverlapHolder(groupId: string): Promise<void> {
  const t = useTenantId();
  const group = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.group(t, groupId),
      ProjectionExpression: "#id, #settings.overlap_policy, overlap_run_id, overlap_claim_expires",
      ExpressionAttributeNames: { "#id": "id", "#settings": "settings" },
      ConsistentRead: true,
    }),
  );
  if (!group.Item) throw new NotFoundError(`Flow group ${groupId} not found`);
  const settings = group.Item.settings as { overlap_policy?: unknown } | undefined;
  if (settings?.overlap_policy === "skip") return; // already on: the claim is maintained by the queue
  const seen = typeof group.Item.overlap_run_id === "string" ? group.Item.overlap_run_id : null;
  if (seen) {
    const current = await consistentRun(seen);
    if (current && inProgress(String(current.state))) return;
  }
  let read = 0;
  let found: Row | undefined;
  for await (const run of FlowRun.ofGroup(groupId, 100)) {
    if (++read > SEED_SCAN) break;
    if (inProgress(String(run.state))) {
      found = run;
      break;
    }
  }
  if (!found) return;
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(t, groupId),
        UpdateExpression: "SET overlap_run_id = :run, overlap_claim_expires = :now",
        ConditionExpression: seen
          ? "overlap_run_id = :seen"
          : "attribute_exists(pk) AND attribute_not_exists(overlap_run_id)",
        ExpressionAttributeValues: {
          ":run": found.id,
          ":now": new Date().toISOString(),
          ...(seen ? { ":seen": seen } : {}),
        },
      }),
    )
    .catch((error) => {
      if (!lostRace(error)) throw error;
    });
}
