import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { ValidationError } from "../errors.js";
import { checkTarget, guardedLookup } from "./target.js";

/** The header that carries a webhook body's signature (docs/events.md, "Verifying a webhook"). */
export const SIGNATURE_HEADER = "X-Drover-Signature";
/** Prefect Cloud's event id header, kept so receivers written for it dedupe the same way. */
export const EVENT_ID_HEADER = "X-PREFECT-EVENT-ID";

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the hook's signing secret>`: a
 * receiver recomputes it and rejects a mismatch or an old `t` (replays).
 */
export function signature(secret: string, body: string, at: Date = new Date()): string {
  const t = Math.floor(at.getTime() / 1000);
  const v1 = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return `t=${t},v1=${v1}`;
}

export type AttemptResult = {
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** Trying again cannot help (the target is not one a hook may call). */
  permanent?: boolean;
};

/** Bytes of a response body read (and dropped) before the connection is let go. */
const MAX_RESPONSE_BYTES = 16 * 1024;

/**
 * POSTs a JSON body to a hook's URL once: a 2xx answer within `timeoutMs` is a success; anything
 * else (another status, a refused or private target, a timeout, a reset) is a failure with why.
 * Redirects are not followed (a redirect could lead to a private address).
 */
export async function post(options: {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const url = new URL(options.url);
    await checkTarget(url, options.allowPrivate);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const statusCode = await new Promise<number>((resolve, reject) => {
      const req = send(
        url,
        {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "Content-Length": String(Buffer.byteLength(options.body)),
            "User-Agent": "Drover-Hooks/1",
            ...options.headers,
          },
          lookup: guardedLookup(options.allowPrivate) as never,
          timeout: options.timeoutMs,
        },
        (res) => {
          let read = 0;
          res.on("data", (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) res.destroy();
          });
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("close", () => resolve(res.statusCode ?? 0));
          res.on("error", () => resolve(res.statusCode ?? 0));
        },
      );
      const deadline = setTimeout(
        () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on("error", reject);
      req.on("close", () => clearTimeout(deadline));
      req.end(options.body);
    });
    const ok = statusCode >= 200 && statusCode < 300;
    return {
      ok,
      statusCode,
      latencyMs: elapsed(),
      error: ok ? null : `the target answered HTTP ${statusCode}`,
    };
  } catch (error) {
    return {
      ok: false,
      statusCode: null,
      latencyMs: elapsed(),
      error: (error as Error).message.slice(0, 500),
      permanent: error instanceof ValidationError,
    };
  }
}
