import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AutomationKeys } from "#core/automation/entity.js";
import { checkAutomations } from "#core/automation/evaluate.js";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  ok,
  pipelineFlow,
  registerFlow,
} from "../helpers/orchestration.js";
import { startReceiver } from "../helpers/receiver.js";
import { client, startTestRuntime } from "../helpers/runtime.js";
import { type Browser, openBrowser } from "./chromium.js";

/**
 * The Automations page in Chromium against the local runtime with events (started in this process, so the
 * test shares its configuration and calls the scheduler's check itself, its clock moved forward,
 * instead of waiting minutes): an automation created through the form is listed in words, its
 * form refuses what the API refuses, it is paused and resumed, it fires for a late run (calling a
 * webhook created through the API, on loopback) and the firing shows with a link to the run, and
 * it is deleted.
 */
let runtime: LocalRuntime;
let browser: Browser;
let api: Api;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let tenant: string;
let flowId: string;

const FLOW_NAME = "automations-browser-flow";
const HOOK_NAME = "automation receiver";
const AUTOMATIONS = "query { automation { id name kind threshold version_group_id action active } }";
const FIRES = `query($id: uuid!) { automation_fire(where: { automation_id: { _eq: $id } }) { flow_run_id status } }`;

type Stored = {
  id: string;
  name: string | null;
  kind: string;
  threshold: number;
  version_group_id: string | null;
  action: { type: string; cloud_hook_id: string | null };
  active: boolean;
};

/** A condition the page reaches on its own (a mutation, a refetch, a poll); the machine may be busy. */
function eventually<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: 20_000 });
}

const stored = async () => (await ok<{ automation: Stored[] }>(api, AUTOMATIONS)).automation;

beforeAll(async () => {
  // Events on (the stream and the hooks consumer set the automation's timers); loopback targets allowed.
  runtime = await startTestRuntime("browser-automations", { events: true });
  tenant = runtime.bootstrap.workspace.id;
  api = client(runtime, runtime.bootstrap.secret ?? "");
  flowId = await registerFlow(api, await createProject(api, "automations-browser"), pipelineFlow(FLOW_NAME));
  receiver = await startReceiver();
  // A state no run of this test enters: only the automation calls it.
  await ok(api, "mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id } }", {
    input: { type: "WEBHOOK", name: HOOK_NAME, states: ["Looped"], config: { url: receiver.url } },
  });
  browser = await openBrowser();
});

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await runtime?.stop();
});

const automationCard = (name: string) => browser.page.getByRole("article", { name: `Automation ${name}` });
const optionValues = (label: string) =>
  browser.page
    .getByLabel(label, { exact: true })
    .locator("option")
    .evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value));

describe("the Automations page in Chromium", () => {
  it("signs in and reaches an empty Automations page from the navigation", async () => {
    const { page } = browser;
    await page.goto(runtime.url);
    await page.getByLabel("API key").fill(runtime.bootstrap.secret ?? "");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Automations" }).click();
    expect(new URL(page.url()).pathname).toBe("/automations");
    await page.getByText("No automations yet").waitFor();
    await expect.poll(() => page.title()).toContain("Automations");
  });

  it("adapts the form to the kind: threshold unit, flow scope and the actions it allows", async () => {
    const { page } = browser;
    const kind = page.getByLabel("When", { exact: true });
    await kind.selectOption("AGENT_SILENT");
    await page.getByLabel("Minutes", { exact: true }).waitFor();
    expect(await page.getByLabel("Flow", { exact: true }).count()).toBe(0);
    expect(await optionValues("Then")).toEqual(["HOOK"]);

    await kind.selectOption("FLOW_FAILURES");
    await page.getByLabel("Runs in a row", { exact: true }).waitFor();
    expect(await page.getByLabel("Minutes", { exact: true }).count()).toBe(0);
    expect(await page.getByLabel("Flow", { exact: true }).count()).toBe(1);
    expect(await optionValues("Then")).toEqual(["HOOK", "PAUSE_SCHEDULE"]);

    await kind.selectOption("FLOW_RUN_LATE");
    await page.getByLabel("Minutes", { exact: true }).waitFor();
    expect(await optionValues("Then")).toEqual(["HOOK", "CANCEL_RUN", "PAUSE_SCHEDULE"]);
    // The hook select offers the workspace's hooks, created through the API.
    await page.getByLabel("Then", { exact: true }).selectOption("HOOK");
    const hooks = await page
      .getByLabel("Hook", { exact: true })
      .locator("option")
      .evaluateAll((options) => options.map((option) => option.textContent));
    expect(hooks).toContain(HOOK_NAME);
    await page.getByLabel("Then", { exact: true }).selectOption("CANCEL_RUN");
    expect(await page.getByLabel("Hook", { exact: true }).count()).toBe(0);
  });

  it("shows the API's error for a threshold of 0, and creates nothing", async () => {
    const { page } = browser;
    await page.getByLabel("Then", { exact: true }).selectOption("HOOK");
    await page.getByLabel("Hook", { exact: true }).selectOption({ label: HOOK_NAME });
    await page.getByLabel("Minutes", { exact: true }).fill("0");
    await page.getByRole("button", { name: "Create automation" }).click();
    await eventually(() => page.getByTestId("automation-form-error").textContent()).toMatch(
      /threshold is minutes, from 1 to 10080/,
    );
    await browser.screenshot("automations-bad-threshold");
    expect(await stored()).toEqual([]);
  });

  it("creates a FLOW_RUN_LATE automation calling the hook, listed in words", async () => {
    const { page } = browser;
    await page.getByLabel("Name (optional)").fill("late runs");
    await page.getByLabel("Minutes", { exact: true }).fill("5");
    await eventually(() => page.getByTestId("automation-preview").textContent()).toBe(
      "Flow run not started 5 min after its scheduled start",
    );
    await page.getByLabel("Flow", { exact: true }).selectOption({ label: FLOW_NAME });
    await page.getByRole("button", { name: "Create automation" }).click();

    const card = automationCard("late runs");
    await card.waitFor();
    await eventually(() => page.getByTestId("automation-form-error").count()).toBe(0);
    expect(await card.getByTestId("automation-condition").textContent()).toBe(
      "Flow run not started 5 min after its scheduled start",
    );
    expect(await card.getByTestId("automation-action").textContent()).toBe(`Call hook ${HOOK_NAME}`);
    expect(await card.textContent()).toContain(FLOW_NAME);
    expect(await card.getByTestId("automation-status").textContent()).toBe("active");
    expect(await page.getByLabel("Name (optional)").inputValue()).toBe("");

    const [automation, ...others] = await stored();
    expect(others).toEqual([]);
    expect(automation).toMatchObject({
      name: "late runs",
      kind: "FLOW_RUN_LATE",
      threshold: 5,
      action: { type: "HOOK" },
      active: true,
    });
    expect(automation?.version_group_id).toBeTruthy();
    expect(automation?.action.cloud_hook_id).toBeTruthy();
    await browser.screenshot("automations-created");
  });

  it("pauses and resumes it, as a reload shows", async () => {
    const { page } = browser;
    const card = automationCard("late runs");
    await card.getByRole("button", { name: "Pause" }).click();
    await eventually(() => card.getByTestId("automation-status").textContent()).toBe("paused");
    await card.getByRole("button", { name: "Resume" }).waitFor();
    expect((await stored())[0]?.active).toBe(false);
    await page.reload();
    await eventually(() => card.getByTestId("automation-status").textContent()).toBe("paused");
    await card.getByRole("button", { name: "Resume" }).click();
    await eventually(() => card.getByTestId("automation-status").textContent()).toBe("active");
    expect((await stored())[0]?.active).toBe(true);
    await page.reload();
    await eventually(() => card.getByTestId("automation-status").textContent()).toBe("active");
    await card.getByRole("button", { name: "Pause" }).waitFor();
  });

  it("fires for a run not started 5 minutes late: the firing shows, DONE, with a link to the run", async () => {
    const { page } = browser;
    const card = automationCard("late runs");
    await card.getByRole("button", { name: "Show firings" }).click();
    const panel = card.getByRole("region", { name: "Firings of late runs" });
    await panel.getByText("No firings yet").waitFor();

    const [automation] = await stored();
    const automationId = automation?.id ?? "";
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    // The run's Scheduled state reaches the automation through the stream: its timer appears.
    await eventually(async () => {
      const found = await useDynamo().send(
        new GetCommand({
          TableName: mainTable(),
          Key: AutomationKeys.timer(tenant, automationId, runId),
          ConsistentRead: true,
        }),
      );
      return found.Item !== undefined;
    }).toBe(true);
    const tick = await checkAutomations({ now: new Date(Date.now() + 6 * 60_000) });
    expect(tick.fired).toBe(1);
    await receiver.next(1);
    expect(JSON.parse(receiver.received[0]?.body ?? "{}").event).toMatchObject({
      type: "AutomationFired",
      automation: { id: automationId, name: "late runs" },
      flow_run: { id: runId },
    });
    const fires = await ok<{ automation_fire: Array<{ flow_run_id: string; status: string }> }>(api, FIRES, {
      id: automationId,
    });
    expect(fires.automation_fire).toEqual([{ flow_run_id: runId, status: "DONE" }]);

    // The open panel polls: the firing appears without a reload.
    const row = panel.locator('tr[data-status="DONE"]');
    await eventually(() => row.count()).toBe(1);
    const text = (await row.textContent()) ?? "";
    expect(text).toMatch(/has not started 5 minute\(s\) after its scheduled start/);
    expect(text).toContain("Call a hook");
    expect(await row.locator(".badge").textContent()).toBe("done");
    expect(await row.locator(".delivery-error").textContent()).toBe("—");
    const link = row.getByRole("link", { name: "View run" });
    expect(await link.getAttribute("href")).toBe(`/runs/${runId}`);
    await browser.screenshot("automations-fired");

    await link.click();
    await eventually(() => new URL(page.url()).pathname).toBe(`/runs/${runId}`);
    await page.goBack();
    await card.waitFor();
  });

  it("fits a 360 px wide screen with its firings shown", async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 800 });
    try {
      const card = automationCard("late runs");
      await card.getByRole("button", { name: "Show firings" }).click();
      await card.locator('tr[data-status="DONE"]').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await browser.screenshot("automations-narrow");
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  it("deletes it after a confirmation", async () => {
    const { page } = browser;
    const card = automationCard("late runs");
    await card.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("Delete “late runs”?").waitFor();
    // Cancelled, it stays.
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await eventually(() => dialog.count()).toBe(0);
    expect(await card.count()).toBe(1);
    await card.getByRole("button", { name: "Delete" }).click();
    await dialog.getByRole("button", { name: "Delete automation" }).click();
    await eventually(() => card.count()).toBe(0);
    await page.getByText("No automations yet").waitFor();
    expect(await stored()).toEqual([]);
  });

  it("contacted nothing but loopback and logged no errors", () => {
    expect(browser.blocked).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
