import { type Actor, asTenant } from "../actor.js";
import type { Principal } from "../api-key/index.js";
import * as ApiKey from "../api-key/index.js";
import { boundedCache, stringBytes } from "../cache.js";
import { useConfig } from "../config.js";
import { UnauthenticatedError } from "../errors.js";
import { isUuid } from "../ids.js";
import { isSessionToken, verifySessionToken } from "./session-token.js";

/** Bounds of each Authenticator's cache of resolved credentials (about 250 bytes an entry). */
export const AUTH_CACHE_MAX_ENTRIES = 10_000;
export const AUTH_CACHE_MAX_BYTES = 4 * 2 ** 20;
/** A principal: two UUID strings, a role, a number and the object and cache slot around them. */
const PRINCIPAL_BYTES =
  2 * stringBytes("00000000-0000-0000-0000-000000000000") + stringBytes("read_only") + 96;

/**
 * Resolves request headers to an actor. Resolved keys are cached for at most `cacheMs` (a few
 * seconds), so a revoked key stops working within that time while a busy agent costs one GetItem
 * every few seconds, not one a request. The bearer credential is an API key or a dashboard session
 * token (a JWT naming its key), whose key is re-checked by id under the same cache rule.
 */
export class Authenticator {
  /**
   * Resolved credentials (by key hash or session key id): at most AUTH_CACHE_MAX_ENTRIES entries
   * and AUTH_CACHE_MAX_BYTES, least recently used first out, each for `cacheMs`. Refused
   * credentials are never cached, so unknown keys cannot fill it.
   */
  private readonly cache;

  constructor(
    private readonly cacheMs: number,
    bounds: { maxEntries?: number; maxBytes?: number } = {},
  ) {
    this.cache = boundedCache<string, Principal>({
      name: "auth.principals",
      maxEntries: bounds.maxEntries ?? AUTH_CACHE_MAX_ENTRIES,
      maxBytes: bounds.maxBytes ?? AUTH_CACHE_MAX_BYTES,
      ttlMs: Math.max(1, cacheMs),
      sizeOf: (_principal, id) => stringBytes(id) + PRINCIPAL_BYTES,
    });
  }

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
    const principal = isSessionToken(match[1])
      ? await this.sessionPrincipal(match[1])
      : await this.principal(match[1]);
    if (tenantHeader && (!isUuid(tenantHeader) || tenantHeader.toLowerCase() !== principal.tenantId)) {
      // UNAUTHENTICATED, not FORBIDDEN: the Prefect 1 client raises its AuthorizationError (and the
      // CLI prints its message) only for errors that say UNAUTHENTICATED.
      throw new UnauthenticatedError(
        `UNAUTHENTICATED: tenant ${tenantHeader} is not the workspace of this API key`,
      );
    }
    return {
      type: "tenant",
      tenantId: principal.tenantId,
      apiKeyId: principal.apiKeyId,
      role: principal.role,
    };
  }

  private async principal(secret: string): Promise<Principal> {
    return this.cached(ApiKey.hashSecret(secret), () => ApiKey.authenticate(secret));
  }

  private async sessionPrincipal(token: string): Promise<Principal> {
    const secret = useConfig().sessionSecret;
    if (!secret) throw new UnauthenticatedError("UNAUTHENTICATED: sessions are not enabled on this server");
    const claims = await verifySessionToken(secret, token);
    if (!isUuid(claims.tenantId) || !isUuid(claims.apiKeyId)) {
      throw new UnauthenticatedError("UNAUTHENTICATED: invalid session token");
    }
    const keyPrincipal = await this.cached(`session#${claims.tenantId}#${claims.apiKeyId}`, () =>
      asTenant(claims.tenantId, () => sessionKey(claims.apiKeyId)),
    );
    const expiresAt =
      keyPrincipal.expiresAt === null ? claims.expiresAt : Math.min(keyPrincipal.expiresAt, claims.expiresAt);
    return { ...keyPrincipal, expiresAt };
  }

  private async cached(id: string, resolve: () => Promise<Principal>): Promise<Principal> {
    const cached = this.cache.get(id);
    if (cached && (cached.expiresAt === null || cached.expiresAt > Date.now())) return cached;
    const principal = await resolve();
    if (this.cacheMs > 0) this.cache.set(id, principal);
    return principal;
  }
}

/** The key a session stands for, as a principal, while it is neither revoked nor expired. */
async function sessionKey(apiKeyId: string): Promise<Principal> {
  const key = await ApiKey.fromId(apiKeyId);
  if (!key) throw new UnauthenticatedError("UNAUTHENTICATED: the API key of this session no longer exists");
  if (key.revoked_at)
    throw new UnauthenticatedError("UNAUTHENTICATED: the API key of this session was revoked");
  const expiresAt = key.expires_at ? Date.parse(key.expires_at) : null;
  if (expiresAt !== null && expiresAt <= Date.now()) {
    throw new UnauthenticatedError("UNAUTHENTICATED: the API key of this session has expired");
  }
  return { tenantId: key.tenant_id, apiKeyId: key.id, role: key.role, expiresAt };
}
