/**
 * Matching of subscription resources (`/worktrees/<id>/files/<fileId>`) against handler
 * patterns (`/worktrees/:worktreeId/files/:fileId`). A `:name` segment captures one segment
 * made of id characters only, so a captured parameter is never a path, `..` or empty.
 */

const PARAM_VALUE = /^[A-Za-z0-9_-]{1,128}$/;

/** A compiled resource pattern. */
export interface ResourcePattern {
  source: string;
  match(resource: string): Record<string, string> | undefined;
}

/** Compiles a pattern; throws on one that is not `/`-rooted or has empty segments. */
export function compileResourcePattern(source: string): ResourcePattern {
  if (!source.startsWith('/')) throw new Error(`resource pattern ${source} must start with /`);
  const parts = source.slice(1).split('/');
  if (parts.some((p) => p === '' || p === ':')) throw new Error(`resource pattern ${source} has an empty segment`);
  return {
    source,
    match(resource: string): Record<string, string> | undefined {
      if (!resource.startsWith('/')) return undefined;
      const segs = resource.slice(1).split('/');
      if (segs.length !== parts.length) return undefined;
      const params: Record<string, string> = Object.create(null) as Record<string, string>;
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const seg = segs[i]!;
        if (part.startsWith(':')) {
          if (!PARAM_VALUE.test(seg)) return undefined;
          params[part.slice(1)] = seg;
        } else if (part !== seg) return undefined;
      }
      return params;
    },
  };
}
