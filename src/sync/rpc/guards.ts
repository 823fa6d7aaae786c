/**
 * Tiny runtime type guards for messages that arrive from the network. They are strict: an
 * object with a property the guard does not know is rejected, since both sides of a
 * connection speak exactly the same protocol version (see `schema.ts`), and a handler must
 * only ever see data that was checked.
 */

/** A runtime check that narrows `unknown` to `T`. */
export type Guard<T> = (value: unknown) => value is T;

/** The type a guard checks for. */
export type GuardType<G> = G extends Guard<infer T> ? T : never;

/** Any string of at most `maxLength` UTF-16 units matching `pattern` (if given). */
export function string(opts: { min?: number; max: number; pattern?: RegExp }): Guard<string> {
  const min = opts.min ?? 0;
  return (v): v is string => typeof v === 'string' && v.length >= min && v.length <= opts.max && (!opts.pattern || opts.pattern.test(v));
}

/** One of the given string literals. */
export function oneOf<const T extends readonly string[]>(...values: T): Guard<T[number]> {
  return (v): v is T[number] => typeof v === 'string' && values.includes(v);
}

/** A specific literal value. */
export function literal<const T extends string | number | boolean>(value: T): Guard<T> {
  return (v): v is T => v === value;
}

/** A finite number, optionally an integer within bounds. */
export function number(opts: { integer?: boolean; min?: number; max?: number } = {}): Guard<number> {
  return (v): v is number =>
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!opts.integer || Number.isInteger(v)) &&
    (opts.min === undefined || v >= opts.min) &&
    (opts.max === undefined || v <= opts.max);
}

/** A boolean. */
export const boolean: Guard<boolean> = (v): v is boolean => typeof v === 'boolean';

/** A Uint8Array of at most `max` bytes. */
export function bytes(max: number): Guard<Uint8Array> {
  return (v): v is Uint8Array => v instanceof Uint8Array && v.length <= max;
}

/** An array of at most `max` items, each passing `item`. */
export function array<T>(item: Guard<T>, max: number): Guard<T[]> {
  return (v): v is T[] => Array.isArray(v) && v.length <= max && v.every((x) => item(x));
}

/** A plain object with exactly the `required` properties and any of the `optional` ones. */
export function object<R extends Record<string, Guard<unknown>>, O extends Record<string, Guard<unknown>> = Record<never, never>>(
  required: R,
  optional?: O,
): Guard<{ [K in keyof R]: GuardType<R[K]> } & { [K in keyof O]?: GuardType<O[K]> }> {
  const opt: Record<string, Guard<unknown>> = optional ?? {};
  return (v): v is { [K in keyof R]: GuardType<R[K]> } & { [K in keyof O]?: GuardType<O[K]> } => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
    const rec = v as Record<string, unknown>;
    for (const key of Object.keys(rec)) {
      const guard = Object.prototype.hasOwnProperty.call(required, key) ? required[key] : Object.prototype.hasOwnProperty.call(opt, key) ? opt[key] : undefined;
      if (!guard) return false;
      // An optional property may be present but undefined only in local objects, never on the wire.
      if (rec[key] === undefined && guard === opt[key]) continue;
      if (!guard(rec[key])) return false;
    }
    for (const key of Object.keys(required)) if (!Object.prototype.hasOwnProperty.call(rec, key)) return false;
    return true;
  };
}

/** Passes values that pass any of the guards. */
export function union<G extends Guard<unknown>[]>(...guards: G): Guard<GuardType<G[number]>> {
  return (v): v is GuardType<G[number]> => guards.some((g) => g(v));
}

/** Adds a check to a guard (for constraints across properties). */
export function refine<T>(guard: Guard<T>, check: (value: T) => boolean): Guard<T> {
  return (v): v is T => guard(v) && check(v);
}
