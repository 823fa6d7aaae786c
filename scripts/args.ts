/**
 * The value of `--<name> N` on the command line, or undefined when absent; anything but a
 * non-negative integer ends the process with a message and exit code 2.
 */
export function intFlag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    process.stderr.write(`--${name} needs a non-negative integer\n`);
    process.exit(2);
  }
  return value;
}
