import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";
import { type Browser, openBrowser } from "./chromium.js";

/**
 * A run's artifacts on its page in Chromium: created through the API with the Prefect client's
 * mutation (links and markdown, some of them hostile), then seen rendered, safely.
 */
let runtime: LocalRuntime;
let browser: Browser;
let api: ReturnType<typeof client>;
let runId: string;
const taskRuns: Record<string, string> = {};

const CREATE = `mutation($input: create_task_run_artifact_input!) {
    create_task_run_artifact(input: $input) {
        id
    }
}`;

async function call<T = Record<string, unknown>>(query: string, variables: unknown = {}): Promise<T> {
  const response = await api<T>(query, variables);
  if (response.errors?.length) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}

async function artifact(task: string, kind: string, data: unknown): Promise<string> {
  const created = await call<{ create_task_run_artifact: { id: string } }>(CREATE, {
    input: { task_run_id: taskRuns[task], kind, data, tenant_id: null },
  });
  return created.create_task_run_artifact.id;
}

const REPORT = [
  "# Row counts",
  "",
  "Loaded **12** rows in `orders`; see [the docs](https://docs.example.com/orders).",
  "",
  "| table | rows |",
  "| --- | ---: |",
  "| orders | 12 |",
  "",
  "- checked",
  "- [a trap](javascript:window.__xss=1)",
  "",
  '<img src="x" onerror="window.__xss=1"><script>window.__xss=1</script>',
].join("\n");

beforeAll(async () => {
  runtime = await startTestRuntime("browser-artifacts");
  api = client(runtime, runtime.bootstrap.secret ?? "");
  const project = await call<{ create_project: { id: string } }>(
    'mutation { create_project(input: { name: "reports" }) { id } }',
  );
  const flow = await call<{ create_flow: { id: string } }>(
    "mutation($input: create_flow_input!) { create_flow(input: $input) { id } }",
    {
      input: {
        project_id: project.create_project.id,
        serialized_flow: {
          name: "daily-report",
          type: "prefect.core.flow.Flow",
          parameters: [],
          tasks: [
            { slug: "extract-1", name: "extract", type: "prefect.tasks.core.function.FunctionTask" },
            { slug: "report-1", name: "report", type: "prefect.tasks.core.function.FunctionTask" },
          ],
          edges: [],
          __version__: "1.4.1",
        },
      },
    },
  );
  const run = await call<{ create_flow_run: { id: string } }>(
    "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
    { input: { flow_id: flow.create_flow.id, flow_run_name: "report-run" } },
  );
  runId = run.create_flow_run.id;
  const read = await call<{ flow_run_by_pk: { task_runs: Array<{ id: string; task: { name: string } }> } }>(
    "query($id: uuid!) { flow_run_by_pk(id: $id) { task_runs { id task { name } } } }",
    { id: runId },
  );
  for (const taskRun of read.flow_run_by_pk.task_runs) taskRuns[taskRun.task.name] = taskRun.id;

  await artifact("extract", "link", { link: "https://example.com/source.csv" });
  await artifact("extract", "link", { link: "/runs" });
  await artifact("extract", "link", { link: " javascript:window.__xss=1" });
  await artifact("report", "markdown", { markdown: REPORT });

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

describe("artifacts on the run page in Chromium", () => {
  it("lists the run's link and markdown artifacts with their task, kind and time", async () => {
    const { page } = browser;
    await page.goto(`${runtime.url}/runs/${runId}`);
    await page.getByRole("heading", { name: "Artifacts" }).waitFor();
    const section = page.getByTestId("artifacts");
    const items = section.locator("li.artifact");
    await expect.poll(() => items.count(), { timeout: 15_000 }).toBe(4);
    expect(await section.locator('li[data-kind="link"]').count()).toBe(3);
    const first = items.first();
    expect(await first.textContent()).toContain("extract");
    expect(await first.locator(".chip").textContent()).toBe("link");
    expect(await first.locator("time").count()).toBe(1);

    const external = section.locator('a[href="https://example.com/source.csv"]');
    expect(await external.getAttribute("target")).toBe("_blank");
    expect(await external.getAttribute("rel")).toContain("noopener");
    expect(await section.locator('a[href="/runs"]').count()).toBe(1);

    const markdown = section.locator('li[data-kind="markdown"]');
    expect(await markdown.textContent()).toContain("report");
    expect(await markdown.locator("h3").textContent()).toBe("Row counts");
    expect(await markdown.locator("strong", { hasText: "12" }).count()).toBe(1);
    expect(await markdown.locator("code", { hasText: "orders" }).count()).toBe(1);
    expect(await markdown.locator('a[href="https://docs.example.com/orders"]').textContent()).toBe(
      "the docs",
    );
    expect(await markdown.locator("table td").allTextContents()).toEqual(["orders", "12"]);
    expect(await markdown.locator("li").allTextContents()).toEqual(["checked", "a trap"]);
    await browser.screenshot("run-artifacts");
  });

  it("renders hostile links and raw HTML as text: no javascript: anchor, no element, no script run", async () => {
    const { page } = browser;
    const section = page.getByTestId("artifacts");
    expect(await page.locator('a[href*="javascript" i]').count()).toBe(0);
    expect(await section.locator("img, script, iframe").count()).toBe(0);
    expect(await section.textContent()).toContain("javascript:window.__xss=1");
    expect(await section.textContent()).toContain('<img src="x" onerror="window.__xss=1">');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("shows an artifact created while the page is open", async () => {
    const { page } = browser;
    await artifact("report", "markdown", { markdown: "## Second report\n\n_done_" });
    const section = page.getByTestId("artifacts");
    await expect.poll(() => section.locator("li.artifact").count(), { timeout: 15_000 }).toBe(5);
    expect(await section.locator("h4", { hasText: "Second report" }).count()).toBe(1);
    expect(await section.locator("em", { hasText: "done" }).count()).toBe(1);
  });

  it("contacted nothing but loopback and logged no errors", () => {
    expect(browser.blocked).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
