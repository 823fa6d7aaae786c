/**
 * Splits `items` into consecutive runs of at most `maxCount` items and, unless one item is
 * bigger on its own, at most `maxSize` by `sizeOf`. `apart(first, item)` (the run's first item
 * and the next one) also starts a new run between items that must not share one.
 */
export function slices<T>(items: readonly T[], maxCount: number, maxSize: number, sizeOf: (item: T) => number, apart?: (first: T, item: T) => boolean): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (cur.length > 0 && (cur.length >= maxCount || size + n > maxSize || apart?.(cur[0]!, item))) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(item);
    size += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
