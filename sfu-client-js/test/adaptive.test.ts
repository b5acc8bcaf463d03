import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capDelay, capForElement, capsEqual, combineCaps, isUpgrade, type ElementGeometry } from '../src/adaptive.js';

const g = (patch: Partial<ElementGeometry> = {}): ElementGeometry => ({
  width: 320,
  height: 180,
  devicePixelRatio: 1,
  intersecting: true,
  documentVisible: true,
  ...patch,
});

describe('capForElement', () => {
  it('uses the element size in device pixels, rounded down to the step', () => {
    assert.deepEqual(capForElement(g()), { paused: false, maxWidth: 320, maxHeight: 180 });
    assert.deepEqual(capForElement(g({ width: 640, height: 360 })), { paused: false, maxWidth: 640, maxHeight: 360 });
    assert.deepEqual(capForElement(g({ width: 639.6, height: 360.2 })), { paused: false, maxWidth: 639, maxHeight: 360 });
    assert.deepEqual(capForElement(g({ width: 300.4, height: 168.75 }), { step: 16 }), { paused: false, maxWidth: 288, maxHeight: 160 });
    // Never rounded past a layer's size: 640x360 stays within 640x360 whatever the step.
    for (const step of [1, 8, 16, 32, 100]) {
      const c = capForElement(g({ width: 640, height: 360 }), { step });
      assert.ok((c.maxWidth ?? Infinity) <= 640);
      assert.ok((c.maxHeight ?? Infinity) <= 360);
    }
    // Floating-point products of the pixel ratio do not lose a pixel.
    assert.deepEqual(capForElement(g({ width: 213.33333333333334, height: 120, devicePixelRatio: 1.5 })), { paused: false, maxWidth: 320, maxHeight: 180 });
  });

  it('scales by the device pixel ratio, capped', () => {
    assert.deepEqual(capForElement(g({ devicePixelRatio: 2 }), { step: 1 }), { paused: false, maxWidth: 640, maxHeight: 360 });
    assert.deepEqual(capForElement(g({ devicePixelRatio: 3 }), { step: 1 }), { paused: false, maxWidth: 640, maxHeight: 360 });
    assert.deepEqual(capForElement(g({ devicePixelRatio: 3 }), { step: 1, maxPixelRatio: 3 }), { paused: false, maxWidth: 960, maxHeight: 540 });
    assert.deepEqual(capForElement(g({ devicePixelRatio: 1.5 }), { step: 1 }), { paused: false, maxWidth: 480, maxHeight: 270 });
    // Ratios below 1 (zoomed out) never ask for less than the CSS size.
    assert.deepEqual(capForElement(g({ devicePixelRatio: 0.5 }), { step: 1 }), { paused: false, maxWidth: 320, maxHeight: 180 });
    assert.deepEqual(capForElement(g({ devicePixelRatio: Number.NaN }), { step: 1 }), { paused: false, maxWidth: 320, maxHeight: 180 });
  });

  it('pauses what cannot be seen', () => {
    assert.deepEqual(capForElement(g({ intersecting: false })), { paused: true });
    assert.deepEqual(capForElement(g({ documentVisible: false })), { paused: true });
    assert.deepEqual(capForElement(g({ width: 0 })), { paused: true });
    assert.deepEqual(capForElement(g({ height: 0 })), { paused: true });
  });

  it('never asks for less than one step', () => {
    assert.deepEqual(capForElement(g({ width: 0.2, height: 0.2 })), { paused: false, maxWidth: 1, maxHeight: 1 });
    assert.deepEqual(capForElement(g({ width: 1, height: 1 }), { step: 32 }), { paused: false, maxWidth: 32, maxHeight: 32 });
  });

  it('maps typical tiles to the layer the server will pick (q 320x180, h 640x360, f 1280x720)', () => {
    // The server picks the smallest layer covering the cap.
    const layer = (c: ReturnType<typeof capForElement>) => {
      if (c.paused) return 'paused';
      const w = c.maxWidth ?? Infinity;
      const h = c.maxHeight ?? Infinity;
      if (w <= 320 && h <= 180) return 'q';
      if (w <= 640 && h <= 360) return 'h';
      return 'f';
    };
    assert.equal(layer(capForElement(g({ width: 160, height: 90 }), { step: 1 })), 'q');
    assert.equal(layer(capForElement(g({ width: 320, height: 180 }), { step: 1 })), 'q');
    assert.equal(layer(capForElement(g({ width: 320, height: 180, devicePixelRatio: 2 }), { step: 1 })), 'h');
    assert.equal(layer(capForElement(g({ width: 600, height: 338 }), { step: 1 })), 'h');
    assert.equal(layer(capForElement(g({ width: 1280, height: 720 }), { step: 1 })), 'f');
    assert.equal(layer(capForElement(g({ width: 1280, height: 720, intersecting: false }))), 'paused');
  });
});

describe('combineCaps', () => {
  it('takes the largest visible element', () => {
    assert.deepEqual(combineCaps([{ paused: false, maxWidth: 320, maxHeight: 180 }, { paused: true }, { paused: false, maxWidth: 640, maxHeight: 100 }]), {
      paused: false,
      maxWidth: 640,
      maxHeight: 180,
    });
  });
  it('pauses when nothing is visible or nothing is attached', () => {
    assert.deepEqual(combineCaps([{ paused: true }, { paused: true }]), { paused: true });
    assert.deepEqual(combineCaps([]), { paused: true });
  });
  it('an element without a limit lifts the limit', () => {
    assert.deepEqual(combineCaps([{ paused: false }, { paused: false, maxWidth: 10, maxHeight: 10 }]), { paused: false });
  });
});

describe('debounce policy', () => {
  const small = { paused: false, maxWidth: 320, maxHeight: 180 };
  const big = { paused: false, maxWidth: 1280, maxHeight: 720 };
  it('sends upgrades quickly and downgrades after the debounce', () => {
    assert.equal(isUpgrade(undefined, small), true);
    assert.equal(isUpgrade({ paused: true }, small), true);
    assert.equal(isUpgrade(small, big), true);
    assert.equal(isUpgrade(big, small), false);
    assert.equal(isUpgrade(small, { paused: true }), false);
    assert.equal(capDelay(small, big), 100);
    assert.equal(capDelay(big, small), 500);
    assert.equal(capDelay(big, { paused: true }, { debounceMs: 1000 }), 1000);
    assert.equal(capDelay({ paused: true }, small, { upgradeMs: 0 }), 0);
  });
  it('compares caps by value', () => {
    assert.equal(capsEqual(small, { ...small }), true);
    assert.equal(capsEqual(small, big), false);
    assert.equal(capsEqual(undefined, small), false);
    assert.equal(capsEqual(undefined, undefined), true);
  });
});
