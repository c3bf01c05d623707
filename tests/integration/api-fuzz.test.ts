import { createHash } from "node:crypto";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createDocumentClient } from "#core/dynamo/client.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { client, uniquePrefix } from "../helpers/runtime.js";

/**
 * A seeded fuzz of the whole GraphQL API over HTTP. From the live schema's introspection, every
 * mutation and query field gets valid arguments (ids of real items) with one spot made wrong: a
 * wrong type, a null, a huge string, a very long list, unstorable JSON (deep, 1e300, 2^53+1, an
 * empty key, Infinity). Whatever the answer, it is never INTERNAL_SERVER_ERROR nor leaks internals,
 * and a request answered with an error leaves the stored items exactly as they were.
 */
let runtime: LocalRuntime;
let api: Api;
let ids: Record<string, string>;

const SEED = 14;
const LEAK =
  /Maximum call stack|RangeError|TypeError|SyntaxError|ValidationException|Exception\b|DynamoDB|\.[jt]s:\d+|\n\s+at |file:\/\//;
/** Raw JSON text put in place of sentinels: what JSON.stringify cannot write (or would overflow on). */
const RAW: Record<string, string> = {
  __BIG__: "9007199254740993",
  __INF__: "1e999",
  __DEEP_LIST__: `${"[".repeat(5_000)}1${"]".repeat(5_000)}`,
  __DEEP_MAP__: `${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}`,
};

function bodyText(payload: unknown): string {
  return JSON.stringify(payload).replace(/"(__[A-Z_]+__)"/g, (whole, name: string) => RAW[name] ?? whole);
}

beforeAll(async () => {
  runtime = await startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir: undefined,
    dynamoEndpoint: inject("dynamoEndpoint"),
    namePrefix: uniquePrefix("fuzz"),
    // One tick at start and none during the fuzz: nothing but the requests changes the tables.
    schedulerIntervalMs: 3_600_000,
  });
  api = client(runtime, runtime.bootstrap.secret);
  const tenant = await ok<{ auth_info: { tenant_id: string } }>(api, "{ auth_info { tenant_id } }");
  const projectId = await createProject(api, "fuzz");
  const flowId = await registerFlow(api, projectId, pipelineFlow("fuzzed"));
  const flowRunId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
  // With a default for the required parameter, create_flow_run's cases reach storage.
  await ok(
    api,
    "mutation($input: set_flow_group_default_parameters_input!) { set_flow_group_default_parameters(input: $input) { success } }",
    {
      input: {
        flow_group_id: (
          await ok<{ flow_by_pk: { flow_group_id: string } }>(
            api,
            `{ flow_by_pk(id: "${flowId}") { flow_group_id } }`,
          )
        ).flow_by_pk.flow_group_id,
        parameters: { n: 1 },
      },
    },
  );
  const read = await ok<{
    flow_by_pk: { flow_group_id: string };
    flow_run_by_pk: { task_runs: Array<{ id: string; task_id: string }> };
  }>(
    api,
    `{ flow_by_pk(id: "${flowId}") { flow_group_id }
       flow_run_by_pk(id: "${flowRunId}") { task_runs { id task_id } } }`,
  );
  const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
    input: { type: "LocalAgent", name: "fuzz", labels: [] },
  });
  const kv = await ok<{ set_key_value: { id: string } }>(
    api,
    'mutation { set_key_value(input: { key: "fuzz", value: "{\\"a\\": 1}" }) { id } }',
  );
  const taskRun = read.flow_run_by_pk.task_runs[0];
  ids = {
    tenant_id: tenant.auth_info.tenant_id,
    project_id: projectId,
    flow_id: flowId,
    flow_group_id: read.flow_by_pk.flow_group_id,
    flow_run_id: flowRunId,
    task_run_id: taskRun?.id ?? "",
    task_id: taskRun?.task_id ?? "",
    agent_id: agent.register_agent.id,
    key_value_id: kv.set_key_value.id,
  };
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

/** mulberry32: the same cases in the same order on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type TypeRef = { kind: string; name: string | null; ofType: TypeRef | null };
type InputValue = { name: string; type: TypeRef };
type Field = { name: string; args: InputValue[] };
type FullType = {
  kind: string;
  name: string;
  fields: Field[] | null;
  inputFields: InputValue[] | null;
  enumValues: Array<{ name: string }> | null;
};

const TYPE_REF =
  "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
const INTROSPECTION = `{ __schema { types { kind name
  fields { name args { name type { ${TYPE_REF} } } }
  inputFields { name type { ${TYPE_REF} } }
  enumValues { name } } } }`;

function unwrap(type: TypeRef): { named: string; list: boolean; required: boolean } {
  const required = type.kind === "NON_NULL";
  let t = required ? (type.ofType as TypeRef) : type;
  const list = t.kind === "LIST";
  while (t.ofType) t = t.ofType;
  return { named: t.name ?? "", list, required };
}

function typeText(type: TypeRef): string {
  if (type.kind === "NON_NULL") return `${typeText(type.ofType as TypeRef)}!`;
  if (type.kind === "LIST") return `[${typeText(type.ofType as TypeRef)}]`;
  return type.name ?? "";
}

/** Valid-looking values: real ids by argument name, the simplest value of each scalar otherwise. */
function baseValue(types: Map<string, FullType>, name: string, type: TypeRef, depth = 0): unknown {
  const { named, list } = unwrap(type);
  const one = (): unknown => {
    const full = types.get(named);
    if (full?.kind === "INPUT_OBJECT") {
      if (depth > 3) return {};
      return Object.fromEntries(
        (full.inputFields ?? [])
          .filter((f) => f.type.kind === "NON_NULL" || depth === 0)
          .map((f) => [f.name, baseValue(types, f.name, f.type, depth + 1)]),
      );
    }
    if (full?.kind === "ENUM") return full.enumValues?.[0]?.name;
    switch (named) {
      case "uuid":
      case "ID":
        return ids[name] ?? ids[`${name.replace(/s$/, "")}`] ?? "00000000-0000-4000-8000-000000000000";
      case "Int":
        return 1;
      case "Float":
        return 1.5;
      case "Boolean":
        return true;
      case "timestamptz":
        return new Date(Date.UTC(2026, 0, 1)).toISOString();
      case "JSON":
      case "jsonb":
        return name === "state" ? state("Running") : {};
      default:
        return name === "key" ? "fuzz" : `fuzz-${name}`;
    }
  };
  return list ? [one()] : one();
}

function nested(levels: number, list: boolean): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = list ? [value] : { a: value };
  return value;
}

/** Wrong values for a spot of the given type (sentinels such as `"__BIG__"` become `RAW` text in the body). */
function wrongValues(type: TypeRef): unknown[] {
  const { named, list, required } = unwrap(type);
  const huge = "x".repeat(150_000);
  const values: unknown[] = [huge, 12345, { not: "this" }, ["a", 1], true, -1, 2 ** 31, "__BIG__"];
  if (required) values.push(null);
  if (list)
    values.push(
      Array.from({ length: 20_000 }, () => "x"),
      [],
    );
  if (named === "JSON" || named === "jsonb") {
    values.push(
      nested(40, false),
      "__DEEP_LIST__",
      { a: 1e300 },
      { a: "__BIG__" },
      { a: "__INF__" },
      { a: 1e-200 },
      { "": 1 },
      { a: "x".repeat(500_000) },
      { type: "Running", context: nested(30, false) },
    );
  }
  if (named === "String") values.push("", " ", "\u0000\uffff\ud800", "%a%a%a%a%b");
  if (named === "Int") values.push(1e300, "__BIG__", 1.5, -(2 ** 40));
  if (named === "uuid") values.push("not-a-uuid", "00000000-0000-0000-0000-000000000000");
  if (named === "timestamptz") values.push("yesterday", "99999-01-01T00:00:00Z", "");
  return values;
}

type Spot = { path: string[]; type: TypeRef };

/** Every argument and input field the base value reaches (and the optional ones at the top). */
function spotsOf(types: Map<string, FullType>, args: InputValue[]): Spot[] {
  const spots: Spot[] = [];
  const visit = (path: string[], values: InputValue[], depth: number) => {
    for (const v of values) {
      const here = [...path, v.name];
      spots.push({ path: here, type: v.type });
      const full = types.get(unwrap(v.type).named);
      if (full?.kind === "INPUT_OBJECT" && depth < 3 && (v.type.kind === "NON_NULL" || depth === 0)) {
        visit(unwrap(v.type).list ? [...here, "0"] : here, full.inputFields ?? [], depth + 1);
      }
    }
  };
  visit([], args, 0);
  return spots;
}

function setAt(target: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(target);
  let node: Record<string, unknown> = copy;
  for (const step of path.slice(0, -1)) {
    const next = node[step];
    if (typeof next !== "object" || next === null) return copy;
    node = next as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
  return copy;
}

/** JSON with every object's keys sorted, so equal items give equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A hash of every item of the runtime's main and KV tables. */
async function snapshot(): Promise<string> {
  const doc = createDocumentClient(runtime.config);
  const scan = async (table: string) => {
    const items: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) items.push(canonical(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return items.sort();
  };
  const tables = await Promise.all([runtime.config.tables.main, runtime.config.tables.kv].map(scan));
  return createHash("sha256").update(tables.flat().join("\n")).digest("hex");
}

type Answer = {
  status: number;
  text: string;
  body: { errors?: Array<{ message: string; extensions?: { code?: string } }> };
};

async function post(body: string, contentType = "application/json"): Promise<Answer> {
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${runtime.bootstrap.secret}` },
    body,
  });
  const text = await response.text();
  let parsed: Answer["body"] = {};
  try {
    parsed = JSON.parse(text) as Answer["body"];
  } catch {
    // Asserted below: every answer is JSON.
  }
  return { status: response.status, text, body: parsed };
}

async function get(search: string): Promise<Answer> {
  const response = await fetch(`${runtime.graphqlUrl}?${search}`, {
    headers: { authorization: `Bearer ${runtime.bootstrap.secret}`, accept: "application/json" },
  });
  const text = await response.text();
  let parsed: Answer["body"] = {};
  try {
    parsed = JSON.parse(text) as Answer["body"];
  } catch {}
  return { status: response.status, text, body: parsed };
}

/** What is wrong with an answer (a 5xx, INTERNAL_SERVER_ERROR, an error without a code, a leak), or undefined. */
function mishandled(answer: Answer, what: string): string | undefined {
  const codes = (answer.body.errors ?? []).map((e) => e.extensions?.code);
  const shown = `${what} → ${answer.status} ${answer.text.slice(0, 300)}`;
  if (answer.status >= 500) return `HTTP ${shown}`;
  if (codes.includes("INTERNAL_SERVER_ERROR")) return `INTERNAL ${shown}`;
  if (!codes.every((c) => typeof c === "string")) return `no code ${shown}`;
  if (LEAK.test(answer.text.slice(0, 20_000))) return `leak ${shown}`;
  return undefined;
}

function expectHandled(answer: Answer, what: string): void {
  expect(mishandled(answer, what)).toBeUndefined();
}

describe("the API under fuzzed input", () => {
  it("answers every wrong argument of every mutation and query without an internal error, and an error changes nothing", async () => {
    const schema = await ok<{ __schema: { types: FullType[] } }>(api, INTROSPECTION);
    const types = new Map(schema.__schema.types.map((t) => [t.name, t]));
    const destructive = /^(delete|archive|revoke|expire|cancel)_/;
    const roots = (["Query", "Mutation"] as const).flatMap((root) =>
      (types.get(root)?.fields ?? []).filter((f) => f.args.length > 0).map((field) => ({ root, field })),
    );
    // Destructive mutations last: before them every id stays valid, so cases reach deep validation.
    roots.sort((a, b) => Number(destructive.test(a.field.name)) - Number(destructive.test(b.field.name)));
    const random = rng(SEED);
    let cases = 0;
    const failures: string[] = [];
    // The snapshot sees a change: a successful mutation changes it.
    let before = await snapshot();
    await ok(
      api,
      `mutation { set_flow_run_name(input: { flow_run_id: "${ids.flow_run_id}", name: "renamed" }) { success } }`,
    );
    expect(await snapshot()).not.toBe(before);
    before = await snapshot();
    for (const { root, field } of roots) {
      const declared = field.args.map((a) => `$${a.name}: ${typeText(a.type)}`).join(", ");
      const passed = field.args.map((a) => `${a.name}: $${a.name}`).join(", ");
      const document = `${root === "Mutation" ? "mutation" : "query"} Fuzz(${declared}) { fuzzed: ${field.name}(${passed}) { __typename } }`;
      const base = Object.fromEntries(field.args.map((a) => [a.name, baseValue(types, a.name, a.type)]));
      // Every unstorable JSON value at every JSON spot; a seeded sample of the other wrong values.
      const chosen = spotsOf(types, field.args).flatMap((spot) => {
        const values = wrongValues(spot.type);
        const json = ["JSON", "jsonb"].includes(unwrap(spot.type).named);
        const sample = values.filter(() => json || random() < 0.1);
        return sample.map((value) => ({ spot, value }));
      });
      for (const { spot, value } of chosen) {
        const variables = setAt(base, spot.path, value);
        const body = bodyText({ query: document, variables });
        const what = `${field.name} ${spot.path.join(".")} = ${JSON.stringify(value)?.slice(0, 60)}`;
        const answer = await post(body);
        cases++;
        const wrong = mishandled(answer, what);
        if (wrong) failures.push(wrong);
        if (root === "Mutation") {
          const after = await snapshot();
          if ((answer.body.errors ?? []).length > 0 && after !== before) {
            failures.push(`changed stored items: ${what} → ${answer.text.slice(0, 200)}`);
          }
          before = after;
        }
      }
    }
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThan(500);
  }, 180_000);

  it("answers a read filtering any string column by a value longer than any key (_eq, _in, _like) without an internal error", async () => {
    const schema = await ok<{ __schema: { types: FullType[] } }>(api, INTROSPECTION);
    const types = new Map(schema.__schema.types.map((t) => [t.name, t]));
    const long = "é".repeat(3_000);
    const failures: string[] = [];
    for (const field of types.get("Query")?.fields ?? []) {
      const where = field.args.find((a) => a.name === "where");
      if (!where) continue;
      for (const column of types.get(unwrap(where.type).named)?.inputFields ?? []) {
        const ops = types.get(unwrap(column.type).named)?.inputFields ?? [];
        const eq = ops.find((o) => o.name === "_eq");
        if (!eq || unwrap(eq.type).named !== "String") continue;
        for (const op of ["_eq", "_in", "_like"].filter((name) => ops.some((o) => o.name === name))) {
          const value = op === "_in" ? [long] : op === "_like" ? `${long}%` : long;
          const query = `query($v: ${op === "_in" ? "[String!]" : "String"}) { ${field.name}(where: { ${column.name}: { ${op}: $v } }, limit: 1) { __typename } }`;
          const wrong = mishandled(
            await post(JSON.stringify({ query, variables: { v: value } })),
            `${field.name} ${column.name} ${op}`,
          );
          if (wrong) failures.push(wrong);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("answers malformed HTTP shapes with 400 BAD_REQUEST and a clear message", async () => {
    const q = encodeURIComponent("{ auth_info { tenant_id } }");
    const bad: Array<[string, () => Promise<Answer>]> = [
      ["GET variables not JSON", () => get(`query=${q}&variables=%7Bnot-json`)],
      ["GET variables a list", () => get(`query=${q}&variables=%5B1%5D`)],
      ["GET variables a number", () => get(`query=${q}&variables=12`)],
      ["GET variables a string", () => get(`query=${q}&variables=%22x%22`)],
      ["GET extensions not JSON", () => get(`query=${q}&extensions=%7B`)],
      ["GET without query", () => get("variables=%7B%7D")],
      ["POST body not JSON", () => post("{not json")],
      ["POST body a list", () => post("[1, 2]")],
      ["POST body a string", () => post('"query"')],
      ["POST body null", () => post("null")],
      ["POST without query", () => post('{"variables": {}}')],
      ["POST query a number", () => post('{"query": 12}')],
      ["POST variables a list", () => post('{"query": "{ auth_info { tenant_id } }", "variables": [1]}')],
      ["POST variables bad string", () => post('{"query": "{ auth_info { tenant_id } }", "variables": "{"}')],
      [
        "POST operationName a number",
        () => post('{"query": "{ auth_info { tenant_id } }", "operationName": 3}'),
      ],
      ["POST text/plain", () => post("{ auth_info { tenant_id } }", "text/plain")],
      [
        "POST extensions with variables nested 5,000 deep",
        () =>
          post(
            `{"query": "query($a: JSON) { auth_info { tenant_id } }", "extensions": {}, "variables": {"a": ${RAW.__DEEP_LIST__}}}`,
          ),
      ],
      [
        "POST variables string nested 5,000 deep",
        () =>
          post(
            JSON.stringify({
              query: "query($a: JSON) { auth_info { tenant_id } }",
              extensions: {},
              variables: `{"a": ${RAW.__DEEP_MAP__}}`,
            }),
          ),
      ],
      ["POST unknown content type", () => post("<xml/>", "application/xml")],
    ];
    for (const [what, send] of bad) {
      const answer = await send();
      expectHandled(answer, what);
      expect(answer.status, `${what}: ${answer.text}`).toBeGreaterThanOrEqual(400);
      expect(answer.body.errors?.[0]?.message, what).toBeTruthy();
    }
  });

  it("refuses a selection or a literal nested 3,000 deep with a code (the nesting limit), never a stack overflow", async () => {
    const deepSelection = (levels: number) => `{${"flow_run{".repeat(levels)}id${"}".repeat(levels)}}`;
    const deepLiteral = (levels: number) =>
      `mutation{set_key_value(input:{key:"deep",value:${"[".repeat(levels)}1${"]".repeat(levels)}}){id}}`;
    // A GET's URL stays within the HTTP server's 16 KB header limit: 1,000 levels there.
    const answers: Array<[string, Answer]> = [
      ["POST selection", await post(JSON.stringify({ query: deepSelection(3_000) }))],
      ["POST literal", await post(JSON.stringify({ query: deepLiteral(3_000) }))],
      ["GET selection", await get(`query=${encodeURIComponent(deepSelection(1_000))}`)],
      ["GET literal", await get(`query=${encodeURIComponent(deepLiteral(1_000))}`)],
    ];
    for (const [what, answer] of answers) {
      expectHandled(answer, what);
      const code = answer.body.errors?.[0]?.extensions?.code;
      expect(
        ["QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"],
        `${what}: ${answer.text.slice(0, 300)}`,
      ).toContain(code);
    }
    expect(
      (await post(JSON.stringify({ query: "{ auth_info { tenant_id } }" }))).body.errors,
    ).toBeUndefined();
  });

  it("answers 60 aliases of a mutation without an internal error", async () => {
    const aliases = Array.from(
      { length: 60 },
      (_, i) => `a${i}: update_flow_run_heartbeat(input: { flow_run_id: "${ids.flow_run_id}" }) { success }`,
    );
    expectHandled(await post(JSON.stringify({ query: `mutation { ${aliases.join(" ")} }` })), "aliases");
  });
});
