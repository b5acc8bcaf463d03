import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bitrateFor, RESOLUTIONS, screenShareEncoding, videoEncodings } from '../src/encodings.js';

describe('videoEncodings', () => {
  it('gives q/h/f scaled 4/2/1 for 720p, low to high, with rising bitrates', () => {
    assert.deepEqual(videoEncodings(RESOLUTIONS.h720, { simulcast: true }), [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
    ]);
  });

  it('leaves out layers that would be too small', () => {
    assert.deepEqual(videoEncodings(RESOLUTIONS.h360, { simulcast: true }).map((e) => e.rid), ['q', 'h', 'f']);
    assert.deepEqual(videoEncodings({ width: 480, height: 270 }, { simulcast: true }).map((e) => e.rid), ['h', 'f']);
    assert.deepEqual(videoEncodings(RESOLUTIONS.h180, { simulcast: true }).map((e) => e.rid), ['h', 'f']);
    assert.deepEqual(videoEncodings({ width: 240, height: 135 }, { simulcast: true }), [{ maxBitrate: 98_000 }]);
  });

  it('one encoding without simulcast; maxBitrate overrides the top', () => {
    assert.deepEqual(videoEncodings(RESOLUTIONS.h720, { simulcast: false }), [{ maxBitrate: 1_500_000 }]);
    assert.deepEqual(videoEncodings(RESOLUTIONS.h720, { simulcast: false, maxBitrate: 900_000 }), [{ maxBitrate: 900_000 }]);
    assert.equal(videoEncodings(RESOLUTIONS.h720, { simulcast: true, maxBitrate: 2_000_000 }).at(-1)?.maxBitrate, 2_000_000);
  });

  it('portrait video uses the shorter side for the layer decision', () => {
    assert.deepEqual(videoEncodings({ width: 720, height: 1280 }, { simulcast: true }).map((e) => e.rid), ['q', 'h', 'f']);
  });
});

describe('bitrateFor', () => {
  it('interpolates and rises with size', () => {
    assert.equal(bitrateFor(RESOLUTIONS.h1080), 3_000_000);
    const sizes = [RESOLUTIONS.h180, RESOLUTIONS.h360, RESOLUTIONS.h540, RESOLUTIONS.h720, RESOLUTIONS.h1080];
    const rates = sizes.map((s) => bitrateFor(s));
    assert.deepEqual([...rates].sort((a, b) => a - b), rates);
    assert.ok(bitrateFor({ width: 800, height: 450 }) > 500_000);
    assert.ok(bitrateFor({ width: 800, height: 450 }) < 900_000);
  });
  it('lowers for low frame rates, within bounds', () => {
    assert.equal(bitrateFor(RESOLUTIONS.h720, 15), 750_000);
    assert.equal(bitrateFor(RESOLUTIONS.h720, 1), 600_000);
    assert.equal(bitrateFor(RESOLUTIONS.h720, 60), 1_500_000);
  });
});

describe('screenShareEncoding', () => {
  it('favours detail with a floor', () => {
    assert.deepEqual(screenShareEncoding(RESOLUTIONS.h1080, 15), { maxBitrate: 3_600_000, maxFramerate: 15 });
    assert.equal(screenShareEncoding(RESOLUTIONS.h360).maxBitrate, 1_000_000);
  });
});
