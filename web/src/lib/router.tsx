import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";

/**
 * History routing in a few lines: paths and query strings are real URLs, so links can be shared,
 * opened in new tabs and reloaded (the server answers every app path with the app shell).
 */
export type Location = { pathname: string; search: URLSearchParams };

const listeners = new Set<() => void>();
let snapshot = read();

function read(): { pathname: string; search: string } {
  return { pathname: window.location.pathname, search: window.location.search };
}

function update(): void {
  const next = read();
  if (next.pathname === snapshot.pathname && next.search === snapshot.search) return;
  snapshot = next;
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", update);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  update();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useLocation(): Location {
  const current = useSyncExternalStore(subscribe, () => snapshot);
  return { pathname: current.pathname, search: new URLSearchParams(current.search) };
}

/** Replaces query parameters of the current URL (empty values are removed) without a new entry. */
export function setSearchParams(values: Record<string, string | undefined>): void {
  const params = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(values)) {
    if (value) params.set(name, value);
    else params.delete(name);
  }
  const query = params.toString();
  navigate(`${window.location.pathname}${query ? `?${query}` : ""}`, { replace: true });
}

/** `/runs/:id` against `/runs/42` → `{ id: "42" }`; undefined when it does not match. */
export function matchPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const have = pathname.split("/").filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of want.entries()) {
    const actual = have[index] ?? "";
    if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(actual);
    else if (part !== actual) return undefined;
  }
  return params;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** An anchor that navigates in the app; modified clicks (new tab, new window) stay native. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
