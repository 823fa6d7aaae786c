/**
 * The step a `share` or `join` process is at, named where it waits. Node exits with code 13
 * when the event loop empties while the top-level await is still pending (a promise that
 * nothing will settle); the command then names the last step reached (see `BaseCommand`),
 * which is where to look.
 */
let current = 'starting';

export function setStep(name: string): void {
  current = name;
}

export function currentStep(): string {
  return current;
}
