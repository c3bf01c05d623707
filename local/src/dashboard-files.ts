import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Where `npm run build:web` writes the dashboard. */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../web/dist/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/** The app shell only talks to its own origin (the API is same-origin locally). */
const HTML_HEADERS = {
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

export function dashboardBuilt(dir = DASHBOARD_DIR): boolean {
  return existsSync(resolve(dir, "index.html"));
}

/** The file under `dir` a URL path names, or undefined when the path tries to leave `dir`. */
export function filePathFor(dir: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const root = resolve(dir);
  const file = resolve(root, `.${decoded.startsWith("/") ? decoded : `/${decoded}`}`);
  return file === root || file.startsWith(root + sep) ? file : undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Serves the built dashboard: its files as they are (hashed assets cached for good), the runtime
 * config the app reads at start, and the app shell (index.html) for any other path without a file
 * extension, since the app routes in the browser. Missing files with an extension are 404s.
 */
export async function serveDashboard(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  dir = DASHBOARD_DIR,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
    response.end("Method not allowed");
    return;
  }
  const head = request.method === "HEAD";
  if (path === "/config.json") {
    const body = JSON.stringify({ stage: "local", graphqlUrl: "/graphql" });
    response.writeHead(200, { "content-type": CONTENT_TYPES[".json"] ?? "", "cache-control": "no-cache" });
    response.end(head ? undefined : body);
    return;
  }
  const requested = filePathFor(dir, path);
  if (requested === undefined) {
    response.writeHead(400, { "content-type": "text/plain" });
    response.end("Bad path");
    return;
  }
  let file = requested;
  if (!(await isFile(file))) {
    if (extname(path) !== "") {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("Not found");
      return;
    }
    file = resolve(dir, "index.html");
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
  const body = await readFile(file);
  const headers: Record<string, string | number> = {
    "content-type": type,
    "content-length": body.length,
    "x-content-type-options": "nosniff",
  };
  if (type.startsWith("text/html")) Object.assign(headers, HTML_HEADERS);
  else if (path.startsWith("/assets/")) headers["cache-control"] = "public, max-age=31536000, immutable";
  else headers["cache-control"] = "no-cache";
  response.writeHead(200, headers);
  response.end(head ? undefined : body);
}
