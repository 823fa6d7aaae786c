/**
 * Runtime set-up loaded before anything else by `bin/cshare`.
 * `Promise.withResolvers` is native from Node 22; libp2p 3 needs it on Node 20.
 */

// libuv's thread pool (4 threads by default) runs LevelDB's work and the fsyncs of a batch of
// written files side by side (`NodeFs.writeFiles`); it is sized when first used, so here.
process.env.UV_THREADPOOL_SIZE ??= '16';

interface PromiseWithResolversShape<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const P = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShape<T> };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>(): PromiseWithResolversShape<T> {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
