import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "#core/config.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { type RunQuotaExceededError, storedRuns } from "#core/limits/quota.js";
import type { ScheduleItem } from "#core/schedule/index.js";
import { tick } from "#core/schedule/tick.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
} from "../helpers/orchestration.js";
import { uniquePrefix } from "../helpers/runtime.js";

/**
 * The per-workspace quota on stored flow runs (DROVER_MAX_STORED_RUNS, docs/tenant-limits.md):
 * create_flow_run beyond it is refused with LIMIT_EXCEEDED and stores nothing, an idempotent
 * repeat is still answered, a deleted run frees room, other workspaces are unaffected, and the
 * scheduler skips an over-quota workspace's runs while creating another's. Over HTTP on the
 * local runtime; the scheduler's tick runs in-process on the runtime's tables.
 */
const QUOTA = 3;
let runtime: LocalRuntime;

type Tenant = { id: string; api: Api; flowId: string };

async function workspace(name: string): Promise<Tenant> {
  const created = await Workspace.create({ name });
  const key = (await asTenant(created.id, () => ApiKey.create({ name: "quota" }))).secret;
  const api = prefectClient(runtime, key, created.id);
  const flowId = await registerFlow(api, await createProject(api, "p"), pipelineFlow(`f-${name}`));
  return { id: created.id, api, flowId };
}

/** The workspace's runs as the API lists them. */
async function listed(tenant: Tenant): Promise<string[]> {
  const data = await ok<{ flow_run: Array<{ id: string }> }>(tenant.api, "query { flow_run { id } }");
  return data.flow_run.map((r) => r.id).sort();
}

const create = (tenant: Tenant, extra: Record<string, unknown> = {}) =>
  tenant.api<{ create_flow_run: { id: string } | null }>(Q.createRun, {
    input: { flow_id: tenant.flowId, parameters: { n: 1 }, ...extra },
  });

const remove = (tenant: Tenant, id: string) =>
  tenant.api("mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }", {
    input: { flow_run_id: id },
  });

beforeAll(async () => {
  runtime = await startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir: undefined,
    dynamoEndpoint: inject("dynamoEndpoint"),
    namePrefix: uniquePrefix("quota"),
    // The test drives the scheduler itself: the runtime's timer ticks once at start, then not for an hour.
    schedulerIntervalMs: 3_600_000,
    env: { ...process.env, DROVER_MAX_STORED_RUNS: String(QUOTA) },
  });
});

afterAll(async () => {
  await runtime?.stop();
});

describe("create_flow_run under the stored-run quota", () => {
  it("refuses the run beyond the quota with LIMIT_EXCEEDED and stores nothing; an idempotent repeat is answered", async () => {
    const a = await workspace("A");
    const first = await createRun(a.api, { flow_id: a.flowId, parameters: { n: 1 }, idempotency_key: "k1" });
    await createRun(a.api, { flow_id: a.flowId, parameters: { n: 2 } });
    await createRun(a.api, { flow_id: a.flowId, parameters: { n: 3 } });
    const before = await listed(a);
    expect(before).toHaveLength(QUOTA);

    // Beyond the quota, on both creation paths (random id, idempotency key): a GraphQL error, HTTP 200.
    for (const extra of [{}, { idempotency_key: "k-new" }]) {
      const refused = await create(a, extra);
      expect(refused.status).toBe(200);
      expect(refused.errors?.[0]?.extensions?.code).toBe("LIMIT_EXCEEDED");
      expect(refused.errors?.[0]?.message).toContain(`stores ${QUOTA} flow runs and its quota is ${QUOTA}`);
      expect(refused.data?.create_flow_run ?? null).toBeNull();
    }
    expect(await listed(a)).toEqual(before);

    // The idempotent twin of a stored run is answered with that run: not refused, not counted again.
    expect(await createRun(a.api, { flow_id: a.flowId, parameters: { n: 1 }, idempotency_key: "k1" })).toBe(
      first,
    );
    expect(await listed(a)).toEqual(before);
    expect(await asTenant(a.id, () => storedRuns(a.id))).toBe(QUOTA);
  });

  it("frees room when a run is deleted, counting a run deleted twice at once only once", async () => {
    const a = await workspace("B");
    const ids = [];
    for (let n = 1; n <= QUOTA; n++)
      ids.push(await createRun(a.api, { flow_id: a.flowId, parameters: { n } }));
    expect(
      (await fails(a.api, Q.createRun, { input: { flow_id: a.flowId, parameters: { n: 9 } } })).code,
    ).toBe("LIMIT_EXCEEDED");

    // Two deletes of the same run race: one deletes it, the other finds nothing to count off.
    const doomed = ids[0] as string;
    await Promise.all([remove(a, doomed), remove(a, doomed)]);
    expect(await listed(a)).toHaveLength(QUOTA - 1);
    expect(await asTenant(a.id, () => storedRuns(a.id))).toBe(QUOTA - 1);

    const again = await createRun(a.api, { flow_id: a.flowId, parameters: { n: 4 } });
    expect(await listed(a)).toEqual([...ids.slice(1), again].sort());
    expect((await create(a)).errors?.[0]?.extensions?.code).toBe("LIMIT_EXCEEDED");
  });

  it("lets exactly the room left in when creations race (one process)", async () => {
    const a = await workspace("C");
    for (let n = 1; n < QUOTA; n++) await createRun(a.api, { flow_id: a.flowId, parameters: { n } });
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) => create(a, { parameters: { n: 10 + i } })),
    );
    expect(racing.filter((r) => r.errors === undefined)).toHaveLength(1);
    expect(racing.filter((r) => r.errors?.[0]?.extensions?.code === "LIMIT_EXCEEDED")).toHaveLength(5);
    expect(await listed(a)).toHaveLength(QUOTA);
    expect(await asTenant(a.id, () => storedRuns(a.id))).toBe(QUOTA);
  });

  it("does not limit another workspace", async () => {
    const full = await workspace("D");
    const other = await workspace("E");
    for (let n = 1; n <= QUOTA; n++) await createRun(full.api, { flow_id: full.flowId, parameters: { n } });
    expect((await create(full)).errors?.[0]?.extensions?.code).toBe("LIMIT_EXCEEDED");
    for (let n = 1; n <= QUOTA; n++) await createRun(other.api, { flow_id: other.flowId, parameters: { n } });
    expect(await listed(other)).toHaveLength(QUOTA);
  });
});

describe("the scheduler under the stored-run quota", () => {
  const hourly = {
    type: "Schedule",
    clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 1 } }],
    filters: [],
    or_filters: [],
    not_filters: [],
    adjustments: [],
    __version__: "1.4.1",
  };

  async function scheduled(name: string): Promise<Tenant> {
    const tenant = await workspace(name);
    const project = await createProject(tenant.api, "scheduled");
    tenant.flowId = await registerFlow(tenant.api, project, {
      ...pipelineFlow(`s-${name}`),
      schedule: hourly,
    });
    return tenant;
  }

  it("skips an over-quota workspace's runs, creates another's, and does not fail the tick", async () => {
    const full = await scheduled("F");
    const fine = await scheduled("G");
    const manual = await registerFlow(full.api, await createProject(full.api, "m"), pipelineFlow("manual"));
    const fullRuns = [];
    for (let n = 1; n <= QUOTA; n++)
      fullRuns.push(await createRun(full.api, { flow_id: manual, parameters: { n } }));

    const warnings: Array<{ tenant: string; skipped: number; error: RunQuotaExceededError }> = [];
    const onOverQuota = (error: RunQuotaExceededError, item: ScheduleItem, skipped: number) =>
      warnings.push({ tenant: item.tenant_id, skipped, error });
    const failures: unknown[] = [];
    const onError = (error: unknown) => failures.push(error);

    const now = new Date(Date.UTC(2030, 0, 1, 0, 0, 30));
    const result = await tick({ now, upcoming: 2, onOverQuota, onError });
    expect(failures).toEqual([]);
    expect(result).toMatchObject({ due: 2, processed: 2, failed: 0, runsCreated: 2, overQuota: 2 });
    expect(warnings.map((w) => [w.tenant, w.skipped, w.error.stored, w.error.quota])).toEqual([
      [full.id, 2, QUOTA, QUOTA],
    ]);
    expect(await listed(full)).toEqual([...fullRuns].sort());
    expect(await listed(fine)).toHaveLength(2);

    // The over-quota schedule was advanced, not left due: the same tick again has nothing to do.
    expect(await tick({ now, upcoming: 2, onOverQuota, onError })).toMatchObject({ due: 0, overQuota: 0 });

    // Once there is room, the next due event's run is created.
    await ok(
      full.api,
      "mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }",
      {
        input: { flow_run_id: fullRuns[0] },
      },
    );
    const later = await tick({
      now: new Date(Date.UTC(2030, 0, 1, 1, 0, 10)),
      upcoming: 2,
      onOverQuota,
      onError,
    });
    expect(later).toMatchObject({ failed: 0, runsCreated: 2, overQuota: 0 });
    expect(await listed(full)).toHaveLength(QUOTA);
    expect(await asTenant(full.id, () => storedRuns(full.id))).toBe(QUOTA);
    expect(failures).toEqual([]);
  });
});

describe("backfill_flow_group under the stored-run quota", () => {
  const BACKFILL =
    "mutation($input: backfill_flow_group_input!) { backfill_flow_group(input: $input) { flow_run_ids created existing } }";

  it("stops at the quota with LIMIT_EXCEEDED saying how far it got; a repeat answers the runs it made", async () => {
    const tenant = await workspace("H");
    await createRun(tenant.api, { flow_id: tenant.flowId, parameters: { n: 1 } });
    const project = await createProject(tenant.api, "backfilled");
    const schedule = {
      type: "Schedule",
      clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 1 } }],
      __version__: "1.4.1",
    };
    const flowId = await registerFlow(tenant.api, project, { ...pipelineFlow("bf"), schedule });
    const group = await ok<{ flow_by_pk: { flow_group_id: string } }>(
      tenant.api,
      `query { flow_by_pk(id: "${flowId}") { flow_group_id } }`,
    );
    const input = (start: string, end: string) => ({
      input: { flow_group_id: group.flow_by_pk.flow_group_id, start, end },
    });

    // Four hourly runs asked for, room for two: two are created, then the quota stops the backfill.
    const refused = await fails(tenant.api, BACKFILL, input("2020-01-01T00:30:00Z", "2020-01-01T04:30:00Z"));
    expect(refused.code).toBe("LIMIT_EXCEEDED");
    expect(refused.message).toContain("stopped after 2 of 4 runs (2 created)");
    expect(await listed(tenant)).toHaveLength(QUOTA);

    // At the quota, the runs that exist are still answered (the scheduler's idempotent creation).
    const again = await ok<{
      backfill_flow_group: { flow_run_ids: string[]; created: number; existing: number };
    }>(tenant.api, BACKFILL, input("2020-01-01T00:30:00Z", "2020-01-01T02:30:00Z"));
    expect(again.backfill_flow_group).toMatchObject({ created: 0, existing: 2 });
    expect(await listed(tenant)).toHaveLength(QUOTA);
    expect(await asTenant(tenant.id, () => storedRuns(tenant.id))).toBe(QUOTA);
  });
});

describe("DROVER_MAX_STORED_RUNS", () => {
  it("defaults to 1,000,000; 0 and off turn the quota off; anything else is refused", () => {
    expect(parseConfig({}).limits.maxStoredRuns).toBe(1_000_000);
    expect(parseConfig({ DROVER_MAX_STORED_RUNS: "off" }).limits.maxStoredRuns).toBe(0);
    expect(parseConfig({ DROVER_MAX_STORED_RUNS: "0" }).limits.maxStoredRuns).toBe(0);
    expect(parseConfig({ DROVER_MAX_STORED_RUNS: "250" }).limits.maxStoredRuns).toBe(250);
    expect(() => parseConfig({ DROVER_MAX_STORED_RUNS: "lots" })).toThrow(/DROVER_MAX_STORED_RUNS/);
    expect(() => parseConfig({ DROVER_MAX_STORED_RUNS: "-1" })).toThrow(/DROVER_MAX_STORED_RUNS/);
  });
});
