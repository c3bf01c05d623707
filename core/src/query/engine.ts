import { ValidationError } from "../errors.js";
import { chargeReads } from "../limits/index.js";
import { couldBeKey } from "../storable.js";
import {
  type BoolExp,
  type Comparison,
  type FieldResolver,
  matches,
  type OrderBy,
  paginate,
  rowComparator,
  sortItems,
} from "./where.js";

/**
 * Hasura-style reads over DynamoDB. Each entity declares how it can be read (by ids, by an
 * exact-match index on a column, or a tenant-wide listing in a natural order); `find` picks the
 * narrowest access path the where-clause allows, filters with the shared evaluator, follows
 * relationships, and refuses a query that would have to read more than `MAX_ITEMS_READ` items.
 */
export type Row = Record<string, unknown>;

export type ColumnType = "uuid" | "String" | "Int" | "Float" | "Boolean" | "timestamptz" | "jsonb";

export type Relationship =
  | { kind: "object"; target: string; column: string }
  | { kind: "array"; target: string; foreignKey: string };

/**
 * What a path may use to read less: the whole where-clause (e.g. to turn a time window into a key
 * range; the clause is still applied to every row it yields) and the order it must yield rows in,
 * one of its `orders`, when `find` relies on it.
 */
export type PathOptions = {
  where: BoolExp | undefined;
  order: OrderBy[] | undefined;
  /** Rows per storage page when `find` will stop early (a small `limit` should not read 1 MB pages). */
  pageSize?: number | undefined;
};

/** An access path: the rows whose `column` equals one of `values`, in the path's natural order. */
export type IndexPath = {
  column: string;
  load: (values: unknown[], options: PathOptions) => AsyncIterable<Row>;
  /** Orders the path yields one value's rows in (e.g. by its sort key): no sorting, early stop. */
  orders?: OrderBy[][];
  /**
   * For a sparse path holding only some rows (e.g. Cached task runs): whether the where-clause
   * keeps only rows the path holds; otherwise the path is not used.
   */
  serves?: (where: BoolExp | undefined) => boolean;
  /** What `serves` asks for, in the words of a where-clause (named in refusals). */
  servesWhen?: string;
};

/**
 * A tenant-wide listing in an order of its own, holding only some rows (e.g. started flow runs by
 * start time): used without a selective filter when the where-clause keeps only rows it holds
 * and the request asks for its order.
 */
export type OrderedListing = {
  order: OrderBy;
  serves: (where: BoolExp | undefined) => boolean;
  /** What `serves` asks for, in the words of a where-clause (named in refusals). */
  servesWhen: string;
  load: (options: { pageSize?: number | undefined }) => AsyncIterable<Row>;
};

/** The filters that give `m` a selective path, for refusals. */
function selectiveFilters(m: EntityModel): string {
  const paths = m.indexes.map((i) => (i.servesWhen ? `${i.column} (with ${i.servesWhen})` : i.column));
  const listings = (m.listings ?? []).map(
    (l) => `${l.servesWhen} with order_by ${JSON.stringify(l.order).replaceAll('"', "")}`,
  );
  return [...new Set(["id", ...paths, ...listings])].join(", ");
}

export type EntityModel = {
  name: string;
  columns: Record<string, ColumnType>;
  relationships: Record<string, Relationship>;
  byIds: (ids: string[]) => Promise<Row[]>;
  indexes: IndexPath[];
  /** Every row of the tenant in `naturalOrder` (absent: the entity must be read through an index). */
  listAll?: (options?: { pageSize?: number | undefined }) => AsyncIterable<Row>;
  naturalOrder?: OrderBy;
  listings?: OrderedListing[];
  /** false: `byIds` cannot serve an `id` filter (ids alone do not locate rows); it is evaluated per row. */
  idPath?: boolean;
};

export const MAX_ITEMS_READ = 5000;

/** Read-budget units of one storage call (a Query page or a BatchGetItem); a row read is one unit. */
export const CALL_UNITS = 10;

const models = new Map<string, EntityModel>();

/**
 * Registers an entity's model. Its `byIds` is charged to the request's read budget (a storage call
 * per 100 ids, `CALL_UNITS` each, plus one unit per id), as are `find`'s calls and rows, so a
 * nested fan-out is bounded by storage work, not by its shape.
 */
export function registerModel(model: EntityModel): void {
  const byIds = model.byIds;
  models.set(model.name, {
    ...model,
    byIds: (ids) => {
      chargeReads(CALL_UNITS * Math.ceil(ids.length / 100) + ids.length);
      return byIds(ids);
    },
  });
}

export function model(name: string): EntityModel {
  const found = models.get(name);
  if (!found) throw new Error(`no model registered for ${name}`);
  return found;
}

export function registeredModels(): EntityModel[] {
  return [...models.values()];
}

export type FindArgs = {
  where?: BoolExp | null;
  order_by?: OrderBy[] | OrderBy | null;
  limit?: number | null;
  offset?: number | null;
  /** Hasura's `distinct_on`: the first row (in `order_by`) of each distinct value of these columns. */
  distinct_on?: string[] | string | null;
};

/**
 * The columns of `distinct_on`, checked as Postgres (through Hasura) checks them: they must be the
 * leading columns of `order_by`, in any order, when an order is given.
 */
function distinctColumns(args: FindArgs): string[] {
  const columns = asList(args.distinct_on);
  if (columns.length === 0) return [];
  const leading = asList(args.order_by)
    .flatMap((o) => Object.keys(o))
    .slice(0, columns.length);
  if (leading.length > 0 && [...leading].sort().join() !== [...columns].sort().join()) {
    throw new ValidationError(`"distinct_on" columns must match initial "order_by" columns`);
  }
  return columns;
}

function distinctRows(rows: Row[], columns: string[]): Row[] {
  if (columns.length === 0) return rows;
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = JSON.stringify(columns.map((c) => row[c] ?? null));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function asList<T>(value: T[] | T | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Values the where-clause pins a column to (`_eq` or `_in`, at the top or inside `_and`). */
function pinned(where: BoolExp | null | undefined, column: string, m: EntityModel): unknown[] | undefined {
  if (!where) return undefined;
  const direct = where[column] as Comparison | undefined;
  if (direct && direct._eq !== undefined && direct._eq !== null) return [direct._eq];
  if (direct && Array.isArray(direct._in)) return direct._in;
  // An object relationship constrained on its id pins the local foreign key.
  for (const [name, rel] of Object.entries(m.relationships)) {
    if (rel.kind !== "object" || rel.column !== column) continue;
    const sub = where[name] as BoolExp | undefined;
    const values = sub ? pinned(sub, "id", model(rel.target)) : undefined;
    if (values) return values;
  }
  for (const sub of asList(where._and)) {
    const values = pinned(sub, column, m);
    if (values) return values;
  }
  return undefined;
}

function sameOrder(a: OrderBy[] | OrderBy | null | undefined, natural: OrderBy | undefined): boolean {
  const list = asList(a);
  if (list.length === 0) return true;
  if (!natural || list.length !== 1) return false;
  return JSON.stringify(list[0]) === JSON.stringify(natural);
}

/** Whether rows in `natural` order are in the requested order (the request is a prefix of it). */
function serves(requested: OrderBy[] | OrderBy | null | undefined, natural: OrderBy[]): boolean {
  const list = asList(requested);
  return (
    list.length <= natural.length && list.every((o, i) => JSON.stringify(o) === JSON.stringify(natural[i]))
  );
}

/**
 * Evaluates a where-clause's relationship fields for the rows of one `find`. Related rows are
 * read once per id within it: the runs of a page mostly share their flow (the CLI's
 * `flow: { name: ... }` filter on every run listing).
 */
function relationshipResolver(
  m: EntityModel,
  related = new Map<string, Promise<Row | undefined>>(),
): FieldResolver<Row> {
  const relatedRow = (target: string, id: string) => {
    const cacheKey = `${target}\u0000${id}`;
    let found = related.get(cacheKey);
    if (!found) {
      found = model(target)
        .byIds([id])
        .then(([row]) => row);
      related.set(cacheKey, found);
    }
    return found;
  };
  return async (row, field, condition) => {
    const rel = m.relationships[field];
    if (!rel) {
      if (!(field in m.columns)) throw new ValidationError(`${m.name} has no field "${field}" to filter on`);
      return undefined;
    }
    const where = condition as BoolExp;
    if (rel.kind === "object") {
      const id = row[rel.column];
      if (typeof id !== "string") return false;
      const target = model(rel.target);
      const found = await relatedRow(rel.target, id);
      return found ? matches(found, where, relationshipResolver(target, related)) : false;
    }
    const children = await find(rel.target, {
      where: { _and: [{ [rel.foreignKey]: { _eq: row.id } }, where] },
      limit: 1,
    });
    return children.length > 0;
  };
}

async function* fromArray(rows: Row[]): AsyncIterable<Row> {
  yield* rows;
}

/** Rows of several streams, each in `compare`'s order, merged into one stream in that order. */
async function* mergeOrdered(streams: AsyncIterable<Row>[], compare: (a: Row, b: Row) => number) {
  const iterators = streams.map((stream) => stream[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((iterator) => iterator.next()));
  for (;;) {
    let best = -1;
    heads.forEach((head, i) => {
      const current = heads[best];
      if (!head.done && (best < 0 || (current && !current.done && compare(head.value, current.value) < 0)))
        best = i;
    });
    const head = heads[best];
    if (!head || head.done) return;
    yield head.value;
    heads[best] = await (iterators[best] as AsyncIterator<Row>).next();
  }
}

/** The where-clause's condition on an object relationship (at the top level or in `_and`). */
function relationshipCondition(where: BoolExp | undefined, name: string): BoolExp | undefined {
  if (!where) return undefined;
  const direct = where[name] as BoolExp | undefined;
  if (direct) return direct;
  for (const sub of asList(where._and)) {
    const found = relationshipCondition(sub, name);
    if (found) return found;
  }
  return undefined;
}

/** Whether a where-clause gives `m` a selective path (an id, or an index column pinned). */
function selective(where: BoolExp, m: EntityModel): boolean {
  if (m.idPath !== false && pinned(where, "id", m)) return true;
  return m.indexes.some((index) => (!index.serves || index.serves(where)) && pinned(where, index.column, m));
}

/**
 * The values of a foreign-key column the rows must have when the where-clause constrains its
 * object relationship selectively (`flow: { name: { _eq: "etl" } }` → the ids of the flows named
 * etl), read through the related entity's own path; none when the condition is not selective.
 */
async function pinnedThrough(
  where: BoolExp | undefined,
  column: string,
  m: EntityModel,
): Promise<unknown[] | undefined> {
  for (const [name, rel] of Object.entries(m.relationships)) {
    if (rel.kind !== "object" || rel.column !== column) continue;
    const condition = relationshipCondition(where, name);
    if (!condition || !selective(condition, model(rel.target))) continue;
    return (await find(rel.target, { where: condition })).map((row) => row.id);
  }
  return undefined;
}

/** Reads the rows of `entity` that match, ordered and paginated, through the narrowest access path. */
/**
 * Rows of `entity` by id, batched: every call made in the same tick for the same `scope` (one
 * GraphQL request's context) shares one `byIds` (BatchGetItem), so a list of 100 runs asking for
 * their flow is one storage call, not 100.
 */
export function loadById(scope: object, entity: string, id: string): Promise<Row | undefined> {
  let batches = pendingLoads.get(scope);
  if (!batches) {
    batches = new Map();
    pendingLoads.set(scope, batches);
  }
  let batch = batches.get(entity);
  if (!batch) {
    const created: LoadBatch = { ids: new Set(), result: undefined };
    created.result = Promise.resolve().then(async () => {
      (batches as Map<string, LoadBatch>).delete(entity);
      const rows = await model(entity).byIds([...created.ids]);
      return new Map(rows.map((row) => [row.id as string, row]));
    });
    batch = created;
    batches.set(entity, batch);
  }
  batch.ids.add(id);
  const result = batch.result as Promise<Map<string, Row>>;
  return result.then((rows) => rows.get(id));
}

type LoadBatch = { ids: Set<string>; result: Promise<Map<string, Row>> | undefined };
const pendingLoads = new WeakMap<object, Map<string, LoadBatch>>();

export async function find(entity: string, args: FindArgs): Promise<Row[]> {
  const m = model(entity);
  chargeReads(CALL_UNITS);
  const where = args.where ?? undefined;
  let source: AsyncIterable<Row> | undefined;
  let natural: OrderBy | undefined;
  let pathOrder: OrderBy[] | undefined;
  const ids = m.idPath === false ? undefined : pinned(where, "id", m);
  if (ids) source = fromArray(await m.byIds(ids.filter((id): id is string => typeof id === "string")));
  const distinct = distinctColumns(args);
  // Without a limit every matching row is returned (a list is never cut short without a word;
  // the request's read budget bounds it, with an error naming limit and offset).
  const wanted = args.limit == null ? Number.POSITIVE_INFINITY : (args.offset ?? 0) + args.limit;
  // When reading can stop early, storage pages need hold little more than the rows wanted.
  const pageSize = Math.min(1000, Math.max(10, wanted + 5));
  for (const index of m.indexes) {
    if (source) break;
    if (index.serves && !index.serves(where)) continue;
    const given = pinned(where, index.column, m) ?? (await pinnedThrough(where, index.column, m));
    if (!given) continue;
    const values = given.filter(couldBeKey);
    if (values.length === 0) {
      source = fromArray([]);
      break;
    }
    pathOrder = distinct.length === 0 ? index.orders?.find((o) => serves(args.order_by, o)) : undefined;
    const options = { where, order: pathOrder, pageSize: pathOrder ? pageSize : undefined };
    // Several values in the path's order: each value's rows read in that order, merged (every
    // value's first page is read at once, each a storage call on the request's budget).
    if (values.length > 1 && pathOrder) chargeReads(CALL_UNITS * values.length);
    source =
      values.length > 1 && pathOrder
        ? mergeOrdered(
            values.map((value) => index.load([value], options)),
            rowComparator(pathOrder),
          )
        : index.load(values, options);
  }
  const listing = source
    ? undefined
    : m.listings?.find((l) => l.serves(where) && sameOrder(args.order_by, l.order));
  if (listing) {
    natural = listing.order;
    source = listing.load({ pageSize: args.limit != null ? pageSize : undefined });
  }
  if (!source) {
    if (!m.listAll) {
      throw new ValidationError(
        `Query on ${entity} needs a filter with _eq or _in on one of: ${selectiveFilters(m)}`,
      );
    }
    natural = m.naturalOrder;
    const early = natural !== undefined && sameOrder(args.order_by, natural) && args.limit != null;
    source = m.listAll({ pageSize: early ? pageSize : undefined });
  }

  // With the path's own order, reading can stop once enough rows match.
  const canStopEarly =
    distinct.length === 0 &&
    (pathOrder !== undefined ||
      (natural !== undefined && sameOrder(args.order_by, natural) && args.limit != null));
  const resolver = relationshipResolver(m);
  const matching: Row[] = [];
  // Rows read and filtered out: a query that reads many rows to return few has no selective path.
  let skipped = 0;
  for await (const row of source) {
    chargeReads(1);
    if (await matches(row, where, resolver)) {
      matching.push(row);
      if (canStopEarly && matching.length >= wanted) break;
    } else if (++skipped > MAX_ITEMS_READ) {
      throw new ValidationError(
        `Query on ${entity} would read more than ${MAX_ITEMS_READ} items it does not return: filter with _eq or _in on one of: ${selectiveFilters(m)}, or add a limit with the default order`,
      );
    }
  }
  const ordered =
    pathOrder || (natural && sameOrder(args.order_by, natural))
      ? matching
      : sortItems(matching, args.order_by ?? undefined);
  return paginate(distinctRows(ordered, distinct), args.limit, args.offset);
}

/** Hasura's `<entity>_aggregate` answer: the rows `find` selects, and aggregates over them. */
export type Aggregate = {
  nodes: Row[];
  aggregate: {
    /** Rows, or non-null values of `columns` (distinct ones with `distinct`), as SQL's COUNT. */
    count: (args: { columns?: string[] | null; distinct?: boolean | null }) => number;
    // Functions, as `count`: GraphQL calls them only when the query selects them.
    max: () => Row;
    min: () => Row;
    sum: () => Row;
    avg: () => Row;
  };
};

function present(rows: Row[], column: string): unknown[] {
  return rows.map((row) => row[column]).filter((v) => v !== null && v !== undefined);
}

function greater(a: unknown, b: unknown): boolean {
  return typeof a === "number" && typeof b === "number" ? a > b : String(a) > String(b);
}

/** One value per column of `columns`, folded from the rows' non-null values of that column. */
function perColumn(rows: Row[], columns: string[], fold: (values: unknown[]) => unknown): Row {
  return Object.fromEntries(columns.map((column) => [column, fold(present(rows, column))]));
}

/**
 * The rows `find` selects for `args` (where, order_by, distinct_on, limit, offset: Hasura counts
 * the selected rows) with their count, max, min, sum and avg (SQL semantics: nulls are skipped;
 * sum and avg of no values are null).
 */
export async function aggregate(entity: string, args: FindArgs): Promise<Aggregate> {
  const rows = await find(entity, args);
  const columns = Object.keys(model(entity).columns);
  const numbers = (values: unknown[]) => values.filter((v): v is number => typeof v === "number");
  const sum = (values: unknown[]) => {
    const n = numbers(values);
    return n.length === 0 ? null : n.reduce((a, b) => a + b, 0);
  };
  return {
    nodes: rows,
    aggregate: {
      count: ({ columns, distinct }) => {
        const list = asList(columns);
        if (list.length === 0) return rows.length;
        const counted = rows.filter((row) => list.every((c) => row[c] !== null && row[c] !== undefined));
        if (!distinct) return counted.length;
        return new Set(counted.map((row) => JSON.stringify(list.map((c) => row[c])))).size;
      },
      max: () =>
        perColumn(rows, columns, (values) =>
          values.reduce<unknown>((best, v) => (best === null || greater(v, best) ? v : best), null),
        ),
      min: () =>
        perColumn(rows, columns, (values) =>
          values.reduce<unknown>((best, v) => (best === null || greater(best, v) ? v : best), null),
        ),
      sum: () => perColumn(rows, columns, sum),
      avg: () =>
        perColumn(rows, columns, (values) => {
          const n = numbers(values);
          return n.length === 0 ? null : (sum(n) ?? 0) / n.length;
        }),
    },
  };
}
