/**
 * untilAborted(): a promise raced against an AbortSignal, and optionally a no-progress
 * deadline. Reading the next message of a gRPC stream waits for the peer, possibly forever (a
 * client that stalls, or that is stopped); a cancelled call, the agent's shutdown or a peer
 * silent for longer than the deadline must not wait with it. The abandoned promise is left to
 * settle on its own (the call it belongs to is being ended anyway); its rejection is swallowed.
 */

export interface Stall {
  /** How long the promise may take. */
  ms: number;
  /** The error when it takes longer. */
  error: () => Error;
}

export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, error: () => Error, stall?: Stall): Promise<T> {
  if (!signal && !stall) return promise;
  if (signal?.aborted) {
    promise.catch(() => undefined);
    throw error();
  }
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(error());
    signal?.addEventListener('abort', onAbort, { once: true });
    if (stall) timer = setTimeout(() => reject(stall.error()), stall.ms);
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    clearTimeout(timer);
    promise.catch(() => undefined);
  }
}
