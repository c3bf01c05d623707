import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_DIR, filePathFor } from "../../local/src/dashboard-files.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { startTestRuntime } from "../helpers/runtime.js";

/** How the local runtime serves the built dashboard next to the API (no browser needed). */
let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime("serving");
});

afterAll(async () => {
  await runtime?.stop();
});

const get = (path: string, init: RequestInit = {}) => fetch(`${runtime.url}${path}`, init);

describe("the local runtime serving web/dist", () => {
  it("serves the app shell at / with a content security policy", async () => {
    const response = await get("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await response.text()).toBe(readFileSync(join(DASHBOARD_DIR, "index.html"), "utf8"));
  });

  it("answers app paths with the app shell, so shared links work", async () => {
    for (const path of ["/kv", "/api-keys", "/runs/123", "/kv?prefix=a%2F"]) {
      const response = await get(path);
      expect(response.status, path).toBe(200);
      expect(await response.text()).toContain('<div id="root"></div>');
    }
  });

  it("serves hashed assets with their content types and a long cache", async () => {
    const assets = readdirSync(join(DASHBOARD_DIR, "assets"));
    const script = assets.find((name) => name.endsWith(".js"));
    const style = assets.find((name) => name.endsWith(".css"));
    const js = await get(`/assets/${script}`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await get(`/assets/${style}`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("answers missing files with 404, not the app shell", async () => {
    expect((await get("/assets/nope.js")).status).toBe(404);
    expect((await get("/favicon.ico")).status).toBe(404);
  });

  it("tells the app where its API is", async () => {
    const response = await get("/config.json");
    expect(await response.json()).toEqual({ stage: "local", graphqlUrl: "/graphql" });
  });

  it("never serves a file outside web/dist", async () => {
    for (const path of [
      "/../package.json",
      "/%2e%2e/package.json",
      "/assets/%2e%2e%2f%2e%2e%2fpackage.json",
    ]) {
      const response = await get(path);
      expect(await response.text(), path).not.toContain('"name": "drover"');
    }
    expect(filePathFor(DASHBOARD_DIR, "/../package.json")).toBeUndefined();
    expect(filePathFor(DASHBOARD_DIR, "/assets/x.js")).toBe(join(DASHBOARD_DIR, "assets", "x.js"));
    expect(filePathFor(DASHBOARD_DIR, "/%2e%2e%2fpackage.json")).toBeUndefined();
    expect(filePathFor(DASHBOARD_DIR, "/a%00b")).toBeUndefined();
    expect(filePathFor(DASHBOARD_DIR, "/%E0%A4%A")).toBeUndefined();
  });

  it("keeps the API and health routes as they were", async () => {
    expect(await (await get("/health")).text()).toBe("ok");
    const response = await get("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ hello }" }),
    });
    expect(await response.json()).toEqual({ data: { hello: "👋" } });
    expect((await get("/", { method: "POST" })).status).toBe(405);
  });
});
