// Adaptive stream: the size of the elements that show a remote video becomes the subscriber's
// cap (`set_subscription` with `max_width`/`max_height`), and a video nobody can see is paused.

/** A subscriber's cap for one video track, as `set_subscription` carries it. */
export interface VideoCap {
  /** Receive nothing. */
  paused: boolean;
  /** Device pixels; absent = no limit. */
  maxWidth?: number;
  maxHeight?: number;
  /** The highest RID wanted (`q`, `h`, `f`). */
  layer?: string;
  /** Extension: the highest VP8 temporal layer (0, 1, 2). */
  maxTemporal?: number;
}

export interface ElementGeometry {
  /** CSS pixels of the element's box. */
  width: number;
  height: number;
  devicePixelRatio: number;
  /** The element intersects the viewport. */
  intersecting: boolean;
  /** `document.visibilityState === 'visible'`. */
  documentVisible: boolean;
}

export interface CapOptions {
  /** Ignore device pixel ratios above this (a 3x phone rarely needs 3x video). Default 2. */
  maxPixelRatio?: number;
  /**
   * Round the cap down to a multiple of this many device pixels, so small resizes send
   * nothing. Default 1. Down, not up: a 640x360 element must not ask for 640x384, which a
   * 640x360 layer does not cover (the server would send the next larger layer).
   */
  step?: number;
}

/**
 * The cap for one element showing a video: paused when the element cannot be seen (off screen,
 * hidden page, no area), else its size in device pixels (the ratio capped at `maxPixelRatio`),
 * rounded down to a multiple of `step` (at least one step).
 */
export function capForElement(g: ElementGeometry, options: CapOptions = {}): VideoCap {
  if (!g.documentVisible || !g.intersecting || !(g.width > 0) || !(g.height > 0)) return { paused: true };
  const dpr = Math.min(options.maxPixelRatio ?? 2, Math.max(1, Number.isFinite(g.devicePixelRatio) ? g.devicePixelRatio : 1));
  const step = Math.max(1, Math.floor(options.step ?? 1));
  const round = (css: number): number => Math.max(step, Math.floor((css * dpr + 1e-6) / step) * step);
  return { paused: false, maxWidth: round(g.width), maxHeight: round(g.height) };
}

/** The cap that serves every element at once: the largest visible one; paused if none is visible. */
export function combineCaps(caps: readonly VideoCap[]): VideoCap {
  const live = caps.filter((c) => !c.paused);
  if (live.length === 0) return { paused: true };
  if (live.some((c) => c.maxWidth === undefined || c.maxHeight === undefined)) return { paused: false };
  return {
    paused: false,
    maxWidth: Math.max(...live.map((c) => c.maxWidth ?? 0)),
    maxHeight: Math.max(...live.map((c) => c.maxHeight ?? 0)),
  };
}

export function capsEqual(a: VideoCap | undefined, b: VideoCap | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.paused === b.paused &&
    a.maxWidth === b.maxWidth &&
    a.maxHeight === b.maxHeight &&
    a.layer === b.layer &&
    a.maxTemporal === b.maxTemporal
  );
}

/** True when `next` asks for more than `prev` (resume, or a larger size). */
export function isUpgrade(prev: VideoCap | undefined, next: VideoCap): boolean {
  if (next.paused) return false;
  if (!prev || prev.paused) return true;
  const area = (c: VideoCap): number => (c.maxWidth === undefined || c.maxHeight === undefined ? Infinity : c.maxWidth * c.maxHeight);
  return area(next) > area(prev);
}

/**
 * How long to wait before sending `next`: upgrades go out quickly (a video that became visible
 * should sharpen at once), downgrades and pauses wait out the debounce (scrolling past, resizing).
 */
export function capDelay(prev: VideoCap | undefined, next: VideoCap, timing: { upgradeMs?: number; debounceMs?: number } = {}): number {
  return isUpgrade(prev, next) ? (timing.upgradeMs ?? 100) : (timing.debounceMs ?? 500);
}

// ---------------------------------------------------------------------------------------------
// attach()
// ---------------------------------------------------------------------------------------------

/** What `attach` needs from a remote track (RemoteTrack implements it). */
export interface AdaptiveTarget {
  readonly kind: 'audio' | 'video';
  readonly mediaStreamTrack: MediaStreamTrack | undefined;
  /** Sends the cap (only when it changed since the last one sent). */
  setVideoCap(cap: VideoCap): void;
  /** Called whenever the received media track changes (subscribed, resubscribed after a rejoin, ended). */
  onMediaChanged(listener: (track: MediaStreamTrack | undefined) => void): () => void;
}

export interface AttachOptions extends CapOptions {
  /** Wait before sending a smaller cap or a pause, ms. Default 500. */
  debounceMs?: number;
  /** Wait before sending a larger cap or a resume, ms. Default 100. */
  upgradeMs?: number;
  /** Send caps at all (false: only show the media). Default true for video. */
  adaptive?: boolean;
}

export interface Attachment {
  readonly element: HTMLMediaElement;
  /** Stops showing the track in the element; the video is paused when no element shows it. */
  detach(): void;
}

interface Watcher {
  cap: VideoCap;
}

interface Controller {
  target: AdaptiveTarget;
  watchers: Set<Watcher>;
  sent: VideoCap | undefined;
  timer: ReturnType<typeof setTimeout> | null;
  options: AttachOptions;
}

const controllers = new WeakMap<AdaptiveTarget, Controller>();

function controllerFor(target: AdaptiveTarget, options: AttachOptions): Controller {
  let c = controllers.get(target);
  if (!c) {
    c = { target, watchers: new Set(), sent: undefined, timer: null, options };
    controllers.set(target, c);
  }
  return c;
}

function schedule(c: Controller): void {
  const next = combineCaps([...c.watchers].map((w) => w.cap));
  if (capsEqual(next, c.sent)) {
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    return;
  }
  if (c.timer) clearTimeout(c.timer);
  c.timer = setTimeout(() => {
    c.timer = null;
    const now = combineCaps([...c.watchers].map((w) => w.cap));
    if (capsEqual(now, c.sent)) return;
    c.sent = now;
    c.target.setVideoCap(now);
  }, capDelay(c.sent, next, c.options));
}

/**
 * Shows a remote track in a `<video>` (or `<audio>`) element. For video, the element's size
 * (ResizeObserver, device pixel ratio aware), its visibility (IntersectionObserver) and the
 * page's visibility become the track's cap; several elements showing one track share the
 * largest cap, and a track that no element shows is paused.
 */
export function attach(target: AdaptiveTarget, element: HTMLMediaElement, options: AttachOptions = {}): Attachment {
  const show = (track: MediaStreamTrack | undefined): void => {
    const current = element.srcObject instanceof MediaStream ? element.srcObject.getTracks()[0] : undefined;
    if (track === current) return;
    element.srcObject = track ? new MediaStream([track]) : null;
    if (track) void element.play?.().catch(() => { /* autoplay policy: the app shows a play button */ });
  };
  element.autoplay = true;
  if ('playsInline' in element) (element as HTMLVideoElement).playsInline = true;
  show(target.mediaStreamTrack);
  const offMedia = target.onMediaChanged(show);

  const adaptive = target.kind === 'video' && options.adaptive !== false && typeof window !== 'undefined';
  if (!adaptive) {
    return {
      element,
      detach() {
        offMedia();
        if (element.srcObject) element.srcObject = null;
      },
    };
  }

  const c = controllerFor(target, options);
  c.options = options;
  const watcher: Watcher = { cap: { paused: true } };
  c.watchers.add(watcher);
  let width = element.clientWidth;
  let height = element.clientHeight;
  let intersecting = true;
  const update = (): void => {
    watcher.cap = capForElement(
      {
        width,
        height,
        devicePixelRatio: window.devicePixelRatio || 1,
        intersecting,
        documentVisible: typeof document === 'undefined' || document.visibilityState !== 'hidden',
      },
      options,
    );
    schedule(c);
  };

  const resize = typeof ResizeObserver !== 'undefined'
    ? new ResizeObserver((entries) => {
        const box = entries[entries.length - 1]?.contentRect;
        if (box) {
          width = box.width;
          height = box.height;
        }
        update();
      })
    : null;
  resize?.observe(element);
  const intersection = typeof IntersectionObserver !== 'undefined'
    ? new IntersectionObserver((entries) => {
        const last = entries[entries.length - 1];
        if (last) intersecting = last.isIntersecting;
        update();
      })
    : null;
  intersection?.observe(element);
  const onVisibility = (): void => update();
  document.addEventListener('visibilitychange', onVisibility);
  // The device pixel ratio changes when the window moves to another screen or the page is zoomed.
  const onResize = (): void => update();
  window.addEventListener('resize', onResize);
  update();

  return {
    element,
    detach() {
      offMedia();
      resize?.disconnect();
      intersection?.disconnect();
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('resize', onResize);
      c.watchers.delete(watcher);
      schedule(c);
      if (element.srcObject) element.srcObject = null;
    },
  };
}
