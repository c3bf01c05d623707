import { useSyncExternalStore } from "react";
import { post } from "./transport";

/**
 * The signed-in session: a short-lived token the API issued for an API key. The key is sent once,
 * to create the token, and never kept; the token lives in this tab's sessionStorage only, so a
 * reload keeps the session and closing the tab ends it.
 */
export type Session = { token: string; expiresAt: string };
type State = { session: Session | null; notice: string | null };

const STORAGE_KEY = "drover.session";
const listeners = new Set<() => void>();
let expiryTimer: number | undefined;

function load(): Session | null {
  try {
    const stored = JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) ?? "null") as Session | null;
    if (stored && typeof stored.token === "string" && Date.parse(stored.expiresAt) > Date.now())
      return stored;
  } catch {
    // Unreadable storage: start signed out.
  }
  return null;
}

let state: State = { session: load(), notice: null };
scheduleExpiry();

function set(next: State): void {
  state = next;
  try {
    if (next.session) window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next.session));
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage refused (private mode): the session lasts as long as the page.
  }
  scheduleExpiry();
  for (const listener of listeners) listener();
}

function scheduleExpiry(): void {
  window.clearTimeout(expiryTimer);
  const session = state.session;
  if (!session) return;
  // setTimeout holds at most ~24.8 days; sessions last hours.
  const delay = Math.min(Date.parse(session.expiresAt) - Date.now(), 2 ** 31 - 1);
  expiryTimer = window.setTimeout(
    () => signOut("Your session has expired. Sign in again."),
    Math.max(delay, 0),
  );
}

const CREATE_SESSION = /* GraphQL */ `
  mutation CreateSession {
    create_session_token {
      token
      expires_at
    }
  }
`;

/** Exchanges an API key for a session; the key is used for this one request and then dropped. */
export async function signIn(apiKey: string): Promise<void> {
  const data = await post<{ create_session_token: { token: string; expires_at: string } }>(
    CREATE_SESSION,
    undefined,
    apiKey.trim(),
  );
  set({
    session: { token: data.create_session_token.token, expiresAt: data.create_session_token.expires_at },
    notice: null,
  });
}

/** Ends the session in this tab; `notice` tells the sign-in page why (expired, revoked). */
export function signOut(notice: string | null = null): void {
  set({ session: null, notice });
}

export function currentToken(): string | undefined {
  return state.session?.token;
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSessionState(): State {
  return useSyncExternalStore(subscribe, () => state);
}
