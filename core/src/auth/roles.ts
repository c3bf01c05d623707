import { useActor } from "../actor.js";
import { ForbiddenError } from "../errors.js";

/**
 * What an API key may do (docs/roles.md). Prefect Cloud 1.0 had Administrator, User, Read-only
 * user and the service accounts' Runner; Drover's keys carry one of:
 * - `admin`: everything, including API keys, secrets being set or deleted, concurrency limits
 *   and the audit log;
 * - `developer`: register, run, change and delete flows, runs and projects, read secrets;
 * - `runner`: what an agent and its flow runs need (poll, states, logs, heartbeats, artifacts,
 *   KV, child flow runs, reading secrets), nothing else;
 * - `read_only`: reads, no secret values.
 */
export const ROLES = ["admin", "developer", "runner", "read_only"] as const;
export type Role = (typeof ROLES)[number];

/** Keys created before roles existed were workspace admins: they stay so. */
export const DEFAULT_ROLE: Role = "admin";

/**
 * What an operation needs. Every API operation names one (functions/api/src/schema/permissions.ts,
 * the KV function's routes), and a role is the set of permissions it grants.
 */
export const PERMISSIONS = ["read", "run", "read_secret", "develop", "admin"] as const;
export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  developer: new Set(["read", "run", "read_secret", "develop"]),
  runner: new Set(["read", "run", "read_secret"]),
  read_only: new Set(["read"]),
};

export function grants(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(permission);
}

/** The roles that grant `permission`, most powerful first. */
export function rolesGranting(permission: Permission): Role[] {
  return ROLES.filter((role) => grants(role, permission));
}

/** The role of the current actor: a key's own, the default for keys without one; system actors are admins. */
export function actingRole(): Role {
  const actor = useActor();
  return actor.type === "tenant" ? (actor.role ?? DEFAULT_ROLE) : DEFAULT_ROLE;
}

/**
 * Refuses `operation` unless the current key's role grants `permission`. Anonymous callers pass
 * here and are refused UNAUTHENTICATED by the first read of their tenant.
 *
 * The code is FORBIDDEN (Prefect Cloud 1.0's), and the text starts with UNAUTHENTICATED: the
 * Prefect 1.4.1 client raises its AuthorizationError only when the errors' text contains that
 * word (client.py, `graphql()`), and its CLI prints an authorization message only then.
 */
export function requirePermission(permission: Permission, operation: string): void {
  const actor = useActor();
  if (actor.type !== "tenant") return;
  const role = actor.role ?? DEFAULT_ROLE;
  if (grants(role, permission)) return;
  throw new ForbiddenError(
    `UNAUTHENTICATED: this API key's role ${role} does not allow ${operation} (roles that do: ${rolesGranting(permission).join(", ")})`,
  );
}
