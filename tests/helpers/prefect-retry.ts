/**
 * A GraphQL caller that retries exactly as the Prefect 1.4.1 client does
 * (src/prefect/client/client.py, `Client._request` and `_send_request`):
 *
 * 1. Transport: a requests session mounted with urllib3 `Retry(total=6, backoff_factor=1,
 *    status_forcelist=[500, 502, 503, 504], allowed_methods=["DELETE", "GET", "POST"])` on http
 *    and https. Connection errors and those statuses are retried up to 6 times; before retry n
 *    it sleeps the response's `Retry-After` if it has one, else `backoff_factor * 2 ** (n - 1)`
 *    with no sleep before the first retry (0, 2, 4, 8, 16, 32 s; urllib3's backoff_max is 120 s).
 *    When the retries run out it raises (requests' RetryError / ConnectionError). Any other
 *    status >= 400 is raised by `raise_for_status`.
 * 2. Application: when `str(response.json().get("errors"))` contains "API_ERROR", it sends the
 *    request again up to 6 times, sleeping 0.25 * 2 ** (n - 1) s after the n-th answer that still
 *    contains API_ERROR (each resend goes through the transport retries again).
 * 3. 429 (rate limited): sleeps 3 minutes and more; not exercised here and refused loudly.
 */
export type RetryStats = { connectionRetries: number; statusRetries: number; apiErrorRetries: number };

const STATUS_FORCELIST = new Set([500, 502, 503, 504]);
const TOTAL = 6;
const BACKOFF_FACTOR = 1;
const BACKOFF_MAX_S = 120;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** urllib3's Retry.get_backoff_time for the n-th consecutive error. */
export function urllib3BackoffSeconds(consecutiveErrors: number): number {
  if (consecutiveErrors <= 1) return 0;
  return Math.min(BACKOFF_MAX_S, BACKOFF_FACTOR * 2 ** (consecutiveErrors - 1));
}

export type GraphQLBody<T> = {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

export function prefectRetryingClient(options: {
  url: string;
  key: string;
  tenantId: string;
  stats?: RetryStats;
}) {
  const stats = options.stats ?? { connectionRetries: 0, statusRetries: 0, apiErrorRetries: 0 };
  const headers = {
    "content-type": "application/json",
    authorization: `Bearer ${options.key}`,
    "X-PREFECT-TENANT-ID": options.tenantId,
    "X-PREFECT-CORE-VERSION": "1.4.1",
  };

  async function sendRequest<T>(body: string, extraHeaders: Record<string, string>): Promise<GraphQLBody<T>> {
    let errors = 0;
    for (;;) {
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: "POST",
          headers: { ...headers, ...extraHeaders },
          body,
        });
      } catch (error) {
        if (errors >= TOTAL) throw new Error(`ConnectionError: max retries exceeded (${String(error)})`);
        errors++;
        stats.connectionRetries++;
        await sleep(urllib3BackoffSeconds(errors) * 1000);
        continue;
      }
      if (STATUS_FORCELIST.has(response.status)) {
        await response.arrayBuffer();
        if (errors >= TOTAL) throw new Error(`RetryError: too many ${response.status} error responses`);
        errors++;
        stats.statusRetries++;
        const retryAfter = Number(response.headers.get("retry-after") ?? "");
        await sleep((retryAfter > 0 ? retryAfter : urllib3BackoffSeconds(errors)) * 1000);
        continue;
      }
      if (response.status === 429)
        throw new Error("rate limited (429): the Prefect client would sleep 3+ minutes");
      if (response.status >= 400) throw new Error(`HTTPError: ${response.status} ${await response.text()}`);
      return (await response.json()) as GraphQLBody<T>;
    }
  }

  return async <T = Record<string, unknown>>(
    query: string,
    variables: unknown = {},
    extraHeaders: Record<string, string> = {},
  ): Promise<GraphQLBody<T>> => {
    // The client sends `variables` as a JSON string.
    const body = JSON.stringify({ query, variables: JSON.stringify(variables) });
    let result = await sendRequest<T>(body, extraHeaders);
    if (JSON.stringify(result.errors ?? null).includes("API_ERROR")) {
      for (let retry = 0; retry < TOTAL; ) {
        result = await sendRequest<T>(body, extraHeaders);
        if (!JSON.stringify(result.errors ?? null).includes("API_ERROR")) break;
        retry++;
        stats.apiErrorRetries++;
        await sleep(250 * 2 ** (retry - 1));
      }
    }
    return result;
  };
}
