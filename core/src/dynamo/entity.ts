import { GetCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import type { ColumnType } from "../query/engine.js";
import { mainTable, useDynamo } from "./client.js";
import { batchGet } from "./operations.js";

/**
 * One declaration per stored entity: its attributes (a zod shape whose builders also name the
 * read model's column type), its primary key, the index keys it is written with, and which
 * attributes are bookkeeping rather than columns. The TypeScript type (`EntityOf<typeof E>`), the
 * item written (`toItem`), the value read back (`fromItem`), the read model's columns and the
 * key-based reads all follow from it, so an attribute is named in exactly one place.
 *
 * Version-locked transitions (core/src/state/transition.ts) still write their own UpdateItems;
 * what they read back goes through `fromItem`.
 */

const COLUMN_TYPES = new WeakMap<z.ZodType, ColumnType>();

function typed<T extends z.ZodType>(type: ColumnType, schema: T): T {
  COLUMN_TYPES.set(schema, type);
  return schema;
}

/** Attribute builders: the zod schema of the value, tagged with its GraphQL column type. */
export const attr = {
  uuid: () => typed("uuid", z.string()),
  string: () => typed("String", z.string()),
  int: () => typed("Int", z.number().int()),
  float: () => typed("Float", z.number()),
  boolean: () => typed("Boolean", z.boolean()),
  /** An ISO-8601 instant, as stored (UTC). */
  timestamp: () => typed("timestamptz", z.string()),
  json: () => typed("jsonb", z.unknown()),
  /** A JSON value with a known shape (still read as `jsonb`). */
  jsonOf: <T extends z.ZodType>(schema: T) => typed("jsonb", schema),
};

/** The column type of an attribute, looking through `.nullable()`, `.optional()` and `.default()`. */
function columnType(schema: z.ZodType): ColumnType | undefined {
  let current: unknown = schema;
  for (let depth = 0; depth < 8 && current; depth++) {
    const found = COLUMN_TYPES.get(current as z.ZodType);
    if (found) return found;
    const unwrap = (current as { unwrap?: () => unknown }).unwrap;
    current = typeof unwrap === "function" ? unwrap.call(current) : undefined;
  }
  return undefined;
}

type Key = { pk: string; sk: string };
type IndexKeys = Record<string, string | number | undefined>;

export type EntityDefinition<S extends z.ZodRawShape, K> = {
  /** The read model's name, and the `entity` attribute of its items unless `itemName` says otherwise. */
  name: string;
  itemName?: string;
  attributes: S;
  /** The primary key, from the attributes that locate an item. */
  key: (at: K) => Key;
  /** Index key attributes written with the item (omitted when a function returns undefined for one). */
  indexes?: (value: z.infer<z.ZodObject<S>>) => IndexKeys;
  /** Attributes kept on the value but not offered as read-model columns (bookkeeping). */
  hidden?: ReadonlyArray<keyof S & string>;
};

export type Entity<S extends z.ZodRawShape, K> = {
  name: string;
  schema: z.ZodObject<S>;
  /** The read model's columns, in declaration order. */
  columns: Record<string, ColumnType>;
  key: (at: K) => Key;
  /** The item to write: keys, index keys, `entity`, then the attributes. */
  toItem: (value: z.input<z.ZodObject<S>>) => Key & Record<string, unknown>;
  /** The value of a stored item: declared attributes only, declared defaults for missing ones. */
  fromItem: (item: Record<string, unknown>) => z.infer<z.ZodObject<S>>;
  get: (at: K, options?: { consistent?: boolean }) => Promise<z.infer<z.ZodObject<S>> | undefined>;
  getMany: (ats: K[], options?: { consistent?: boolean }) => Promise<Array<z.infer<z.ZodObject<S>>>>;
};

/** What `toItem` takes: attributes with declared defaults may be left out. */
export type EntityInput<E> = E extends { schema: z.ZodObject<infer S> } ? z.input<z.ZodObject<S>> : never;

export type EntityOf<E> = E extends { fromItem: (item: Record<string, unknown>) => infer V } ? V : never;

export function defineEntity<S extends z.ZodRawShape, K>(definition: EntityDefinition<S, K>): Entity<S, K> {
  const schema = z.object(definition.attributes);
  const names = Object.keys(definition.attributes);
  const hidden = new Set<string>(definition.hidden ?? []);
  const columns: Record<string, ColumnType> = {};
  const fallbacks = new Map<string, () => unknown>();
  for (const name of names) {
    const attribute = definition.attributes[name] as z.ZodType;
    const type = columnType(attribute);
    if (!type) throw new Error(`${definition.name}.${name}: declare it with an attr builder`);
    if (!hidden.has(name)) columns[name] = type;
    if (attribute instanceof z.ZodDefault) {
      const parsed = () => attribute.parse(undefined);
      fallbacks.set(name, parsed);
    }
  }
  type Value = z.infer<typeof schema>;

  const fromItem = (item: Record<string, unknown>): Value => {
    const value: Record<string, unknown> = {};
    for (const name of names) {
      const stored = item[name];
      if (stored !== undefined) value[name] = stored;
      else {
        const fallback = fallbacks.get(name);
        if (fallback) value[name] = fallback();
      }
    }
    return value as Value;
  };

  const toItem = (value: z.input<typeof schema>): Key & Record<string, unknown> => {
    const full = fromItem(value as Record<string, unknown>);
    const item: Key & Record<string, unknown> = { ...definition.key(full as unknown as K) };
    for (const [attribute, keyValue] of Object.entries(definition.indexes?.(full) ?? {})) {
      if (keyValue !== undefined) item[attribute] = keyValue;
    }
    item.entity = definition.itemName ?? definition.name;
    for (const name of names) {
      const v = (value as Record<string, unknown>)[name];
      if (v !== undefined) item[name] = v;
    }
    return item;
  };

  return {
    name: definition.name,
    schema,
    columns,
    key: definition.key,
    toItem,
    fromItem,
    async get(at, options = {}) {
      const result = await useDynamo().send(
        new GetCommand({
          TableName: mainTable(),
          Key: definition.key(at),
          ...(options.consistent ? { ConsistentRead: true } : {}),
        }),
      );
      return result.Item ? fromItem(result.Item) : undefined;
    },
    async getMany(ats, options = {}) {
      const items = await batchGet(ats.map(definition.key), options);
      return items.map(fromItem);
    },
  };
}
