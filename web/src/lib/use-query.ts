import { useCallback, useEffect, useRef, useState } from "react";
import { gql } from "../api/client";

/**
 * Requests started before their page mounts (while the shell still loads the workspace), taken
 * by the first `useQuery` asking for the same query and variables within `PREFETCH_TTL_MS`: the
 * page's data then arrives one round trip sooner on a cold load.
 */
const PREFETCH_TTL_MS = 10_000;
const prefetched = new Map<string, { promise: Promise<unknown>; at: number }>();

export function prefetch(query: string, variables: Record<string, unknown> = {}): void {
  const key = `${query}\u0000${JSON.stringify(variables)}`;
  const promise = gql(query, variables);
  promise.catch(() => {}); // Reported by the useQuery that takes it.
  prefetched.set(key, { promise, at: Date.now() });
}

function takePrefetched<T>(query: string, key: string): Promise<T> | undefined {
  const entry = prefetched.get(`${query}\u0000${key}`);
  if (!entry) return undefined;
  prefetched.delete(`${query}\u0000${key}`);
  return Date.now() - entry.at < PREFETCH_TTL_MS ? (entry.promise as Promise<T>) : undefined;
}

export type QueryState<T> = {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
};

/**
 * Runs a GraphQL query as the signed-in workspace, again when its variables change, on `reload()`
 * and every `pollMs` while the page is visible. Stale answers of superseded requests are dropped.
 */
export function useQuery<T>(
  query: string,
  variables: Record<string, unknown> = {},
  options: { pollMs?: number; skip?: boolean } = {},
): QueryState<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(!options.skip);
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(variables);
  const latest = useRef(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for `variables`, `tick` forces a reload.
  useEffect(() => {
    if (options.skip) return;
    const controller = new AbortController();
    const id = ++latest.current;
    setLoading(true);
    const request =
      takePrefetched<T>(query, key) ??
      gql<T>(query, JSON.parse(key) as Record<string, unknown>, controller.signal);
    request
      .then((result) => {
        if (id !== latest.current) return;
        setData(result);
        setError(undefined);
      })
      .catch((reason: unknown) => {
        if (id !== latest.current || controller.signal.aborted) return;
        setError(reason instanceof Error ? reason : new Error(String(reason)));
      })
      .finally(() => {
        if (id === latest.current) setLoading(false);
      });
    return () => controller.abort();
  }, [query, key, tick, options.skip]);

  useEffect(() => {
    if (!options.pollMs || options.skip) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    }, options.pollMs);
    return () => window.clearInterval(timer);
  }, [options.pollMs, options.skip]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
