import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";
import { type Browser, openBrowser } from "./chromium.js";

/**
 * The orchestration pages in Chromium: a flow and its runs registered and created through the
 * GraphQL API (as the Prefect client does), then seen, steered and watched live in the dashboard.
 */
let runtime: LocalRuntime;
let browser: Browser;
let api: ReturnType<typeof client>;
let flowId: string;
let flowGroupId: string;
const runs: Record<string, string> = {};

type Data = Record<string, unknown>;

async function call<T = Data>(query: string, variables: unknown = {}): Promise<T> {
  const response = await api<T>(query, variables);
  if (response.errors?.length) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}

const CREATE_RUN = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }";
const SET_STATES =
  "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }";
const RUN_STATE = "query($id: uuid!) { flow_run_by_pk(id: $id) { state parameters } }";

async function setRunState(id: string, type: string, message = `${type} via the API`) {
  await call(SET_STATES, {
    input: { states: [{ flow_run_id: id, state: { type, message, __version__: "1.4.1" } }] },
  });
}

async function createRun(name: string, labels: string[] = []) {
  const data = await call<{ create_flow_run: { id: string } }>(CREATE_RUN, {
    input: { flow_id: flowId, flow_run_name: name, labels, parameters: { n: 3 } },
  });
  runs[name] = data.create_flow_run.id;
  return data.create_flow_run.id;
}

/** A condition the page reaches on its own (polling, a mutation and a refetch); the machine may be busy. */
function eventually<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: 15_000 });
}

async function servesLogs(): Promise<boolean> {
  const data = await call<{ __type: { fields: Array<{ name: string }> } | null }>(
    '{ __type(name: "flow_run") { fields { name } } }',
  );
  return Boolean(data.__type?.fields.some((field) => field.name === "logs"));
}

beforeAll(async () => {
  runtime = await startTestRuntime("browser-orchestration");
  api = client(runtime, runtime.bootstrap.secret ?? "");
  const project = await call<{ create_project: { id: string } }>(
    'mutation { create_project(input: { name: "etl" }) { id } }',
  );
  const flow = await call<{ create_flow: { id: string } }>(
    "mutation($input: create_flow_input!) { create_flow(input: $input) { id } }",
    {
      input: {
        project_id: project.create_project.id,
        serialized_flow: {
          name: "nightly-etl",
          type: "prefect.core.flow.Flow",
          parameters: [
            { name: "n", default: 2, required: false, __version__: "1.4.1" },
            { name: "source", default: "s3://bucket", required: false, __version__: "1.4.1" },
          ],
          tasks: [
            { slug: "extract-1", name: "extract", type: "prefect.tasks.core.function.FunctionTask" },
            { slug: "transform-1", name: "transform", type: "prefect.tasks.core.function.FunctionTask" },
            { slug: "load-1", name: "load", type: "prefect.tasks.core.function.FunctionTask" },
          ],
          edges: [],
          schedule: {
            type: "Schedule",
            clocks: [{ type: "IntervalClock", interval: 86_400_000_000, __version__: "1.4.1" }],
            __version__: "1.4.1",
          },
          __version__: "1.4.1",
        },
      },
    },
  );
  flowId = flow.create_flow.id;
  const info = await call<{ flow_by_pk: { flow_group_id: string; is_schedule_active: boolean } }>(
    "query($id: uuid!) { flow_by_pk(id: $id) { flow_group_id is_schedule_active } }",
    { id: flowId },
  );
  flowGroupId = info.flow_by_pk.flow_group_id;

  await createRun("run-succeeded", ["prod"]);
  await createRun("run-failed", ["prod"]);
  await createRun("run-live", ["dev"]);
  await createRun("run-to-cancel", ["dev"]);
  for (const state of ["Submitted", "Running", "Success"])
    await setRunState(runs["run-succeeded"] ?? "", state);
  for (const state of ["Submitted", "Running", "Failed"]) await setRunState(runs["run-failed"] ?? "", state);

  // Mapped children of "transform" in the live run: map_index 0..2 besides the parent (-1).
  const tasks = await call<{ task: Array<{ id: string; slug: string }> }>(
    "query($id: uuid!) { task(where: { flow_id: { _eq: $id } }) { id slug } }",
    { id: flowId },
  );
  const transform = tasks.task.find((task) => task.slug === "transform-1")?.id;
  for (const mapIndex of [0, 1, 2]) {
    await call(
      "mutation($input: get_or_create_task_run_info_input!) { get_or_create_task_run_info(input: $input) { id } }",
      { input: { flow_run_id: runs["run-live"], task_id: transform, map_index: mapIndex } },
    );
  }

  const agent = await call<{ register_agent: { id: string } }>(
    'mutation { register_agent(input: { type: "LocalAgent", name: "laptop-agent", labels: ["dev"] }) { id } }',
  );
  await call(
    "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
    {
      input: { agent_id: agent.register_agent.id, labels: ["unused-label"] },
    },
  );

  browser = await openBrowser();
  const { page } = browser;
  await page.goto(runtime.url);
  await page.getByLabel("API key").fill(runtime.bootstrap.secret ?? "");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe("orchestration pages in Chromium", () => {
  it("shows runs, failures and agents on the overview", async () => {
    const { page } = browser;
    await page.getByTestId("runs-chart").waitFor();
    await eventually(() => page.getByTestId("failed-runs").textContent()).toContain("run-failed");
    await eventually(() => page.locator('[data-slot="agents"]').textContent()).toContain("laptop-agent");
    expect(await page.getByTestId("failed-runs").textContent()).not.toContain("run-succeeded");
    await browser.screenshot("overview-runs");
  });

  it("shows the flow with its parameters and toggles its schedule", async () => {
    const { page } = browser;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Flows" }).click();
    const card = page.getByRole("article", { name: "Flow nightly-etl" });
    await card.waitFor();
    expect(await card.textContent()).toContain("source");
    const toggle = card.getByRole("switch", { name: "Schedule" });
    expect(await toggle.getAttribute("aria-checked")).toBe("true");
    await toggle.click();
    await eventually(() => toggle.getAttribute("aria-checked")).toBe("false");
    const read = () =>
      call<{ flow_by_pk: { is_schedule_active: boolean } }>(
        "query($id: uuid!) { flow_by_pk(id: $id) { is_schedule_active } }",
        { id: flowId },
      );
    expect((await read()).flow_by_pk.is_schedule_active).toBe(false);
    await toggle.click();
    await eventually(async () => (await read()).flow_by_pk.is_schedule_active).toBe(true);

    await card.getByRole("button", { name: "Edit labels" }).click();
    await card.getByLabel("Labels (comma-separated)").fill("etl, nightly");
    await card.getByRole("button", { name: "Save labels" }).click();
    await eventually(() => card.locator(".chip").allTextContents()).toEqual(["etl", "nightly"]);
    const group = await call<{ flow_group_by_pk: { labels: string[] } }>(
      "query($id: uuid!) { flow_group_by_pk(id: $id) { labels } }",
      { id: flowGroupId },
    );
    expect(group.flow_group_by_pk.labels).toEqual(["etl", "nightly"]);
    await browser.screenshot("flows");
  });

  it("runs a flow now with parameters, validating the JSON", async () => {
    const { page } = browser;
    const card = page.getByRole("article", { name: "Flow nightly-etl" });
    await card.getByRole("button", { name: "Run now" }).click();
    const dialog = page.getByRole("dialog");
    const parameters = dialog.getByLabel("Parameters (JSON)");
    await eventually(() => parameters.inputValue()).toContain('"source": "s3://bucket"');
    await parameters.fill('{"n": ');
    expect(await dialog.getByRole("button", { name: "Start run" }).isDisabled()).toBe(true);
    await parameters.fill('{"n": 7, "source": "s3://other"}');
    await dialog.getByLabel("Run name (optional)").fill("manual-run");
    await dialog.getByRole("button", { name: "Start run" }).click();
    await page.getByRole("heading", { name: "manual-run" }).waitFor();
    const id = new URL(page.url()).pathname.split("/").pop() ?? "";
    const run = await call<{ flow_run_by_pk: { state: string; parameters: Data } }>(RUN_STATE, { id });
    expect(run.flow_run_by_pk).toEqual({ state: "Scheduled", parameters: { n: 7, source: "s3://other" } });
    await eventually(() => page.getByTestId("run-parameters").textContent()).toContain("s3://other");
  });

  it("lists runs, filters them by state, label and flow, and pages", async () => {
    const { page } = browser;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Flow runs" }).click();
    const table = page.getByTestId("runs-table");
    await table.waitFor();
    const names = () => table.locator("tbody tr td:first-child").allTextContents();
    await eventually(names).toEqual([
      "manual-run",
      "run-to-cancel",
      "run-live",
      "run-failed",
      "run-succeeded",
    ]);
    expect(await table.textContent()).toContain("nightly-etl");
    await browser.screenshot("runs");

    await page.getByLabel("State").selectOption("failed");
    await eventually(names).toEqual(["run-failed"]);
    expect(new URL(page.url()).searchParams.get("state")).toBe("failed");
    await page.getByLabel("State").selectOption("");

    await page.getByLabel("Label").fill("dev");
    await page.getByLabel("Label").press("Enter");
    await eventually(names).toEqual(["run-to-cancel", "run-live"]);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.getByLabel("Flow").selectOption(flowGroupId);
    await eventually(names).toHaveLength(5);
    await page.getByLabel("Created").selectOption("1h");
    await eventually(names).toHaveLength(5);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await eventually(names).toHaveLength(5);

    // Pages go by creation time (keyset): a shared link to an older page shows the same runs.
    const live = await call<{ flow_run_by_pk: { created: string } }>(
      "query($id: uuid!) { flow_run_by_pk(id: $id) { created } }",
      { id: runs["run-live"] },
    );
    await page.goto(`${runtime.url}/runs?before=${encodeURIComponent(live.flow_run_by_pk.created)}`);
    await eventually(names).toEqual(["run-failed", "run-succeeded"]);
    expect(await page.getByRole("button", { name: "Older" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Newest" }).click();
    await eventually(names).toHaveLength(5);
  });

  it("opens a run: task runs with mapped children grouped, a state change arriving live", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "run-live" }).click();
    await page.getByRole("heading", { name: "run-live" }).waitFor();
    const taskRuns = page.getByTestId("task-runs");
    await taskRuns.waitFor();
    expect(await taskRuns.locator("tbody tr").count()).toBe(3);
    const transform = taskRuns.locator('tr[data-task="transform"]');
    expect(await transform.textContent()).toContain("3 mapped runs");
    expect(await transform.locator("li[data-map-index]").count()).toBe(3);
    expect(await page.getByTestId("run-state").textContent()).toBe("Scheduled");
    expect(await page.locator('[data-slot="logs"]').textContent()).toContain("Logs");

    // State changes set through the API while the page is open arrive without a reload.
    await setRunState(runs["run-live"] ?? "", "Submitted");
    await setRunState(runs["run-live"] ?? "", "Running", "Started by the test's runner");
    await eventually(() => page.getByTestId("run-state").textContent()).toBe("Running");
    await eventually(() => page.getByTestId("states").locator("li").count()).toBe(3);
    expect(await page.getByTestId("states").textContent()).toContain("Started by the test's runner");
    await transform.locator("summary").click();

    // Logs, when this API serves them (flow_run.logs), arrive live through the ingestion queue.
    const logsPanel = page.locator('[data-slot="logs"]');
    if (await servesLogs()) {
      const line = (level: string, message: string) => ({
        flow_run_id: runs["run-live"],
        level,
        message,
        name: "prefect.FlowRunner",
        timestamp: new Date().toISOString(),
      });
      await call("mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }", {
        input: {
          logs: [
            line("INFO", "Beginning flow run"),
            line("DEBUG", "noisy detail"),
            line("ERROR", "transform[1] raised"),
          ],
        },
      });
      const logs = page.getByTestId("logs");
      await eventually(() => logs.textContent()).toContain("transform[1] raised");
      expect(await logs.textContent()).toContain("Beginning flow run");
      expect(await logs.textContent()).not.toContain("noisy detail");
      await logsPanel.getByLabel("Level").selectOption("ERROR");
      await eventually(() => logs.textContent()).not.toContain("Beginning flow run");
      expect(await logs.textContent()).toContain("transform[1] raised");
      await logsPanel.getByLabel("Level").selectOption("DEBUG");
      await eventually(() => logs.textContent()).toContain("noisy detail");
    } else {
      expect(await logsPanel.textContent()).toContain("does not serve run logs yet");
    }
    await browser.screenshot("flow-run");

    // Set state from the page.
    await page.getByRole("button", { name: "Set state" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("New state").selectOption("Success");
    await dialog.getByRole("button", { name: "Set state" }).click();
    await eventually(() => page.getByTestId("run-state").textContent()).toBe("Success");
    const run = await call<{ flow_run_by_pk: { state: string } }>(RUN_STATE, { id: runs["run-live"] });
    expect(run.flow_run_by_pk.state).toBe("Success");
  });

  it("cancels a run after confirmation", async () => {
    const { page } = browser;
    await page.goto(`${runtime.url}/runs/${runs["run-to-cancel"]}`);
    await page.getByRole("heading", { name: "run-to-cancel" }).waitFor();
    await page.getByRole("button", { name: "Cancel run" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Cancel run" }).click();
    await eventually(() => page.getByTestId("run-state").textContent()).toBe("Cancelled");
    const run = await call<{ flow_run_by_pk: { state: string } }>(RUN_STATE, { id: runs["run-to-cancel"] });
    expect(run.flow_run_by_pk.state).toBe("Cancelled");
    expect(await page.getByRole("button", { name: "Cancel run" }).isDisabled()).toBe(true);
  });

  it("restarts a failed run and deletes a run after confirmation", async () => {
    const { page } = browser;
    await page.goto(`${runtime.url}/runs/${runs["run-failed"]}`);
    await page.getByRole("heading", { name: "run-failed" }).waitFor();
    await page.getByRole("button", { name: "Restart" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Restart run" }).click();
    await eventually(() => page.getByTestId("run-state").textContent()).toBe("Scheduled");

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete run" }).click();
    await page.getByRole("heading", { name: "Flow runs" }).waitFor();
    const run = await call<{ flow_run_by_pk: unknown }>(RUN_STATE, { id: runs["run-failed"] });
    expect(run.flow_run_by_pk).toBeNull();
    await eventually(() =>
      page.getByTestId("runs-table").locator("tbody tr td:first-child").allTextContents(),
    ).not.toContain("run-failed");
  });

  it("lists agents with their last poll", async () => {
    const { page } = browser;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Agents" }).click();
    const row = page.locator("tr", { hasText: "laptop-agent" });
    await row.waitFor();
    expect(await row.textContent()).toContain("LocalAgent");
    expect(await row.locator("time").textContent()).toMatch(/ago|now/);
    await browser.screenshot("agents");
  });

  it("shows a second workspace none of the first one's projects, flows, runs or agents", async () => {
    const { page } = browser;
    const second = await Workspace.create({ name: "Other Team" });
    const key = (await asTenant(second.id, () => ApiKey.create({ name: "other" }))).secret;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByTestId("workspace-name").textContent()).toBe("Other Team");

    await page.goto(`${runtime.url}/flows`);
    await page.getByText("No projects in Other Team yet").waitFor();
    await page.goto(`${runtime.url}/runs`);
    await page.getByText("No flow runs yet").waitFor();
    await page.goto(`${runtime.url}/agents`);
    await page.getByText("No agent has polled this workspace yet").waitFor();
    // A shared link to the first workspace's run shows nothing of it.
    await page.goto(`${runtime.url}/runs/${runs["run-failed"]}`);
    await page.getByText("This flow run does not exist").waitFor();
    const html = await page.content();
    for (const secret of ["nightly-etl", "run-failed", "run-live", "laptop-agent"]) {
      expect(html).not.toContain(secret);
    }
    await browser.screenshot("other-workspace-runs");
  });

  it("contacted nothing but loopback and logged no errors", () => {
    expect(browser.blocked).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
