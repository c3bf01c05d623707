import type * as z from "zod";
import { ValidationError } from "./errors.js";

/**
 * Whether a JSON value can be stored as Drover stores it, checked at the edge so that nothing a
 * caller sends is acknowledged and then refused by DynamoDB (or by the document client, or by a
 * recursive JSON.stringify) later. Two ways a value is stored:
 *
 * - `native`: as a DynamoDB map/list/number/string attribute through the document client
 *   (parameters, context, run configs, states and their history, flow group fields, log `info`).
 *   DynamoDB allows 32 levels of nesting counting the item itself, so an attribute of the item may
 *   hold 31 levels of maps and lists (measured against DynamoDB Local; fewer when the value sits
 *   inside another map or list, e.g. a state inside the run's history list). Map keys must not be
 *   empty. Numbers: the document client refuses NaN, ±Infinity and anything beyond
 *   ±Number.MAX_SAFE_INTEGER (so 1e300 and 2^53 are refused before DynamoDB's own 9.9999E+125),
 *   and DynamoDB refuses a non-zero magnitude under 1E-130.
 * - `json`: as JSON text in a string attribute (key-value values). Any finite number is fine.
 *
 * Both are bounded in depth (`MAX_JSON_DEPTH` at most) and in size (UTF-8 bytes of compact JSON,
 * counted on the way). The walk is iterative and stops at the first issue or at the depth cut, so a
 * value nested 100,000 deep is refused in microseconds and never reaches a recursive function.
 */

/** Levels of maps and lists one attribute of an item may hold (DynamoDB: 32 including the item). */
export const DYNAMO_ATTRIBUTE_DEPTH = 31;
/** The deepest JSON any input may be, whatever its storage (recursive serializers stay far from the stack's end). */
export const MAX_JSON_DEPTH = 64;
/** The smallest non-zero magnitude DynamoDB stores. */
export const DYNAMO_MIN_MAGNITUDE = 1e-130;

export type StorableOptions = {
  as: "native" | "json";
  /** Levels of maps and lists the value may hold, counting itself (default: 31 native, 64 json). */
  maxDepth?: number;
  /** UTF-8 bytes of the value as compact JSON (default: unbounded). */
  maxBytes?: number;
};

export type StorableIssue = { path: Array<string | number>; message: string };

type Frame = { value: unknown; path: Array<string | number>; depth: number };

function describe(value: number): string {
  return Number.isNaN(value) ? "NaN" : String(value);
}

function numberIssue(value: number, native: boolean): string | undefined {
  if (!Number.isFinite(value)) return `number ${describe(value)} cannot be stored (not a finite number)`;
  if (!native) return undefined;
  const magnitude = Math.abs(value);
  if (magnitude > Number.MAX_SAFE_INTEGER || (magnitude !== 0 && magnitude < DYNAMO_MIN_MAGNITUDE)) {
    return `number ${describe(value)} is outside what can be stored (from ±1e-130 to ±${Number.MAX_SAFE_INTEGER}, or 0; send larger or more precise numbers as strings)`;
  }
  return undefined;
}

/** The first reason `value` cannot be stored as described, or undefined when it can. */
export function storableIssue(value: unknown, options: StorableOptions): StorableIssue | undefined {
  const native = options.as === "native";
  const maxDepth = Math.min(
    options.maxDepth ?? (native ? DYNAMO_ATTRIBUTE_DEPTH : MAX_JSON_DEPTH),
    MAX_JSON_DEPTH,
  );
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  let bytes = 0;
  const tooLarge = (): StorableIssue => ({
    path: [],
    message: `value is larger than ${maxBytes} bytes as JSON`,
  });
  const stack: Frame[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop() as Frame;
    if (current === null || current === undefined || typeof current === "boolean") {
      bytes += 5;
    } else if (typeof current === "string") {
      bytes += Buffer.byteLength(current, "utf8") + 2;
    } else if (typeof current === "number") {
      const message = numberIssue(current, native);
      if (message) return { path, message };
      bytes += String(current).length;
    } else if (typeof current === "object") {
      if (depth + 1 > maxDepth) {
        return { path, message: `nested deeper than ${maxDepth} levels of objects and lists` };
      }
      bytes += 2;
      if (Array.isArray(current)) {
        for (let i = current.length - 1; i >= 0; i--) {
          stack.push({ value: current[i], path: [...path, i], depth: depth + 1 });
        }
        bytes += current.length;
      } else {
        const entries = Object.entries(current as Record<string, unknown>);
        for (let i = entries.length - 1; i >= 0; i--) {
          const [key, child] = entries[i] as [string, unknown];
          if (native && key === "") return { path, message: "an object key is empty (cannot be stored)" };
          bytes += Buffer.byteLength(key, "utf8") + 4;
          stack.push({ value: child, path: [...path, key], depth: depth + 1 });
        }
      }
    } else {
      return { path, message: `a ${typeof current} is not JSON` };
    }
    if (bytes > maxBytes) return tooLarge();
  }
  return undefined;
}

/** DynamoDB's largest sort key; a partition key holds 2,048. No stored key part is longer. */
export const MAX_KEY_BYTES = 1024;

/**
 * Whether a value a read pins (`_eq`, `_in`, a prefix) could be part of a stored key. One that
 * could not matches nothing, and is not sent to DynamoDB (which refuses an oversized key value).
 */
export function couldBeKey(value: unknown): boolean {
  return typeof value !== "string" || Buffer.byteLength(value, "utf8") <= MAX_KEY_BYTES;
}

/** `parameters.a.b[3]`: a field and a path inside its value, as messages name them. */
export function describePath(field: string, path: ReadonlyArray<PropertyKey>): string {
  let out = field;
  for (const step of path) {
    if (typeof step === "number") out += `[${step}]`;
    else {
      const name = String(step);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? (out ? `.${name}` : name) : `[${JSON.stringify(name)}]`;
    }
  }
  return out || "value";
}

/** Throws BAD_USER_INPUT naming the field and the path inside it unless `value` can be stored. */
export function assertStorable(value: unknown, field: string, options: StorableOptions): void {
  const issue = storableIssue(value, options);
  if (issue) throw new ValidationError(`${describePath(field, issue.path)}: ${issue.message}`);
}

/**
 * A zod refinement for a field's schema: `z.record(...).superRefine(storable({ as: "native" }))`.
 * Issues carry the path inside the value, so zod's own paths (and `formatIssues`) name the spot.
 */
export function storable(options: StorableOptions) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    const issue = storableIssue(value, options);
    if (issue) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  };
}

/** One line naming every issue of a zod error by its path (`parameters.a[2]: ...; labels[0]: ...`). */
export function formatIssues(error: z.ZodError, field = ""): string {
  return error.issues.map((i) => `${describePath(field, i.path)}: ${i.message}`).join("; ");
}
