import { errors, jwtVerify, SignJWT } from "jose";
import { UnauthenticatedError } from "../errors.js";

/**
 * The dashboard's session tokens: HS256 JWTs, signed with the configured session secret, that
 * stand for one API key of one workspace for a short while. The key itself never reaches the
 * browser's storage; the token does, and every use re-checks that its key still works.
 */
const ISSUER = "drover";
const AUDIENCE = "drover-session";
export const SESSION_DEFAULT_TTL_SECONDS = 3600;
export const SESSION_MAX_TTL_SECONDS = 12 * 3600;
export const SESSION_MIN_TTL_SECONDS = 60;

export type SessionClaims = { tenantId: string; apiKeyId: string; expiresAt: number };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Whether a bearer credential is a session token rather than an API key. Generated keys
 * (`drv_` + base64url) never contain dots, so a JWT-shaped credential is always a session.
 */
export function isSessionToken(credential: string): boolean {
  return JWT_SHAPE.test(credential) && credential.startsWith("eyJ");
}

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signSessionToken(
  secret: string,
  subject: { tenantId: string; apiKeyId: string },
  expiresAt: Date,
): Promise<string> {
  return new SignJWT({ tid: subject.tenantId })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(subject.apiKeyId)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(keyOf(secret));
}

/** The claims of a valid, unexpired token signed with `secret`; UNAUTHENTICATED otherwise. */
export async function verifySessionToken(secret: string, token: string): Promise<SessionClaims> {
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ["sub", "exp", "tid"],
    });
    if (typeof payload.tid !== "string" || typeof payload.sub !== "string" || payload.exp === undefined) {
      throw new UnauthenticatedError("UNAUTHENTICATED: invalid session token");
    }
    return { tenantId: payload.tid, apiKeyId: payload.sub, expiresAt: payload.exp * 1000 };
  } catch (error) {
    if (error instanceof UnauthenticatedError) throw error;
    if (error instanceof errors.JWTExpired) {
      throw new UnauthenticatedError("UNAUTHENTICATED: this session has expired; sign in again");
    }
    if (error instanceof errors.JOSEError) {
      throw new UnauthenticatedError("UNAUTHENTICATED: invalid session token");
    }
    throw error;
  }
}
