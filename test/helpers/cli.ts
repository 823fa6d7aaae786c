import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The real executable (runs the built `dist/`). `CSHARE_BIN` points the real-process tests at
 * another build (an older commit's checkout, to show a test fails there).
 */
export const BIN = process.env.CSHARE_BIN ?? fileURLToPath(new URL('../../bin/cshare', import.meta.url));

/** Runs `cshare args...` in `cwd` and returns exit code, stdout and stderr. */
export function cshare(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', USER: 'cli-user', HOME: `${cwd}/.no-home`, ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `cshare args... --json` and parses its one JSON object. */
export function cshareJson(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; json: any; stderr: string } {
  const r = cshare(cwd, [...args, '--json'], env);
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}
