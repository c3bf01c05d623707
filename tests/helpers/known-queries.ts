import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { recordedRequests } from "./recorded.js";

/** A query a real client sends: the recorded Prefect 1.4.1 client, its CLI, and the dashboard. */
export type KnownQuery = { source: string; query: string };

const WEB = resolve(import.meta.dirname, "../../web/src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
}

/** The `/* GraphQL *\/` template literals and `gql("...")` literals in web/src, `${RUN_FIELDS}` expanded. */
export function dashboardQueries(): KnownQuery[] {
  const all = files(WEB).map((path) => ({ path, text: readFileSync(path, "utf8") }));
  const runFields = /RUN_FIELDS = \/\* GraphQL \*\/ `([^`]*)`/.exec(
    all.find((f) => f.text.includes("export const RUN_FIELDS"))?.text ?? "",
  )?.[1];
  const out: KnownQuery[] = [];
  for (const { path, text } of all) {
    const source = path.slice(WEB.length + 1);
    for (const m of text.matchAll(/\/\* GraphQL \*\/ `([^`]*)`/g)) {
      const body = (m[1] as string).replaceAll(`$${"{"}RUN_FIELDS}`, runFields ?? "");
      if (/^\s*(query|mutation|subscription|\{)/.test(body)) out.push({ source, query: body });
    }
    for (const m of text.matchAll(/gql(?:<[^>]*>)?\(\s*"((?:[^"\\]|\\.)*)"/g)) {
      out.push({ source, query: JSON.parse(`"${m[1]}"`) as string });
    }
  }
  return out;
}

/**
 * The Prefect 1.4.1 CLI's `prefect describe` / `prefect get` queries that the recording does not
 * cover, as its `with_args` dictionaries render them (read from src/prefect/cli/*.py at 1.4.1),
 * without the fields Drover does not serve (`task.description`, `flow_run.duration`) and `distinct_on`.
 */
export const CLI_QUERIES: KnownQuery[] = [
  {
    source: "cli: describe tasks",
    query: `query { flow(where: { _and: { name: { _eq: "f" }, version: { _eq: 1 }, project: { name: { _eq: "p" } } } }, order_by: { name: asc, version: desc }) { tasks { name created slug type max_retries retry_delay mapped } } }`,
  },
  {
    source: "cli: describe flow-runs",
    query: `query { flow_run(where: { _and: { name: { _eq: "r" }, flow: { name: { _eq: "f" } } } }) { name flow { name } created parameters auto_scheduled scheduled_start_time start_time end_time heartbeat serialized_state } }`,
  },
  {
    source: "cli: get logs",
    query: `query { flow_run(where: { name: { _eq: "r" } }, order_by: { start_time: desc }) { logs(order_by: { timestamp: asc }) { timestamp message level } start_time } }`,
  },
];

export function knownQueries(): KnownQuery[] {
  return [
    ...recordedRequests().map((r) => ({ source: `recorded #${r.index}`, query: r.query })),
    ...dashboardQueries(),
    ...CLI_QUERIES,
  ];
}
