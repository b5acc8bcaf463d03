import assert from 'node:assert/strict';
import { describe, it, mock, beforeEach, afterEach } from 'node:test';
import { rejectsWith } from './helpers.js';
import { AbortedError, IceMonitor, isRetryableJoinError, rejoinAfterLeave, retryWithBackoff } from '../src/reconnect.js';
import { SignalError } from '../src/signaling.js';

describe('rejoinAfterLeave', () => {
  it('rejoins after connection losses only', () => {
    for (const r of ['peer_timeout', 'connection_closed', 'slow_client']) assert.equal(rejoinAfterLeave(r), true);
    for (const r of ['removed', 'room_closed', 'server_shutdown', 'duplicate_identity', 'unknown']) assert.equal(rejoinAfterLeave(r), false);
  });
  it('retries network failures, not refusals', () => {
    assert.equal(isRetryableJoinError(new SignalError('connect_failed', '')), true);
    assert.equal(isRetryableJoinError(new SignalError('room_full', '')), false);
    assert.equal(isRetryableJoinError(new TypeError('x')), true);
    assert.equal(isRetryableJoinError(new AbortedError()), false);
  });
});

describe('retryWithBackoff', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0, maxAttempts: 5 };

  it('waits the backoff schedule between attempts until one succeeds', async () => {
    const waits: number[] = [];
    let n = 0;
    const result = await retryWithBackoff(
      async () => {
        if (++n < 4) throw new SignalError('connect_failed', 'down');
        return 'joined';
      },
      { policy, sleep: async (ms) => void waits.push(ms) },
    );
    assert.equal(result, 'joined');
    assert.deepEqual(waits, [100, 200, 400]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const waits: number[] = [];
    let n = 0;
    await assert.rejects(
      retryWithBackoff(
        async () => {
          throw new SignalError('connect_failed', `down ${++n}`);
        },
        { policy, sleep: async (ms) => void waits.push(ms) },
      ),
      /down 5/,
    );
    assert.deepEqual(waits, [100, 200, 400, 800]);
  });

  it('waits before the first attempt of a rejoin and caps the delays', async () => {
    const waits: number[] = [];
    let n = 0;
    await retryWithBackoff(
      async () => {
        if (++n < 5) throw new Error('down');
      },
      { policy: { ...policy, maxAttempts: 10 }, delayFirst: true, sleep: async (ms) => void waits.push(ms) },
    );
    assert.deepEqual(waits, [100, 200, 400, 800, 1000]);
  });

  it('stops at once for an error that is not retryable', async () => {
    const sleep = mock.fn(async () => undefined);
    await rejectsWith(
      retryWithBackoff(
        async () => {
          throw new SignalError('room_full', 'full');
        },
        { policy, sleep },
      ),
      { code: 'room_full' },
    );
    assert.equal(sleep.mock.callCount(), 0);
  });

  it('stops when aborted', async () => {
    const abort = new AbortController();
    const p = retryWithBackoff(
      async () => {
        throw new Error('down');
      },
      { policy: { ...policy, initialDelayMs: 10_000 }, signal: abort.signal },
    );
    setTimeout(() => abort.abort(), 5);
    await assert.rejects(p, AbortedError);
  });
});

describe('IceMonitor', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  function monitor() {
    const calls: string[] = [];
    const m = new IceMonitor(
      {
        restart: () => calls.push('restart'),
        giveUp: () => calls.push('giveUp'),
        restartingChanged: (r) => calls.push(r ? 'restarting' : 'recovered'),
      },
      { disconnectedTimeoutMs: 1000, restartTimeoutMs: 5000, maxRestarts: 2 },
    );
    return { m, calls };
  }

  it('restarts ICE at once when it failed, and reports recovery', () => {
    const { m, calls } = monitor();
    m.update('connected');
    m.update('failed');
    assert.deepEqual(calls, ['restarting', 'restart']);
    m.update('checking');
    m.update('connected');
    assert.deepEqual(calls, ['restarting', 'restart', 'recovered']);
    mock.timers.tick(60_000);
    assert.equal((calls).length, 3);
  });

  it('restarts after a disconnection that lasts, not after a blip', () => {
    const { m, calls } = monitor();
    m.update('disconnected');
    mock.timers.tick(500);
    m.update('connected');
    mock.timers.tick(5000);
    assert.deepEqual(calls, []);
    m.update('disconnected');
    mock.timers.tick(1000);
    assert.deepEqual(calls, ['restarting', 'restart']);
  });

  it('retries a restart that does not connect, then gives up', () => {
    const { m, calls } = monitor();
    m.update('failed');
    mock.timers.tick(5000);
    assert.deepEqual(calls, ['restarting', 'restart', 'restart']);
    mock.timers.tick(5000);
    assert.deepEqual(calls, ['restarting', 'restart', 'restart', 'giveUp']);
    m.update('failed');
    assert.equal((calls).length, 4);
  });

  it('restarts when ICE does not connect in time after descriptions are exchanged', () => {
    const calls: string[] = [];
    const m = new IceMonitor({ restart: () => calls.push('restart'), giveUp: () => calls.push('giveUp') }, { connectTimeoutMs: 3000, restartTimeoutMs: 5000, maxRestarts: 1 });
    m.update('new');
    m.expectConnection();
    m.expectConnection();
    mock.timers.tick(2999);
    assert.deepEqual(calls, []);
    mock.timers.tick(1);
    assert.deepEqual(calls, ['restart']);
    mock.timers.tick(5000);
    assert.deepEqual(calls, ['restart', 'giveUp']);
  });

  it('no connect timeout once connected', () => {
    const calls: string[] = [];
    const m = new IceMonitor({ restart: () => calls.push('restart'), giveUp: () => calls.push('giveUp') }, { connectTimeoutMs: 3000 });
    m.expectConnection();
    m.update('connected');
    mock.timers.tick(10_000);
    m.expectConnection();
    mock.timers.tick(10_000);
    assert.deepEqual(calls, []);
  });

  it('counts restarts afresh after a recovery', () => {
    const { m, calls } = monitor();
    m.update('failed');
    m.update('connected');
    m.update('failed');
    m.update('connected');
    m.update('failed');
    assert.equal((calls.filter((c) => c === 'restart')).length, 3);
    assert.ok(!calls.includes('giveUp'));
  });
});
