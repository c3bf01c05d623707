import type { IRole } from "aws-cdk-lib/aws-iam";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ITEM_APPEND, ITEM_READ, ITEM_WRITE } from "../../infra/lib/access.js";
import { removeSynth, synthDrover } from "./synth.js";
import { actions, dynamoAccess, logicalId, referencedIds, resources, roleStatements } from "./template.js";

let synth: ReturnType<typeof synthDrover>;
beforeAll(() => {
  synth = synthDrover();
});
afterAll(() => removeSynth(synth));

const ids = () => {
  const { tables, api, scheduler, ingestion } = synth.stack;
  return {
    main: logicalId(tables.main),
    kv: logicalId(tables.kv),
    logs: logicalId(tables.logs),
    queue: logicalId(ingestion.queue),
    bus: logicalId(synth.stack.eventBus),
    roles: {
      api: logicalId(api.api.role),
      kv: logicalId(api.kv.role),
      scheduler: logicalId(scheduler.function.role),
      logs: logicalId(ingestion.consumer.role),
    },
  };
};
const sorted = (values: Iterable<string>) => [...values].sort();
const READ_WRITE = sorted([...ITEM_READ, ...ITEM_WRITE]);

describe("least privilege", () => {
  test("the KV function may touch only the KV table's items (and write its own log group)", () => {
    const { kv, roles } = ids();
    const access = dynamoAccess(synth.template, roles.kv);
    expect([...access.keys()]).toEqual([kv]);
    expect(sorted(access.get(kv) ?? [])).toEqual(READ_WRITE);
    const other = roleStatements(synth.template, roles.kv).filter(
      (s) => !actions(s).some((a) => a.startsWith("dynamodb:")),
    );
    expect(other.flatMap(actions).sort()).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"]);
    expect(referencedIds(other.map((s) => s.Resource))).toEqual(
      new Set([logicalId(synth.stack.api.kv.logGroup)]),
    );
  });

  test("the API function reads and writes the main and KV tables, reads logs, sends to the queue and puts events", () => {
    const { main, kv, logs, queue, bus, roles } = ids();
    const access = dynamoAccess(synth.template, roles.api);
    expect(sorted(access.get(main) ?? [])).toEqual(READ_WRITE);
    expect(sorted(access.get(kv) ?? [])).toEqual(READ_WRITE);
    expect(sorted(access.get(logs) ?? [])).toEqual(sorted(ITEM_READ));
    const statements = roleStatements(synth.template, roles.api);
    const allowed = (action: string, resource: string) =>
      statements.some((s) => actions(s).includes(action) && referencedIds(s.Resource).has(resource));
    expect(allowed("sqs:SendMessage", queue)).toBe(true);
    expect(allowed("events:PutEvents", bus)).toBe(true);
  });

  test("the scheduler reaches only the main table, the logs consumer appends logs and updates the main table", () => {
    const { main, logs, roles } = ids();
    const scheduler = dynamoAccess(synth.template, roles.scheduler);
    expect([...scheduler.keys()]).toEqual([main]);
    const consumer = dynamoAccess(synth.template, roles.logs);
    expect(sorted(consumer.keys())).toEqual(sorted([main, logs]));
    expect(sorted(consumer.get(logs) ?? [])).toEqual(sorted(ITEM_APPEND));
    expect(sorted(consumer.get(main) ?? [])).toEqual(READ_WRITE);
  });

  test("indexes are queried by their exact ARNs, never through index/*", () => {
    const statement = roleStatements(synth.template, ids().roles.scheduler).find(
      (s) => JSON.stringify(s.Resource).includes("/index/") && actions(s).includes("dynamodb:Query"),
    );
    expect(JSON.stringify(statement?.Resource)).toMatch(/\/index\/gsi1"/);
    for (const policy of Object.values(resources(synth.template, "AWS::IAM::Policy"))) {
      expect(JSON.stringify(policy)).not.toContain("/index/*");
    }
  });

  test("no Drover role can Scan, use an action wildcard, or act on every resource", () => {
    for (const role of Object.values(ids().roles)) {
      for (const statement of roleStatements(synth.template, role)) {
        expect(actions(statement)).not.toContain("dynamodb:Scan");
        expect(actions(statement).filter((action) => action.includes("*"))).toEqual([]);
        expect(statement.Resource).not.toBe("*");
      }
    }
  });

  test("function roles carry no managed policies (AWSLambdaBasicExecutionRole can write any log group)", () => {
    const functionRoles: IRole[] = [
      synth.stack.api.api.role,
      synth.stack.api.kv.role,
      synth.stack.scheduler.function.role,
      synth.stack.ingestion.consumer.role,
    ];
    for (const role of functionRoles) {
      expect(
        resources(synth.template, "AWS::IAM::Role")[logicalId(role)]?.Properties?.ManagedPolicyArns,
      ).toBeUndefined();
    }
  });
});
