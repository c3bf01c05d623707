import { AsyncLocalStorage } from "node:async_hooks";
import type { Role } from "./auth/roles.js";
import { UnauthenticatedError } from "./errors.js";

/**
 * Who is acting. Set once at the edge (API key → tenant) and read by storage code, so every key
 * is derived from the tenant in context and forgetting the tenant is impossible.
 */
export type Actor =
  | { type: "tenant"; tenantId: string; apiKeyId: string | null; role?: Role }
  | { type: "system"; reason: string }
  | { type: "anonymous" };

const storage = new AsyncLocalStorage<Actor>();

export function withActor<T>(actor: Actor, fn: () => T): T {
  return storage.run(actor, fn);
}

/** Runs `fn` as the given tenant (used by the system: scheduler, ingestion, CLI). */
export function asTenant<T>(tenantId: string, fn: () => T): T {
  return storage.run({ type: "tenant", tenantId, apiKeyId: null }, fn);
}

export function useActor(): Actor {
  return storage.getStore() ?? { type: "anonymous" };
}

/** The API key acting (null for the system and for anonymous callers). */
export function actingKeyId(): string | null {
  const actor = storage.getStore();
  return actor?.type === "tenant" ? actor.apiKeyId : null;
}

/** The tenant of the current request; throws UNAUTHENTICATED when there is none. */
export function useTenantId(): string {
  const actor = storage.getStore();
  if (actor?.type !== "tenant") throw new UnauthenticatedError();
  return actor.tenantId;
}
