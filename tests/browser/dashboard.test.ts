import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";
import { type Browser, openBrowser } from "./chromium.js";

/**
 * The dashboard in a real Chromium against the whole local runtime: one signed-in journey through
 * the pages that exist (overview, API keys, key-value store), then a second workspace's view.
 */
let runtime: LocalRuntime;
let browser: Browser;
let keyA: string;
let keyB: string;
let nameB: string;

const SET = "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id version } }";
const GET = "query($key: String!) { key_value(where: { key: { _eq: $key } }) { value version } }";

beforeAll(async () => {
  runtime = await startTestRuntime("browser");
  keyA = runtime.bootstrap.secret ?? "";
  const b = await Workspace.create({ name: "Second Team" });
  nameB = b.name;
  keyB = (await asTenant(b.id, () => ApiKey.create({ name: "b-admin" }))).secret;
  const api = client(runtime, keyA);
  await api(SET, { input: { key: "config/retries", value: { max: 3 } } });
  await api(SET, { input: { key: "config/owner", value: "data-team" } });
  await api(SET, { input: { key: "scratch", value: [1, 2, 3] } });
  browser = await openBrowser();
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

async function signIn(key: string) {
  const { page } = browser;
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

describe("the dashboard in Chromium", () => {
  it("refuses a wrong key and says why", async () => {
    const { page } = browser;
    await page.goto(runtime.url);
    await page.getByRole("heading", { name: "Drover" }).waitFor();
    await browser.screenshot("sign-in");
    await page.getByLabel("API key").fill(`drv_${"x".repeat(43)}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("invalid API key");
  });

  it("signs in with a key, shows the workspace name and keeps no key in the browser", async () => {
    const { page } = browser;
    await signIn(keyA);
    await expect
      .poll(() => page.getByTestId("workspace-name").textContent())
      .toBe(runtime.bootstrap.workspace.name);
    await expect
      .poll(() => page.getByTestId("prefect-config").textContent())
      .toContain(`api = "${runtime.url}/graphql"`);
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    expect(stored).not.toContain(keyA);
    expect(stored).toContain("drover.session");
    expect(await browser.context.cookies()).toEqual([]);
    await browser.screenshot("overview");
  });

  it("creates an API key, shows its secret once, and revokes it", async () => {
    const { page } = browser;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
    expect(new URL(page.url()).pathname).toBe("/api-keys");
    await page.getByLabel("Name").fill("ci-agent");
    await page.getByLabel("Role").selectOption("read_only");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByTestId("new-key-secret").textContent()) ?? "";
    expect(secret).toMatch(/^drv_/);
    const works = await client(runtime, secret)("query { auth_info { tenant_id role } }");
    expect(works.data).toEqual({
      auth_info: { tenant_id: runtime.bootstrap.workspace.id, role: "read_only" },
    });
    await browser.screenshot("api-keys-created");

    await page.getByRole("button", { name: "I have saved it" }).click();
    const row = page.locator("tr", { hasText: "ci-agent" });
    await row.waitFor();
    expect(await row.textContent()).toContain("read only");
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(secret);

    await row.getByRole("button", { name: "Revoke" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => row.locator(".badge").textContent()).toBe("revoked");
    await expect
      .poll(
        async () =>
          (await client(runtime, secret)("query { auth_info { tenant_id } }")).errors?.[0]?.extensions?.code,
        {
          timeout: runtime.config.authCacheMs + 3000,
        },
      )
      .toBe("UNAUTHENTICATED");
    await browser.screenshot("api-keys");
  });

  it("searches the KV store by prefix, validates JSON, saves and deletes", async () => {
    const { page } = browser;
    await page.getByRole("link", { name: "Key-value store" }).click();
    await page.locator("tr", { hasText: "scratch" }).waitFor();
    await page.getByPlaceholder("Search keys by prefix…").fill("config/");
    await expect.poll(() => new URL(page.url()).searchParams.get("prefix")).toBe("config/");
    await expect.poll(() => page.locator("tbody tr").count()).toBe(2);

    await page.locator("tr", { hasText: "config/retries" }).getByRole("button", { name: "Edit" }).click();
    const editor = page.getByLabel("Value (JSON)");
    await expect.poll(() => editor.inputValue()).toContain('"max": 3');
    await editor.fill('{"max": 5,');
    await expect.poll(() => page.locator("#kv-value-check").textContent()).toContain("Not valid JSON");
    expect(await page.getByRole("button", { name: "Save" }).isDisabled()).toBe(true);
    await editor.fill('{"max": 5, "backoff": [1, 2, 4]}');
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved.").waitFor();
    await page.getByText("Version 2, updated").waitFor();
    await expect
      .poll(() => page.locator("tr", { hasText: "config/retries" }).textContent())
      .toContain('"max":5');
    const stored = await client(runtime, keyA)(GET, { key: "config/retries" });
    expect(stored.data).toEqual({ key_value: [{ value: { max: 5, backoff: [1, 2, 4] }, version: 2 }] });
    await browser.screenshot("kv-edit");

    // The page's URL (prefix and open key) can be shared: a reload restores it, session included.
    await page.reload();
    await expect.poll(() => editor.inputValue()).toContain('"backoff"');
    await page.getByRole("button", { name: "Close" }).click();

    await page.getByPlaceholder("Search keys by prefix…").fill("");
    const scratch = page.locator("tr", { hasText: "scratch" });
    await scratch.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete pair" }).click();
    await expect.poll(() => scratch.count()).toBe(0);
    expect((await client(runtime, keyA)(GET, { key: "scratch" })).data).toEqual({ key_value: [] });
    await browser.screenshot("kv");
  });

  it("shows another workspace none of the first one's keys or pairs", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You signed out.").waitFor();
    await signIn(keyB);
    await expect.poll(() => page.getByTestId("workspace-name").textContent()).toBe(nameB);
    await page.goto(`${runtime.url}/kv`);
    await page.getByText("No key-value pairs yet").waitFor();
    expect(await page.content()).not.toContain("config/retries");
    await browser.screenshot("kv-empty");
    await page.getByRole("link", { name: "API keys" }).click();
    await page.locator("tr", { hasText: "b-admin" }).waitFor();
    const names = await page.locator("tbody tr td:first-child").allTextContents();
    expect(names).toEqual(["b-adminthis session"]);
  });

  it("signs out, forgetting the session, and shows the sign-in page at any app URL", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("drover.session"))).toBeNull();
    await page.goto(`${runtime.url}/no/such/page`);
    await page.getByLabel("API key").waitFor();
    await signIn(keyA);
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
  });

  it("contacted nothing but loopback and logged no errors", () => {
    expect(browser.blocked).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
