/**
 * Bytes of memory a group of connections may hold at once, in a chain: a connection's
 * budget, inside its worktree's, inside the whole process's (issue 15, item 6). What is
 * counted is the bytes of the peer's requests still being handled; an `RpcConnection` reads
 * no further frame while any budget of its chain is full, so a peer that sends faster than it
 * is served is held back by TCP instead of buffered for. A budget is overrun by at most the
 * frames its connections were already reading when it filled up (one each; a batch of
 * frames is one).
 */
export class ByteBudget {
  /** Bytes taken and not yet released. */
  used = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    /** Most bytes this budget holds; it is full once it holds that many. */
    readonly max: number,
    /** The budget this one is part of (its bytes count there too). */
    private parent?: ByteBudget,
  ) {}

  /** True if this budget or one it is part of is full. */
  get full(): boolean {
    return this.used >= this.max || (this.parent?.full ?? false);
  }

  take(bytes: number): void {
    this.used += bytes;
    this.parent?.take(bytes);
  }

  release(bytes: number): void {
    this.used -= bytes;
    this.parent?.release(bytes);
    for (const fn of [...this.listeners]) fn();
  }

  /**
   * Moves this budget (and the bytes it holds) into `parent`: a connection's budget joins its
   * worktree's once `hello` said which.
   */
  moveTo(parent: ByteBudget | undefined): void {
    this.parent?.release(this.used);
    this.parent = parent;
    parent?.take(this.used);
  }

  /** Resolves once something was released here or in a budget this one is part of (or `signal` aborts). */
  roomFreed(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const chain: ByteBudget[] = [];
      for (let b: ByteBudget | undefined = this; b; b = b.parent) chain.push(b);
      const done = (): void => {
        for (const b of chain) b.listeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      for (const b of chain) b.listeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }
}
