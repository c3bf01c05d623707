import type { IRole } from "aws-cdk-lib/aws-iam";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ApiKeyKeys } from "#core/api-key/keys.js";
import { MAIN_TABLE, TABLES } from "#core/dynamo/tables.js";
import {
  API_KEY_BY_ID_INDEX,
  API_KEY_BY_ID_PATTERN,
  API_KEY_ITEM_PATTERN,
  ITEM_APPEND,
  ITEM_READ,
  ITEM_WRITE,
} from "../../infra/lib/access.js";
import { removeSynth, synthDrover } from "./synth.js";
import { actions, dynamoAccess, logicalId, referencedIds, resources, roleStatements } from "./template.js";

let synth: ReturnType<typeof synthDrover>;
beforeAll(() => {
  synth = synthDrover();
});
afterAll(() => removeSynth(synth));

const ids = () => {
  const { tables, api, scheduler, ingestion, events } = synth.stack;
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
      events: logicalId(events.publisher.role),
      hooks: logicalId(events.hooks.role),
    },
  };
};
const sorted = (values: Iterable<string>) => [...values].sort();

/** An IAM `StringLike` pattern as a regular expression (`*`: any run of characters, `?`: one). */
function likePattern(pattern: string): RegExp {
  const body = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`);
}

/** The index names of `{"Fn::Join": ["", [<table ARN>, "/index/<name>"]]}` resources of one table. */
function indexArns(resource: unknown, tableId: string): string[] {
  const list = Array.isArray(resource) ? resource : [resource];
  return list.flatMap((entry) => {
    const parts = (entry as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"]?.[1];
    if (!parts || !referencedIds(parts[0]).has(tableId) || referencedIds(parts).size !== 1) return [];
    const suffix = parts.slice(1).join("");
    const name = /^\/index\/([^/*]+)$/.exec(suffix)?.[1];
    return name ? [name] : [];
  });
}
const READ_WRITE = sorted([...ITEM_READ, ...ITEM_WRITE]);

/** A role's grants as "actions on resource" lines: the whole of what it may do, in one value. */
function grants(roleId: string): string[] {
  return roleStatements(synth.template, roleId)
    .map((s) => {
      expect(s.Effect).toBe("Allow");
      expect((s as { Condition?: unknown }).Condition).toBeUndefined();
      return `${sorted(actions(s)).join(",")} on ${JSON.stringify(s.Resource)}`;
    })
    .sort();
}
const arn = (id: string, attribute = "Arn") => JSON.stringify({ "Fn::GetAtt": [id, attribute] });

describe("least privilege", () => {
  test("the KV function reads and writes the KV table's items, and of the main table only API keys", () => {
    const { kv, main, roles } = ids();
    const access = dynamoAccess(synth.template, roles.kv);
    expect(sorted(access.keys())).toEqual(sorted([kv, main]));
    expect(sorted(access.get(kv) ?? [])).toEqual(READ_WRITE);
    const other = roleStatements(synth.template, roles.kv).filter(
      (s) => !actions(s).some((a) => a.startsWith("dynamodb:")),
    );
    expect(other.flatMap(actions).sort()).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"]);
    expect(referencedIds(other.map((s) => s.Resource))).toEqual(
      new Set([logicalId(synth.stack.api.kv.logGroup)]),
    );
  });

  test("on the main table the KV function may only GetItem API-key items and find keys by id, LeadingKeys-fenced", () => {
    const { main, roles } = ids();
    const onMain = roleStatements(synth.template, roles.kv).filter((s) =>
      referencedIds(s.Resource).has(main),
    );
    const fenced = (pattern: string) => ({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [pattern] },
    });
    expect(onMain).toEqual([
      {
        Effect: "Allow",
        Action: "dynamodb:GetItem",
        Resource: { "Fn::GetAtt": [main, "Arn"] },
        Condition: fenced("apikey#*"),
      },
      {
        Effect: "Allow",
        Action: "dynamodb:Query",
        Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [main, "Arn"] }, `/index/${API_KEY_BY_ID_INDEX}`]] },
        Condition: fenced(API_KEY_BY_ID_PATTERN),
      },
    ]);
  });

  test("the LeadingKeys patterns admit exactly the partition keys core's API-key lookups use", () => {
    const tenantId = "0b5f3a4e-8a7d-4c1e-9f00-1234567890ab";
    const keyId = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    const hash = "a".repeat(64);
    const item = likePattern(API_KEY_ITEM_PATTERN);
    expect(item.test(ApiKeyKeys.item(hash).pk)).toBe(true);
    const byId = likePattern(API_KEY_BY_ID_PATTERN);
    expect(byId.test(ApiKeyKeys.byId(tenantId, keyId).gsi2pk)).toBe(true);
    // The only lookup items outside a tenant's prefix besides the keys, and any tenant's own data.
    for (const other of [
      `tenant-slug#acme`,
      `${tenantId}#flow#${keyId}`,
      `${tenantId}#api-keys`,
      ApiKeyKeys.listPartition(tenantId),
      `x${tenantId}#api-key#${keyId}`,
      `flow#${tenantId}#api-key#${keyId}`,
    ]) {
      expect(item.test(other), other).toBe(false);
      expect(byId.test(other), other).toBe(false);
    }
    // The id index is where core looks keys up by id.
    expect(MAIN_TABLE.indexes.map((index) => index.name)).toContain(API_KEY_BY_ID_INDEX);
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

  test("only the API function may use the secrets key, to make and open data keys, and it is told which key", () => {
    const key = logicalId(synth.stack.api.secretsKey);
    const { roles } = ids();
    for (const [name, role] of Object.entries(roles)) {
      const onKey = roleStatements(synth.template, role).filter((s) => referencedIds(s.Resource).has(key));
      expect(onKey.flatMap(actions).sort(), name).toEqual(
        name === "api" ? ["kms:Decrypt", "kms:GenerateDataKey"] : [],
      );
    }
    const fn = resources(synth.template, "AWS::Lambda::Function")[
      logicalId(synth.stack.api.api.fn)
    ] as unknown as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    expect(referencedIds(fn.Properties.Environment.Variables.DROVER_SECRETS_KMS_KEY_ID)).toEqual(
      new Set([key]),
    );
    const keyResource = resources(synth.template, "AWS::KMS::Key")[key] as unknown as {
      Properties: Record<string, unknown>;
      DeletionPolicy: string;
    };
    expect(keyResource.Properties.EnableKeyRotation).toBe(true);
    expect(keyResource.DeletionPolicy).toBe("Retain");
  });

  test("the scheduler reads and writes the main table and appends logs; the logs consumer appends logs and updates the main table", () => {
    const { main, logs, roles } = ids();
    const scheduler = dynamoAccess(synth.template, roles.scheduler);
    // Logs: the lines explaining what the health checks (late, zombie, lazarus) did to a run.
    expect(sorted(scheduler.keys())).toEqual(sorted([main, logs]));
    expect(sorted(scheduler.get(logs) ?? [])).toEqual(sorted(ITEM_APPEND));
    const consumer = dynamoAccess(synth.template, roles.logs);
    expect(sorted(consumer.keys())).toEqual(sorted([main, logs]));
    expect(sorted(consumer.get(logs) ?? [])).toEqual(sorted(ITEM_APPEND));
    expect(sorted(consumer.get(main) ?? [])).toEqual(READ_WRITE);
  });

  test("the logs consumer may send to the DLQ (it parks unstorable lines there alone, named by its environment)", () => {
    const { ingestion } = synth.stack;
    const dlq = logicalId(ingestion.deadLetterQueue);
    const statements = roleStatements(synth.template, ids().roles.logs);
    expect(
      statements.some((s) => actions(s).includes("sqs:SendMessage") && referencedIds(s.Resource).has(dlq)),
    ).toBe(true);
    const fn = resources(synth.template, "AWS::Lambda::Function")[logicalId(ingestion.consumer.fn)];
    const environment = fn?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
    expect(environment?.Variables?.DROVER_INGEST_DLQ_URL).toEqual({ Ref: dlq });
  });

  test("the events function reads the main table's stream, puts events on the bus and parks batches in its DLQ; no table items", () => {
    const { main, bus, roles } = ids();
    const { events } = synth.stack;
    expect(grants(roles.events)).toEqual(
      sorted([
        `logs:CreateLogStream,logs:PutLogEvents on ${arn(logicalId(events.publisher.logGroup))}`,
        // The event source's grant: the stream's records on its ARN; ListStreams has no resource level.
        `dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator on ${arn(main, "StreamArn")}`,
        `dynamodb:ListStreams on "*"`,
        `events:PutEvents on ${arn(bus)}`,
        // The on-failure destination's grant (Lambda sends it the batch's shard and sequence range).
        `sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage on ${arn(logicalId(events.deadLetterQueue))}`,
      ]),
    );
  });

  test("the hooks function may only read and write the main table's items by key (no index, no delete), and consume its queue", () => {
    const { main, roles } = ids();
    const { events } = synth.stack;
    expect(grants(roles.hooks)).toEqual(
      sorted([
        `logs:CreateLogStream,logs:PutLogEvents on ${arn(logicalId(events.hooks.logGroup))}`,
        // No index, no Delete or transaction, nothing of the KV or logs tables.
        `dynamodb:BatchGetItem,dynamodb:BatchWriteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on ${arn(main)}`,
        `sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage on ${arn(logicalId(events.hooksQueue))}`,
      ]),
    );
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

  test("every index core declares (TABLES) may be queried by the roles that read its table", () => {
    const { roles } = ids();
    const tableIds = ids();
    const readers: Record<string, string[]> = {
      main: [roles.api, roles.scheduler, roles.logs],
      kv: [roles.api],
      logs: [roles.api],
    };
    for (const definition of TABLES) {
      const tableId = tableIds[definition.logicalName];
      for (const role of readers[definition.logicalName] ?? []) {
        const queried = new Set(
          roleStatements(synth.template, role)
            .filter((s) => actions(s).includes("dynamodb:Query"))
            .flatMap((s) => indexArns(s.Resource, tableId)),
        );
        expect(sorted(queried), `${role} on ${definition.logicalName}`).toEqual(
          sorted(definition.indexes.map((index) => index.name)),
        );
      }
    }
  });

  test("no Drover role can Scan, use an action wildcard, or act on every resource", () => {
    const { roles } = ids();
    for (const role of Object.values(roles)) {
      for (const statement of roleStatements(synth.template, role)) {
        expect(actions(statement)).not.toContain("dynamodb:Scan");
        expect(actions(statement).filter((action) => action.includes("*"))).toEqual([]);
        // The one exception: ListStreams (no resource-level permission) for the stream's consumer.
        if (role === roles.events && statement.Resource === "*") {
          expect(actions(statement)).toEqual(["dynamodb:ListStreams"]);
          continue;
        }
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
      synth.stack.events.publisher.role,
      synth.stack.events.hooks.role,
    ];
    for (const role of functionRoles) {
      expect(
        resources(synth.template, "AWS::IAM::Role")[logicalId(role)]?.Properties?.ManagedPolicyArns,
      ).toBeUndefined();
    }
  });
});
