import { UnauthenticatedError, useTenantId } from "#core/index.js";

/**
 * Inputs may name a tenant (the Prefect client sends `tenant_id`); it must be the caller's own.
 * UNAUTHENTICATED is what the Prefect 1 client recognises as an authorization error.
 */
export function assertOwnTenant(tenantId: string | null | undefined): void {
  const own = useTenantId();
  if (tenantId !== undefined && tenantId !== null && tenantId !== own) {
    throw new UnauthenticatedError(
      `UNAUTHENTICATED: tenant ${tenantId} is not the workspace of this API key`,
    );
  }
}
