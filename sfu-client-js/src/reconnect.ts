// Recovery: when to rejoin, retrying with backoff, and ICE restarts on failed connectivity.
//
// The server removes a participant as soon as its WebSocket closes (docs/protocol.md, "Leaving
// and disconnects"), so there is no session to resume: reconnecting is a full rejoin (a new
// socket, a new participant id, a new peer connection, local tracks published again). Loss of
// media connectivity alone is first repaired with an ICE restart on the same session.

import { backoffDelay, DEFAULT_BACKOFF, SignalError, type BackoffPolicy } from './signaling.js';

/** Connection states visible to the application. */
export type ConnectionState =
  /** Joining for the first time. */
  | 'connecting'
  /** Joined; media flows once ICE and DTLS are up. */
  | 'connected'
  /** Media connectivity was lost; an ICE restart is under way on the same session. */
  | 'ice_restarting'
  /** The signalling connection was lost; rejoining with backoff. */
  | 'reconnecting'
  /** Final: left, removed, or every attempt failed. */
  | 'disconnected';

const REJOIN_REASONS = new Set(['peer_timeout', 'connection_closed', 'slow_client']);

/**
 * Whether a server `leave` reason ends the session for good. `removed`, `room_closed`,
 * `duplicate_identity` (another session took over) and `server_shutdown` do; losses of the
 * connection (`peer_timeout`, `connection_closed`, `slow_client`) are worth a rejoin.
 */
export function rejoinAfterLeave(reason: string): boolean {
  return REJOIN_REASONS.has(reason);
}

/** Whether a failed (re)join attempt may succeed when tried again (not when the room was left). */
export function isRetryableJoinError(error: unknown): boolean {
  if (error instanceof AbortedError) return false;
  if (error instanceof SignalError) return error.retryable;
  return true;
}

export interface RetryOptions {
  policy?: Partial<BackoffPolicy>;
  isRetryable?: (error: unknown) => boolean;
  /** Stops waiting and attempting. */
  signal?: AbortSignal;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Before each wait: the attempt that failed (0-based), the delay, and the error. */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** Wait `backoffDelay(0)` before the first attempt too (a rejoin after a drop). Default false. */
  delayFirst?: boolean;
}

export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortedError';
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retryable, or the policy's
 * attempts are used up (the last error is thrown). Delays follow `backoffDelay`.
 */
export async function retryWithBackoff<T>(attempt: (n: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.policy };
  const sleep = options.sleep ?? defaultSleep;
  const isRetryable = options.isRetryable ?? isRetryableJoinError;
  const random = options.random ?? Math.random;
  let waits = 0;
  if (options.delayFirst) {
    const d = backoffDelay(waits++, policy, random);
    if (d === null) throw new Error('no attempts allowed');
    await sleep(d, options.signal);
  }
  for (let n = 0; ; n++) {
    if (options.signal?.aborted) throw new AbortedError();
    try {
      return await attempt(n);
    } catch (error) {
      if (options.signal?.aborted) throw new AbortedError();
      if (!isRetryable(error)) throw error;
      const delay = n + 1 >= policy.maxAttempts ? null : backoffDelay(waits++, policy, random);
      if (delay === null) throw error;
      options.onRetry?.(n, delay, error);
      await sleep(delay, options.signal);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ICE
// ---------------------------------------------------------------------------------------------

export interface IceMonitorOptions {
  /** How long `disconnected` may last before an ICE restart, ms. Default 4000. */
  disconnectedTimeoutMs: number;
  /** How long one ICE restart may take to reach `connected`, ms. Default 10000. */
  restartTimeoutMs: number;
  /** ICE restarts before giving up (then the room rejoins). Default 2. */
  maxRestarts: number;
  /** How long ICE may take to connect at all once descriptions are exchanged, ms. Default 15000. */
  connectTimeoutMs: number;
}

export const DEFAULT_ICE_MONITOR: IceMonitorOptions = {
  disconnectedTimeoutMs: 4000,
  restartTimeoutMs: 10_000,
  maxRestarts: 2,
  connectTimeoutMs: 15_000,
};

export interface IceMonitorCallbacks {
  /** Start an ICE restart (an offer with `iceRestart: true`). */
  restart(): void;
  /** ICE restarts did not help. */
  giveUp(): void;
  /** An ICE restart started (`true`) or connectivity came back (`false`). */
  restartingChanged?(restarting: boolean): void;
}

/**
 * Watches `iceConnectionState`: `failed`, or `disconnected` for too long, starts an ICE restart;
 * a restart that does not reach `connected` in time is tried again, up to `maxRestarts`, and
 * then `giveUp` is called.
 */
export class IceMonitor {
  private readonly options: IceMonitorOptions;
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private everConnected = false;
  private restarts = 0;
  private restarting = false;
  private disposed = false;

  constructor(
    private readonly callbacks: IceMonitorCallbacks,
    options: Partial<IceMonitorOptions> = {},
  ) {
    this.options = { ...DEFAULT_ICE_MONITOR, ...options };
  }

  get isRestarting(): boolean {
    return this.restarting;
  }

  update(state: string): void {
    if (this.disposed) return;
    switch (state) {
      case 'connected':
      case 'completed':
        this.everConnected = true;
        this.clearTimers();
        this.restarts = 0;
        if (this.restarting) {
          this.restarting = false;
          this.callbacks.restartingChanged?.(false);
        }
        return;
      case 'disconnected':
        if (!this.restarting && !this.disconnectedTimer) {
          this.disconnectedTimer = setTimeout(() => {
            this.disconnectedTimer = null;
            this.restart();
          }, this.options.disconnectedTimeoutMs);
        }
        return;
      case 'failed':
        if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
        this.disconnectedTimer = null;
        this.restart();
        return;
      case 'closed':
        this.dispose();
        return;
      default:
        return;
    }
  }

  /**
   * Descriptions were exchanged, so ICE should come up: if it has not connected within
   * `connectTimeoutMs`, that counts as a failure (restart, then give up).
   */
  expectConnection(): void {
    if (this.disposed || this.everConnected || this.connectTimer || this.restarting) return;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (!this.everConnected) this.restart();
    }, this.options.connectTimeoutMs);
  }

  private restart(): void {
    if (this.disposed) return;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.restarts >= this.options.maxRestarts) {
      this.dispose();
      this.callbacks.giveUp();
      return;
    }
    this.restarts++;
    if (!this.restarting) {
      this.restarting = true;
      this.callbacks.restartingChanged?.(true);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restart();
    }, this.options.restartTimeoutMs);
    this.callbacks.restart();
  }

  private clearTimers(): void {
    if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.disconnectedTimer = null;
    this.restartTimer = null;
    this.connectTimer = null;
  }

  dispose(): void {
    this.disposed = true;
    this.clearTimers();
  }
}
