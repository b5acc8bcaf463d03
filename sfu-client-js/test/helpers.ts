// Small helpers over node:assert for the unit tests (run with node's test runner).
import assert from 'node:assert/strict';

/** Asserts that `actual` has at least the properties of `expected` (recursively for plain objects). */
export function match(actual: unknown, expected: unknown, path = 'value'): void {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(actual !== null && typeof actual === 'object', `${path} is not an object: ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) match((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, `${path}: ${JSON.stringify(actual)} !== ${JSON.stringify(expected)}`);
}

/** Asserts that a promise rejects with an error having the given properties. */
export async function rejectsWith(promise: Promise<unknown>, expected: Record<string, unknown>): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    match(e, expected, 'error');
    return true;
  });
}

/** Polls until `check` stops throwing (real timers). */
export async function waitFor(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Lets queued promise chains and zero timers run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}
