import { ValidationError } from "../errors.js";
import { compareTimes } from "../time.js";

/** What every ISO 8601 timestamp starts with (a cheap test before parsing). */
const TIMESTAMP_START = /^\d{4}-\d{2}-\d{2}[T ]\d/;

/**
 * Hasura-style boolean expressions (`where`) evaluated over plain items, and `order_by`,
 * `limit`, `offset`. Storage chooses which items to read (by an index picked from the
 * expression); this module decides which of them match, so every entity filters the same way.
 */
export type Comparison = {
  _eq?: unknown;
  _neq?: unknown;
  _in?: unknown[];
  _nin?: unknown[];
  _gt?: unknown;
  _gte?: unknown;
  _lt?: unknown;
  _lte?: unknown;
  _is_null?: boolean;
  _like?: string;
  _ilike?: string;
};

export type BoolExp = {
  _and?: BoolExp[] | BoolExp;
  _or?: BoolExp[] | BoolExp;
  _not?: BoolExp;
  [column: string]: unknown;
};

/** Resolves a relationship or column of an item for filtering (relationships may need I/O). */
export type FieldResolver<T> = (item: T, field: string, condition: unknown) => Promise<boolean | undefined>;

const COMPARISON_OPERATORS = new Set([
  "_eq",
  "_neq",
  "_in",
  "_nin",
  "_gt",
  "_gte",
  "_lt",
  "_lte",
  "_is_null",
  "_like",
  "_ilike",
]);

function asList(value: BoolExp[] | BoolExp | undefined): BoolExp[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Numbers as numbers, timestamps as times (whatever their precision and zone), else as strings. */
function compare(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string" && TIMESTAMP_START.test(a) && TIMESTAMP_START.test(b)) {
    const times = compareTimes(a, b);
    if (times !== undefined) return times;
  }
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** The longest `_like`/`_ilike` pattern accepted (matching costs at most pattern × value steps). */
export const MAX_LIKE_PATTERN = 1000;

/** One position of a LIKE pattern: a literal character, `_` (any one) or `%` (any run). */
type LikeToken = string | typeof ANY_ONE | typeof ANY_RUN;
const ANY_ONE = Symbol("_");
const ANY_RUN = Symbol("%");

/**
 * A LIKE pattern as Postgres reads it (Hasura passes `_like` through): `%` any run of characters,
 * `_` exactly one, a backslash makes the next character literal (`\%`, `\_`, `\\`); a pattern
 * ending in a lone backslash is an error, as in Postgres. Runs of `%` collapse into one.
 */
function likeTokens(pattern: string, fold: boolean): LikeToken[] {
  if (pattern.length > MAX_LIKE_PATTERN) {
    throw new ValidationError(`_like/_ilike pattern is longer than ${MAX_LIKE_PATTERN} characters`);
  }
  const chars = Array.from(fold ? pattern.toLowerCase() : pattern);
  const tokens: LikeToken[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === "\\") {
      const next = chars[++i];
      if (next === undefined)
        throw new ValidationError("_like/_ilike pattern must not end with the escape character \\");
      tokens.push(next);
    } else if (c === "%") {
      if (tokens[tokens.length - 1] !== ANY_RUN) tokens.push(ANY_RUN);
    } else if (c === "_") {
      tokens.push(ANY_ONE);
    } else {
      tokens.push(c);
    }
  }
  return tokens;
}

/**
 * Whether `value` matches the LIKE `pattern`, without backtracking regular expressions: the classic
 * wildcard algorithm, which only ever returns to the most recent `%` (an earlier one can absorb
 * nothing a later one could not), so it takes at most value × pattern steps, and usually about
 * value + pattern. `steps`, when given, counts the comparisons made (for tests).
 */
export function likeMatch(
  value: string,
  pattern: string,
  options: { caseInsensitive?: boolean; steps?: { count: number } } = {},
): boolean {
  const fold = options.caseInsensitive === true;
  const tokens = likeTokens(pattern, fold);
  const text = Array.from(fold ? value.toLowerCase() : value);
  let t = 0;
  let p = 0;
  let runAt = -1; // the token index of the last % seen
  let resumeAt = -1; // where in the text that % currently ends
  let steps = 0;
  while (t < text.length) {
    steps++;
    const token = tokens[p];
    if (token === ANY_RUN) {
      runAt = p++;
      resumeAt = t;
    } else if (p < tokens.length && (token === ANY_ONE || token === text[t])) {
      p++;
      t++;
    } else if (runAt !== -1) {
      // Let the last % absorb one more character and retry what follows it.
      p = runAt + 1;
      t = ++resumeAt;
    } else {
      if (options.steps) options.steps.count += steps;
      return false;
    }
  }
  while (tokens[p] === ANY_RUN) p++;
  if (options.steps) options.steps.count += steps;
  return p === tokens.length;
}

/**
 * Whether a column value satisfies a comparison expression. A null operand is no condition, as
 * Hasura (what Prefect Cloud ran on) treated it: the Prefect CLI sends `{_eq: null}` for every
 * filter the user left unset (`prefect get flow-runs`, `prefect get logs --name`).
 */
export function matchesComparison(value: unknown, comparison: Comparison): boolean {
  for (const [op, operand] of Object.entries(comparison)) {
    if (!COMPARISON_OPERATORS.has(op)) throw new ValidationError(`unknown comparison operator ${op}`);
    if (operand === undefined || operand === null) continue;
    const isNull = value === null || value === undefined;
    switch (op) {
      case "_is_null":
        if (isNull !== operand) return false;
        break;
      case "_eq":
        if (isNull || compare(value, operand) !== 0) return false;
        break;
      case "_neq":
        if (!isNull && compare(value, operand) === 0) return false;
        break;
      case "_in":
        if (isNull || !(operand as unknown[]).some((o) => compare(value, o) === 0)) return false;
        break;
      case "_nin":
        if (!isNull && (operand as unknown[]).some((o) => compare(value, o) === 0)) return false;
        break;
      case "_gt":
        if (isNull || compare(value, operand) <= 0) return false;
        break;
      case "_gte":
        if (isNull || compare(value, operand) < 0) return false;
        break;
      case "_lt":
        if (isNull || compare(value, operand) >= 0) return false;
        break;
      case "_lte":
        if (isNull || compare(value, operand) > 0) return false;
        break;
      case "_like":
        if (isNull || !likeMatch(String(value), String(operand))) return false;
        break;
      case "_ilike":
        if (isNull || !likeMatch(String(value), String(operand), { caseInsensitive: true })) return false;
        break;
    }
  }
  return true;
}

/**
 * Whether an item satisfies a boolean expression. Plain columns compare the item's own value;
 * any field named in `relationships` is delegated to the resolver (object and array relations).
 */
export async function matches<T extends Record<string, unknown>>(
  item: T,
  where: BoolExp | undefined | null,
  relationships?: FieldResolver<T>,
): Promise<boolean> {
  if (!where) return true;
  for (const [field, condition] of Object.entries(where)) {
    if (condition === undefined || condition === null) continue;
    if (field === "_and") {
      for (const sub of asList(condition as BoolExp[]))
        if (!(await matches(item, sub, relationships))) return false;
    } else if (field === "_or") {
      const alternatives = asList(condition as BoolExp[]);
      if (alternatives.length === 0) continue;
      let any = false;
      for (const sub of alternatives) {
        if (await matches(item, sub, relationships)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    } else if (field === "_not") {
      if (await matches(item, condition as BoolExp, relationships)) return false;
    } else {
      const resolved = relationships ? await relationships(item, field, condition) : undefined;
      if (resolved !== undefined) {
        if (!resolved) return false;
      } else if (!matchesComparison(item[field], condition as Comparison)) {
        return false;
      }
    }
  }
  return true;
}

export type OrderBy = Record<
  string,
  "asc" | "desc" | "asc_nulls_first" | "asc_nulls_last" | "desc_nulls_first" | "desc_nulls_last"
>;

/** Sorts by each `order_by` entry in turn (Hasura semantics: nulls last for asc, first for desc). */
export function sortItems<T extends Record<string, unknown>>(
  items: T[],
  orderBy: OrderBy[] | OrderBy | undefined,
): T[] {
  const orders = orderColumns(orderBy);
  if (orders.length === 0) return items;
  return [...items].sort(rowComparator(orderBy));
}

function orderColumns(orderBy: OrderBy[] | OrderBy | undefined): Array<[string, string]> {
  return (Array.isArray(orderBy) ? orderBy : orderBy ? [orderBy] : []).flatMap((o) => Object.entries(o));
}

/** Compares two rows in `orderBy`'s order (nulls last for `asc`, first for `desc`, as Postgres). */
export function rowComparator<T extends Record<string, unknown>>(
  orderBy: OrderBy[] | OrderBy | undefined,
): (a: T, b: T) => number {
  const orders = orderColumns(orderBy);
  return (a, b) => {
    for (const [column, direction] of orders) {
      const desc = direction.startsWith("desc");
      const nullsFirst = direction.endsWith("nulls_first") || direction === "desc";
      const av = a[column];
      const bv = b[column];
      const aNull = av === null || av === undefined;
      const bNull = bv === null || bv === undefined;
      if (aNull || bNull) {
        if (aNull && bNull) continue;
        return aNull === nullsFirst ? -1 : 1;
      }
      const c = compare(av, bv);
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  };
}

/** Applies offset and limit after filtering and sorting; without a limit, every row from `offset` on. */
export function paginate<T>(
  items: T[],
  limit: number | undefined | null,
  offset: number | undefined | null,
): T[] {
  if (limit !== undefined && limit !== null && limit < 0)
    throw new ValidationError("limit must not be negative");
  if (offset !== undefined && offset !== null && offset < 0)
    throw new ValidationError("offset must not be negative");
  const start = offset ?? 0;
  return limit == null ? items.slice(start) : items.slice(start, start + limit);
}

/** The value a where-clause pins a column to with `_eq`, if it does (at the top level or in `_and`). */
export function pinnedValue(where: BoolExp | undefined | null, column: string): unknown {
  if (!where) return undefined;
  const direct = where[column] as Comparison | undefined;
  if (direct && direct._eq !== undefined && direct._eq !== null) return direct._eq;
  for (const sub of asList(where._and)) {
    const value = pinnedValue(sub, column);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The string a where-clause bounds a column from below with `_gte` or `_gt` (at the top level or in `_and`), if it does. */
export function lowerBound(where: BoolExp | undefined | null, column: string): string | undefined {
  if (!where) return undefined;
  const direct = where[column] as Comparison | undefined;
  const bound = direct?._gte ?? direct?._gt;
  if (typeof bound === "string") return bound;
  for (const sub of asList(where._and)) {
    const found = lowerBound(sub, column);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The values a where-clause restricts a column to with `_in` (or a single `_eq`), if it does. */
export function pinnedValues(where: BoolExp | undefined | null, column: string): unknown[] | undefined {
  const single = pinnedValue(where, column);
  if (single !== undefined) return [single];
  if (!where) return undefined;
  const direct = where[column] as Comparison | undefined;
  if (direct && Array.isArray(direct._in)) return direct._in;
  for (const sub of asList(where._and)) {
    const values = pinnedValues(sub, column);
    if (values !== undefined) return values;
  }
  return undefined;
}

/** Operators a null column value never satisfies (with a non-null operand). */
const NULL_FAILS = ["_eq", "_in", "_gt", "_gte", "_lt", "_lte", "_like", "_ilike"] as const;

/**
 * Whether a where-clause keeps only rows whose `column` is not null (`_is_null: false`, or a
 * comparison null never satisfies, at the top level or in `_and`): a sparse path holding only
 * such rows then serves it.
 */
export function requiresValue(where: BoolExp | undefined | null, column: string): boolean {
  if (!where) return false;
  const direct = where[column] as Comparison | undefined;
  if (direct?._is_null === false) return true;
  const operands = direct as Record<string, unknown> | undefined;
  if (operands && NULL_FAILS.some((op) => operands[op] !== undefined && operands[op] !== null)) return true;
  return asList(where._and).some((sub) => requiresValue(sub, column));
}
