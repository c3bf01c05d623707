import {
  isSessionToken,
  SESSION_DEFAULT_TTL_SECONDS,
  SESSION_MAX_TTL_SECONDS,
  SESSION_MIN_TTL_SECONDS,
  signSessionToken,
} from "#core/auth/session-token.js";
import { useConfig } from "#core/config.js";
import { ApiKey, ForbiddenError, useActor, ValidationError } from "#core/index.js";

export const sessionTypeDefs = /* GraphQL */ `
  input create_session_token_input {
    "How long the session lasts, in seconds (60 to 43200; 3600 when omitted). Never past the key's own expiry."
    ttl_seconds: Int
  }

  "A short-lived token standing for the calling API key; send it as 'Authorization: Bearer <token>'."
  type session_token {
    token: String!
    expires_at: timestamptz!
    tenant_id: uuid!
    api_key_id: uuid!
  }

  type Mutation {
    "Exchanges the calling API key (not a session) for a session token of its workspace."
    create_session_token(input: create_session_token_input): session_token!
  }
`;

type Context = { request?: Request };

function bearer(context: Context): string | undefined {
  const header = context.request?.headers.get("authorization") ?? "";
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

export const sessionResolvers = {
  Mutation: {
    create_session_token: async (
      _: unknown,
      args: { input?: { ttl_seconds?: number | null } | null },
      context: Context,
    ) => {
      const actor = useActor();
      if (actor.type !== "tenant" || !actor.apiKeyId) {
        throw new ForbiddenError("FORBIDDEN: a session is created with an API key");
      }
      const credential = bearer(context);
      if (credential && isSessionToken(credential)) {
        throw new ForbiddenError(
          "FORBIDDEN: a session cannot create another session; sign in with an API key",
        );
      }
      const secret = useConfig().sessionSecret;
      if (!secret) throw new ForbiddenError("FORBIDDEN: sessions are not enabled on this server");
      const ttl = args.input?.ttl_seconds ?? SESSION_DEFAULT_TTL_SECONDS;
      if (!Number.isInteger(ttl) || ttl < SESSION_MIN_TTL_SECONDS || ttl > SESSION_MAX_TTL_SECONDS) {
        throw new ValidationError(
          `ttl_seconds must be between ${SESSION_MIN_TTL_SECONDS} and ${SESSION_MAX_TTL_SECONDS}`,
        );
      }
      const key = await ApiKey.fromId(actor.apiKeyId);
      let expiresAt = Date.now() + ttl * 1000;
      if (key?.expires_at) expiresAt = Math.min(expiresAt, Date.parse(key.expires_at));
      // JWT expiry has one-second precision: round down so the token never outlives the key.
      const expires = new Date(Math.floor(expiresAt / 1000) * 1000);
      const subject = { tenantId: actor.tenantId, apiKeyId: actor.apiKeyId };
      return {
        token: await signSessionToken(secret, subject, expires),
        expires_at: expires.toISOString(),
        tenant_id: actor.tenantId,
        api_key_id: actor.apiKeyId,
      };
    },
  },
};
