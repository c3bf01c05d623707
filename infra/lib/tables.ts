import { RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table } from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";
import { TABLES, type TableDefinition } from "#core/dynamo/tables.js";
import type { StageSettings } from "./settings.js";

const STREAM_VIEW_TYPES: Record<NonNullable<TableDefinition["stream"]>, StreamViewType> = {
  NEW_AND_OLD_IMAGES: StreamViewType.NEW_AND_OLD_IMAGES,
};

export type LogicalTableName = TableDefinition["logicalName"];

/**
 * The DynamoDB tables, built from the same declarations (core/src/dynamo/tables.ts) the local
 * runtime creates its tables from, so keys, indexes, the TTL attribute and the change stream (the
 * main table's, the outbox of the event backbone) cannot drift.
 */
export class DroverTables extends Construct {
  readonly tables: Record<LogicalTableName, { table: Table; definition: TableDefinition }>;

  constructor(scope: Construct, id: string, settings: StageSettings) {
    super(scope, id);
    const entries = TABLES.map((definition) => [
      definition.logicalName,
      { table: this.build(definition, settings), definition },
    ]);
    this.tables = Object.fromEntries(entries) as DroverTables["tables"];
  }

  get main(): Table {
    return this.tables.main.table;
  }

  get kv(): Table {
    return this.tables.kv.table;
  }

  get logs(): Table {
    return this.tables.logs.table;
  }

  private build(definition: TableDefinition, settings: StageSettings): Table {
    const id = `${definition.logicalName[0]?.toUpperCase()}${definition.logicalName.slice(1)}Table`;
    const table = new Table(this, id, {
      partitionKey: { name: definition.pk, type: AttributeType.STRING },
      sortKey: { name: definition.sk, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: definition.ttlAttribute,
      ...(definition.stream ? { stream: STREAM_VIEW_TYPES[definition.stream] } : {}),
      deletionProtection: settings.production,
      removalPolicy: settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const index of definition.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.pk, type: AttributeType.STRING },
        sortKey: { name: index.sk, type: AttributeType.STRING },
        projectionType: index.projection === "KEYS_ONLY" ? ProjectionType.KEYS_ONLY : ProjectionType.ALL,
      });
    }
    return table;
  }
}
