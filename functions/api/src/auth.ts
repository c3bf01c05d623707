import { hashSecret, type Principal } from "#core/api-key/index.js";
import { isUuid } from "#core/ids.js";
import { type Actor, ApiKey, ForbiddenError, UnauthenticatedError } from "#core/index.js";

/**
 * Resolves request headers to an actor. Resolved keys are cached for at most `cacheMs` (a few
 * seconds), so a revoked key stops working within that time while a busy agent costs one GetItem
 * every few seconds, not one a request.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private static readonly MAX_ENTRIES = 10_000;

  constructor(private readonly cacheMs: number) {}

  async resolve(headers: Record<string, string | undefined>): Promise<Actor> {
    const authorization = headers.authorization;
    const tenantHeader = headers["x-prefect-tenant-id"];
    if (!authorization) {
      if (tenantHeader)
        throw new UnauthenticatedError("UNAUTHENTICATED: a tenant was named without an API key");
      return { type: "anonymous" };
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1])
      throw new UnauthenticatedError("UNAUTHENTICATED: expected 'Authorization: Bearer <API key>'");
    const principal = await this.principal(match[1]);
    if (tenantHeader && (!isUuid(tenantHeader) || tenantHeader.toLowerCase() !== principal.tenantId)) {
      throw new ForbiddenError(`FORBIDDEN: tenant ${tenantHeader} is not the workspace of this API key`);
    }
    return { type: "tenant", tenantId: principal.tenantId, apiKeyId: principal.apiKeyId };
  }

  private async principal(secret: string): Promise<Principal> {
    const now = Date.now();
    const hash = hashSecret(secret);
    const cached = this.cache.get(hash);
    if (
      cached &&
      cached.until > now &&
      (cached.principal.expiresAt === null || cached.principal.expiresAt > now)
    ) {
      return cached.principal;
    }
    const principal = await ApiKey.authenticate(secret);
    if (this.cacheMs > 0) {
      if (this.cache.size >= Authenticator.MAX_ENTRIES) this.cache.clear();
      this.cache.set(hash, { principal, until: now + this.cacheMs });
    }
    return principal;
  }
}
