import { createHash, randomUUID } from "node:crypto";

export function newId(): string {
  return randomUUID();
}

/** Deterministic UUID (v5-shaped) from a namespace and name: retried writes produce the same id. */
export function deterministicId(namespace: string, ...parts: Array<string | number>): string {
  const hash = createHash("sha1").update(namespace).update("\u0000").update(parts.join("\u0000")).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

export function nowIso(): string {
  return new Date().toISOString();
}
