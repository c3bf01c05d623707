import type { GraphQLResolveInfo } from "graphql";
import {
  aggregate,
  type ColumnType,
  type EntityModel,
  type FindArgs,
  find,
  loadById,
  type Row,
} from "#core/query/engine.js";
import { MODELS } from "#core/query/models.js";

/**
 * The Hasura-style read API, generated from core's entity models: for each entity a type with
 * its columns and relationships, `<entity>_bool_exp`, `<entity>_order_by`, and the root fields
 * `<entity>(where, order_by, limit, offset)` and `<entity>_by_pk(id)`. Every read goes through
 * `find`, which picks an index from the where-clause. Extra computed fields live with their domain.
 */
const COMPARISON: Record<string, string> = {
  uuid: "uuid_comparison_exp",
  String: "String_comparison_exp",
  Int: "Int_comparison_exp",
  Float: "Float_comparison_exp",
  Boolean: "Boolean_comparison_exp",
  timestamptz: "timestamptz_comparison_exp",
  jsonb: "jsonb_comparison_exp",
};

const LIST_ARGS = (target: string) =>
  `(where: ${target}_bool_exp, order_by: [${target}_order_by!], limit: Int, offset: Int, distinct_on: [${target}_select_column!])`;

/** Columns `min`/`max` apply to (Hasura: comparable scalars) and `sum`/`avg` (numbers). */
const ORDERED: ColumnType[] = ["Int", "Float", "String", "timestamptz", "uuid"];
const NUMERIC: ColumnType[] = ["Int", "Float"];

/** Hasura's aggregate types of an entity: `<entity>_aggregate { aggregate { count max min sum avg } nodes }`. */
function aggregateSdl(m: EntityModel): string {
  const columns = Object.entries(m.columns);
  const ordered = columns.filter(([, type]) => ORDERED.includes(type));
  const numeric = columns.filter(([, type]) => NUMERIC.includes(type));
  const fieldsType = (suffix: string, list: Array<[string, ColumnType]>, as?: string) =>
    list.length === 0
      ? ""
      : `type ${m.name}_${suffix}_fields {\n${list.map(([name, type]) => `  ${name}: ${as ?? type}`).join("\n")}\n}\n`;
  const fields = [
    `  count(columns: [${m.name}_select_column!], distinct: Boolean): Int!`,
    ...(ordered.length > 0 ? [`  max: ${m.name}_max_fields`, `  min: ${m.name}_min_fields`] : []),
    ...(numeric.length > 0 ? [`  sum: ${m.name}_sum_fields`, `  avg: ${m.name}_avg_fields`] : []),
  ];
  return `enum ${m.name}_select_column {\n${columns.map(([name]) => `  ${name}`).join("\n")}\n}\n
type ${m.name}_aggregate {\n  aggregate: ${m.name}_aggregate_fields\n  nodes: [${m.name}!]!\n}\n
type ${m.name}_aggregate_fields {\n${fields.join("\n")}\n}\n
${fieldsType("max", ordered)}${fieldsType("min", ordered)}${fieldsType("sum", numeric)}${fieldsType("avg", numeric, "Float")}
type Query {\n  ${m.name}_aggregate${LIST_ARGS(m.name)}: ${m.name}_aggregate!\n}\n`;
}

function entitySdl(m: EntityModel): string {
  const columns = Object.entries(m.columns);
  const relationships = Object.entries(m.relationships);
  const fields = [
    ...columns.map(([name, type]) => `  ${name}: ${type}`),
    ...relationships.flatMap(([name, rel]) =>
      rel.kind === "object"
        ? [`  ${name}: ${rel.target}`]
        : [
            `  ${name}${LIST_ARGS(rel.target)}: [${rel.target}!]!`,
            `  ${name}_aggregate${LIST_ARGS(rel.target)}: ${rel.target}_aggregate!`,
          ],
    ),
  ];
  const boolExp = [
    `  _and: [${m.name}_bool_exp!]`,
    `  _or: [${m.name}_bool_exp!]`,
    `  _not: ${m.name}_bool_exp`,
    ...columns.map(([name, type]) => `  ${name}: ${COMPARISON[type]}`),
    ...relationships.map(([name, rel]) => `  ${name}: ${rel.target}_bool_exp`),
  ];
  const orderBy = columns.filter(([, type]) => type !== "jsonb").map(([name]) => `  ${name}: order_by`);
  const byPk = m.columns.id === "uuid" ? `  ${m.name}_by_pk(id: uuid!): ${m.name}\n` : "";
  return `type ${m.name} {\n${fields.join("\n")}\n}\n
input ${m.name}_bool_exp {\n${boolExp.join("\n")}\n}\n
input ${m.name}_order_by {\n${orderBy.join("\n")}\n}\n
type Query {\n  ${m.name}${LIST_ARGS(m.name)}: [${m.name}!]!\n${byPk}}\n`;
}

export const readTypeDefs = /* GraphQL */ `
  input Float_comparison_exp {
    _eq: Float
    _neq: Float
    _in: [Float!]
    _nin: [Float!]
    _gt: Float
    _gte: Float
    _lt: Float
    _lte: Float
    _is_null: Boolean
  }

  input jsonb_comparison_exp {
    _eq: jsonb
    _neq: jsonb
    _is_null: Boolean
  }

  ${MODELS.map(entitySdl).join("\n")}
  ${MODELS.map(aggregateSdl).join("\n")}
`;

type Resolver = (parent: Row, args: FindArgs, context: object, info: GraphQLResolveInfo) => unknown;

/**
 * Relationship reads of one query, by target and arguments: a nested selection that comes back to
 * rows it already read (`flow_run { task_runs { flow_run { task_runs … } } }`) reads them once,
 * as a per-request DataLoader would, instead of once per parent, so a cyclic fan-out costs the
 * distinct reads it makes, not its shape. Only queries: a mutation's later fields must see its
 * earlier writes. Bounded by the request's read budget (each distinct read is charged).
 */
const readsOfRequest = new WeakMap<object, Map<string, Promise<unknown>>>();

function once<T>(
  context: object,
  info: GraphQLResolveInfo,
  key: unknown[],
  read: () => Promise<T>,
): Promise<T> {
  if (info.operation.operation !== "query") return read();
  let reads = readsOfRequest.get(context);
  if (!reads) {
    reads = new Map();
    readsOfRequest.set(context, reads);
  }
  const id = JSON.stringify(key);
  let found = reads.get(id) as Promise<T> | undefined;
  if (!found) {
    found = read();
    reads.set(id, found);
  }
  return found;
}

function entityResolvers(m: EntityModel) {
  const fields: Record<string, Resolver> = {};
  for (const [name, rel] of Object.entries(m.relationships)) {
    if (rel.kind === "object") {
      // Batched per request and tick: a list's rows share one BatchGetItem for their relation.
      fields[name] = async (parent, _args, context, info) => {
        const id = parent[rel.column];
        if (typeof id !== "string") return null;
        return (await once(context, info, [rel.target, id], () => loadById(context, rel.target, id))) ?? null;
      };
    } else {
      const scoped = (parent: Row, args: FindArgs): FindArgs => ({
        ...args,
        where: { _and: [{ [rel.foreignKey]: { _eq: parent.id } }, args.where ?? {}] },
      });
      fields[name] = (parent, args, context, info) =>
        once(context, info, [rel.target, parent.id, args], () => find(rel.target, scoped(parent, args)));
      fields[`${name}_aggregate`] = (parent, args, context, info) =>
        once(context, info, ["aggregate", rel.target, parent.id, args], () =>
          aggregate(rel.target, scoped(parent, args)),
        );
    }
  }
  return fields;
}

export const readResolvers = {
  Query: Object.fromEntries(
    MODELS.flatMap((m) => [
      [m.name, (_: unknown, args: FindArgs) => find(m.name, args)],
      [`${m.name}_aggregate`, (_: unknown, args: FindArgs) => aggregate(m.name, args)],
      ...(m.columns.id === "uuid"
        ? [
            [
              `${m.name}_by_pk`,
              async (_: unknown, args: { id: string }) => (await m.byIds([args.id]))[0] ?? null,
            ],
          ]
        : []),
    ]),
  ),
  ...Object.fromEntries(MODELS.map((m) => [m.name, entityResolvers(m)])),
};
