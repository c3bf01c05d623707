import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startReceiver } from "../helpers/receiver.js";
import { client, startTestRuntime } from "../helpers/runtime.js";
import { type Browser, openBrowser } from "./chromium.js";

/**
 * The Hooks page in Chromium against the local runtime (which allows loopback targets, as
 * DROVER_HOOK_ALLOW_PRIVATE_TARGETS=true lets an operator do): a webhook created through the form
 * calls a receiver on loopback when tested and when a run fails, its deliveries show up, it is
 * paused and deleted; a dashboard-message hook leaves a message to mark as read.
 */
let runtime: LocalRuntime;
let browser: Browser;
let api: Api;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let flowId: string;

const FLOW_NAME = "hooks-browser-flow";
const HOOKS = "query { cloud_hook { id name active states version_group_id config } }";

/** A condition the page reaches on its own (a mutation, a refetch, a poll); the machine may be busy. */
function eventually<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: 20_000 });
}

function verify(secret: string, header: string | string[] | undefined, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(header));
  if (!match) return false;
  return createHmac("sha256", secret).update(`${match[1]}.${body}`).digest("hex") === match[2];
}

async function setState(runId: string, type: string) {
  await ok(api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: runId, version: null, state: state(type) }] },
  });
}

beforeAll(async () => {
  runtime = await startTestRuntime("browser-hooks", { events: true });
  api = client(runtime, runtime.bootstrap.secret ?? "");
  flowId = await registerFlow(api, await createProject(api, "hooks-browser"), pipelineFlow(FLOW_NAME));
  receiver = await startReceiver();
  browser = await openBrowser();
});

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await runtime?.stop();
});

const hookCard = (name: string) => browser.page.getByRole("article", { name: `Hook ${name}` });

describe("the Hooks page in Chromium", () => {
  it("signs in and lists no hooks yet", async () => {
    const { page } = browser;
    await page.goto(runtime.url);
    await page.getByLabel("API key").fill(runtime.bootstrap.secret ?? "");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Hooks" }).click();
    expect(new URL(page.url()).pathname).toBe("/hooks");
    await page.getByText("No hooks yet").waitFor();
    await expect.poll(() => page.title()).toContain("Hooks");
  });

  it("shows the API's error for a URL that is not http(s), and creates nothing", async () => {
    const { page } = browser;
    await page.getByLabel("Type", { exact: true }).selectOption("WEBHOOK");
    await page.getByLabel("URL", { exact: true }).fill("ftp://x");
    await page.getByRole("button", { name: "Create hook" }).click();
    // Nothing checked yet: the form says so before asking the API.
    await expect
      .poll(() => page.getByTestId("hook-form-error").textContent())
      .toContain("at least one state");
    await page.getByRole("checkbox", { name: "Failed", exact: true }).check();
    await page.getByRole("button", { name: "Create hook" }).click();
    await expect.poll(() => page.getByTestId("hook-form-error").textContent()).toMatch(/http or https/);
    await browser.screenshot("hooks-bad-url");
    expect((await ok<{ cloud_hook: unknown[] }>(api, HOOKS)).cloud_hook).toEqual([]);
  });

  it("creates a webhook scoped to a flow, shows its signing secret once, and tests it", async () => {
    const { page } = browser;
    await page.getByLabel("Name (optional)").fill("failures to receiver");
    await page.getByLabel("URL", { exact: true }).fill(receiver.url);
    await page.getByLabel("Flow", { exact: true }).selectOption({ label: FLOW_NAME });
    await page.getByRole("checkbox", { name: "Failed", exact: true }).check();
    await page.getByRole("button", { name: "Create hook" }).click();

    const secretBox = page.getByTestId("new-hook-secret");
    await secretBox.waitFor();
    const secret = (await secretBox.textContent()) ?? "";
    expect(secret.length).toBeGreaterThanOrEqual(40);
    await page.getByText("it is not shown again").waitFor();
    expect(await page.getByTestId("hook-form-error").count()).toBe(0);
    expect(await page.getByLabel("URL", { exact: true }).inputValue()).toBe("");
    expect(await page.getByLabel("Flow", { exact: true }).inputValue()).toBe("");

    const card = hookCard("failures to receiver");
    await card.waitFor();
    const text = (await card.textContent()) ?? "";
    expect(text).toContain("Webhook");
    expect(text).toContain(receiver.url);
    expect(text).toContain(FLOW_NAME);
    expect(await card.getByTestId("hook-status").textContent()).toBe("active");
    expect(await card.locator('[data-state="Failed"]').count()).toBe(1);
    const [stored] = (
      await ok<{ cloud_hook: Array<{ states: string[]; version_group_id: string | null }> }>(api, HOOKS)
    ).cloud_hook;
    expect(stored?.states).toEqual(["FAILED"]);
    expect(stored?.version_group_id).toBeTruthy();
    await browser.screenshot("hooks-created");

    await card.getByLabel("Test as").selectOption("RUNNING");
    await card.getByRole("button", { name: "Test", exact: true }).click();
    await eventually(() => card.locator(".hook-test-result").textContent()).toBe("Test event delivered.");
    await receiver.next(1);
    const request = receiver.received[0];
    const event = JSON.parse(request?.body ?? "{}").event;
    expect(event).toMatchObject({ is_test_event: true, state: { state: "Running" } });
    expect(verify(secret, request?.headers["x-drover-signature"], request?.body ?? "")).toBe(true);

    // Dismissed, the secret is gone from the page, and a reload does not bring it back.
    await page.getByRole("button", { name: "I have saved it" }).click();
    await eventually(() => secretBox.count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await card.waitFor();
    expect(await page.content()).not.toContain(secret);
  });

  it("shows the test and a failed run's delivery in the deliveries panel, with the attempt log", async () => {
    const { page } = browser;
    const card = hookCard("failures to receiver");
    await card.getByRole("button", { name: "Show deliveries" }).click();
    const panel = card.getByRole("region", { name: "Deliveries of failures to receiver" });
    const testRow = panel.locator('tr[data-status="DELIVERED"]', { hasText: "test" });
    await eventually(() => testRow.count()).toBe(1);
    expect(await testRow.locator('[data-state="Running"]').count()).toBe(1);

    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await setState(runId, "Running");
    await setState(runId, "Failed");
    await receiver.next(2);
    const failedRow = panel.locator('tr[data-status="DELIVERED"]', {
      has: page.locator('[data-state="Failed"]'),
    });
    await eventually(() => failedRow.count()).toBe(1);
    expect(await failedRow.textContent()).not.toContain("test");
    expect(await failedRow.locator("td").nth(4).textContent()).toBe("200");
    await failedRow.locator("summary").click();
    await failedRow.locator(".attempt-log li", { hasText: "HTTP 200" }).waitFor();
    expect(await panel.locator("tbody tr").count()).toBe(2);
    await browser.screenshot("hooks-deliveries");
  });

  it("pauses, resumes and deletes the hook", async () => {
    const { page } = browser;
    const card = hookCard("failures to receiver");
    await card.getByRole("button", { name: "Pause" }).click();
    await eventually(() => card.getByTestId("hook-status").textContent()).toBe("paused");
    await card.getByRole("button", { name: "Resume" }).waitFor();
    const [paused] = (await ok<{ cloud_hook: Array<{ active: boolean }> }>(api, HOOKS)).cloud_hook;
    expect(paused?.active).toBe(false);
    await page.reload();
    await eventually(() => card.getByTestId("hook-status").textContent()).toBe("paused");
    await card.getByRole("button", { name: "Resume" }).click();
    await eventually(() => card.getByTestId("hook-status").textContent()).toBe("active");
    const [resumed] = (await ok<{ cloud_hook: Array<{ active: boolean }> }>(api, HOOKS)).cloud_hook;
    expect(resumed?.active).toBe(true);
    await card.getByRole("button", { name: "Pause" }).click();
    await eventually(() => card.getByTestId("hook-status").textContent()).toBe("paused");
    await browser.screenshot("hooks-paused");

    await card.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Delete hook" }).click();
    await eventually(() => card.count()).toBe(0);
    await page.getByText("No hooks yet").waitFor();
    expect((await ok<{ cloud_hook: unknown[] }>(api, HOOKS)).cloud_hook).toEqual([]);
  });

  it("a dashboard-message hook takes no URL; its test leaves a message to mark as read", async () => {
    const { page } = browser;
    await page.getByLabel("Type", { exact: true }).selectOption("PREFECT_MESSAGE");
    expect(await page.getByLabel("URL", { exact: true }).count()).toBe(0);
    await page.getByLabel("Name (optional)").fill("inbox");
    await page.getByRole("checkbox", { name: "Cancelled", exact: true }).check();
    await page.getByRole("button", { name: "Create hook" }).click();
    const card = hookCard("inbox");
    await card.waitFor();
    expect(await page.getByTestId("new-hook-secret").count()).toBe(0);
    expect(await card.textContent()).toContain("messages in this dashboard");

    await card.getByRole("button", { name: "Test", exact: true }).click();
    await eventually(() => card.locator(".hook-test-result").textContent()).toBe("Test event delivered.");
    const messages = page.getByRole("region", { name: /^Messages/ });
    const item = messages.locator("li.message");
    await eventually(() => item.count()).toBe(1);
    await messages.getByTestId("unread-count").waitFor();
    await item.getByRole("button", { name: "Mark as read" }).click();
    await eventually(() => item.getAttribute("class")).toBe("message read");
    await eventually(() => messages.getByTestId("unread-count").count()).toBe(0);
    expect(await item.getByRole("button", { name: "Mark as read" }).count()).toBe(0);
    const stored = await ok<{ message: Array<{ read: boolean }> }>(api, "query { message { read } }");
    expect(stored.message).toEqual([{ read: true }]);
  });

  it("fits a 360 px wide screen", async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 800 });
    try {
      await hookCard("inbox").getByRole("button", { name: "Show deliveries" }).click();
      await hookCard("inbox").locator("tbody tr").first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await browser.screenshot("hooks-narrow");
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  it("contacted nothing but loopback and logged no errors", () => {
    expect(browser.blocked).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
