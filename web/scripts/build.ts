import { spawn } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The dashboard's folder, its sources and its build output. */
export const WEB_DIR = fileURLToPath(new URL("..", import.meta.url));
export const DIST_DIR = join(WEB_DIR, "dist");
const SOURCES = ["index.html", "vite.config.ts", "src"];

function newestSource(path: string): number {
  if (!existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestSource(join(path, name))));
}

/** Whether web/dist is missing or older than any of the dashboard's sources. */
export function dashboardStale(): boolean {
  const index = join(DIST_DIR, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return SOURCES.some((source) => newestSource(join(WEB_DIR, source)) > built);
}

/**
 * Builds the dashboard with Vite into a fresh folder, then swaps it in for web/dist, so a server
 * reading web/dist meanwhile never sees a half-written build. Vite runs in its own process with
 * NODE_ENV=production: inside a test runner (NODE_ENV=test) it would otherwise bundle React's
 * development build.
 */
export async function buildDashboard(): Promise<void> {
  const vite = join(dirname(createRequire(import.meta.url).resolve("vite/package.json")), "bin", "vite.js");
  const staging = join(WEB_DIR, `.dist-${process.pid}-${Date.now()}`);
  try {
    const args = [
      vite,
      "build",
      "--config",
      join(WEB_DIR, "vite.config.ts"),
      "--outDir",
      staging,
      "--emptyOutDir",
    ];
    const child = spawn(process.execPath, args, {
      cwd: WEB_DIR,
      env: { ...process.env, NODE_ENV: "production" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const code = await new Promise<number | null>((done, fail) => {
      child.once("error", fail);
      child.once("exit", done);
    });
    if (code !== 0) throw new Error(`vite build failed (exit code ${code})`);
    rmSync(DIST_DIR, { recursive: true, force: true });
    renameSync(staging, DIST_DIR);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Builds the dashboard only when web/dist is missing or stale; returns whether it built. */
export async function ensureDashboardBuilt(log: (message: string) => void = () => {}): Promise<boolean> {
  if (!dashboardStale()) return false;
  log("Building the dashboard (web/dist)…");
  await buildDashboard();
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes("--force");
  if (force) await buildDashboard();
  else await ensureDashboardBuilt((message) => console.log(message));
}
