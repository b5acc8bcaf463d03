// Generated from sfu-client-js/demo/ and src/ by npm run build:demo (edit those, not this file)

// src/adaptive.ts
function capForElement(g, options = {}) {
  if (!g.documentVisible || !g.intersecting || !(g.width > 0) || !(g.height > 0)) return { paused: true };
  const dpr = Math.min(options.maxPixelRatio ?? 2, Math.max(1, Number.isFinite(g.devicePixelRatio) ? g.devicePixelRatio : 1));
  const step = Math.max(1, Math.floor(options.step ?? 1));
  const round = (css) => Math.max(step, Math.floor((css * dpr + 1e-6) / step) * step);
  return { paused: false, maxWidth: round(g.width), maxHeight: round(g.height) };
}
function combineCaps(caps) {
  const live = caps.filter((c) => !c.paused);
  if (live.length === 0) return { paused: true };
  if (live.some((c) => c.maxWidth === void 0 || c.maxHeight === void 0)) return { paused: false };
  return {
    paused: false,
    maxWidth: Math.max(...live.map((c) => c.maxWidth ?? 0)),
    maxHeight: Math.max(...live.map((c) => c.maxHeight ?? 0))
  };
}
function capsEqual(a, b) {
  if (!a || !b) return a === b;
  return a.paused === b.paused && a.maxWidth === b.maxWidth && a.maxHeight === b.maxHeight && a.layer === b.layer && a.maxTemporal === b.maxTemporal;
}
function isUpgrade(prev, next) {
  if (next.paused) return false;
  if (!prev || prev.paused) return true;
  const area = (c) => c.maxWidth === void 0 || c.maxHeight === void 0 ? Infinity : c.maxWidth * c.maxHeight;
  return area(next) > area(prev);
}
function capDelay(prev, next, timing = {}) {
  return isUpgrade(prev, next) ? timing.upgradeMs ?? 100 : timing.debounceMs ?? 500;
}
var controllers = /* @__PURE__ */ new WeakMap();
function controllerFor(target, options) {
  let c = controllers.get(target);
  if (!c) {
    c = { target, watchers: /* @__PURE__ */ new Set(), sent: void 0, timer: null, options };
    controllers.set(target, c);
  }
  return c;
}
function schedule(c) {
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
function attach(target, element, options = {}) {
  const show = (track) => {
    const current2 = element.srcObject instanceof MediaStream ? element.srcObject.getTracks()[0] : void 0;
    if (track === current2) return;
    element.srcObject = track ? new MediaStream([track]) : null;
    if (track) void element.play?.().catch(() => {
    });
  };
  element.autoplay = true;
  if ("playsInline" in element) element.playsInline = true;
  show(target.mediaStreamTrack);
  const offMedia = target.onMediaChanged(show);
  const adaptive = target.kind === "video" && options.adaptive !== false && typeof window !== "undefined";
  if (!adaptive) {
    return {
      element,
      detach() {
        offMedia();
        if (element.srcObject) element.srcObject = null;
      }
    };
  }
  const c = controllerFor(target, options);
  c.options = options;
  const watcher = { cap: { paused: true } };
  c.watchers.add(watcher);
  let width = element.clientWidth;
  let height = element.clientHeight;
  let intersecting = true;
  const update = () => {
    watcher.cap = capForElement(
      {
        width,
        height,
        devicePixelRatio: window.devicePixelRatio || 1,
        intersecting,
        documentVisible: typeof document === "undefined" || document.visibilityState !== "hidden"
      },
      options
    );
    schedule(c);
  };
  const resize = typeof ResizeObserver !== "undefined" ? new ResizeObserver((entries) => {
    const box = entries[entries.length - 1]?.contentRect;
    if (box) {
      width = box.width;
      height = box.height;
    }
    update();
  }) : null;
  resize?.observe(element);
  const intersection = typeof IntersectionObserver !== "undefined" ? new IntersectionObserver((entries) => {
    const last = entries[entries.length - 1];
    if (last) intersecting = last.isIntersecting;
    update();
  }) : null;
  intersection?.observe(element);
  const onVisibility = () => update();
  document.addEventListener("visibilitychange", onVisibility);
  const onResize = () => update();
  window.addEventListener("resize", onResize);
  update();
  return {
    element,
    detach() {
      offMedia();
      resize?.disconnect();
      intersection?.disconnect();
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("resize", onResize);
      c.watchers.delete(watcher);
      schedule(c);
      if (element.srcObject) element.srcObject = null;
    }
  };
}

// src/encodings.ts
var RESOLUTIONS = {
  h180: { width: 320, height: 180 },
  h360: { width: 640, height: 360 },
  h540: { width: 960, height: 540 },
  h720: { width: 1280, height: 720 },
  h1080: { width: 1920, height: 1080 }
};
function bitrateFor(size, fps = 30) {
  const pixels = Math.max(1, size.width * size.height);
  const points = [
    [160 * 90, 6e4],
    [320 * 180, 15e4],
    [640 * 360, 5e5],
    [960 * 540, 9e5],
    [1280 * 720, 15e5],
    [1920 * 1080, 3e6],
    [3840 * 2160, 8e6]
  ];
  let rate2;
  const first = points[0];
  const last = points[points.length - 1];
  if (pixels <= first[0]) rate2 = first[1] * (pixels / first[0]);
  else if (pixels >= last[0]) rate2 = last[1];
  else {
    rate2 = last[1];
    for (let i = 1; i < points.length; i++) {
      const [p1, r1] = points[i];
      const [p0, r0] = points[i - 1];
      if (pixels <= p1) {
        rate2 = r0 + (r1 - r0) * (pixels - p0) / (p1 - p0);
        break;
      }
    }
  }
  const fpsFactor = Math.min(1, Math.max(0.4, fps / 30));
  return Math.round(rate2 * fpsFactor / 1e3) * 1e3;
}
var MIN_LAYER_SHORT_SIDE = 90;
function videoEncodings(size, options) {
  const fps = options.fps ?? 30;
  if (!options.simulcast) {
    return [{ maxBitrate: options.maxBitrate ?? bitrateFor(size, fps) }];
  }
  const layers = [
    { rid: "q", scale: 4 },
    { rid: "h", scale: 2 },
    { rid: "f", scale: 1 }
  ];
  const short = Math.min(size.width, size.height);
  const kept = layers.filter((l) => l.rid === "f" || short / l.scale >= MIN_LAYER_SHORT_SIDE);
  if (kept.length === 1) return [{ maxBitrate: options.maxBitrate ?? bitrateFor(size, fps) }];
  return kept.map((l) => {
    const scaled = { width: size.width / l.scale, height: size.height / l.scale };
    let maxBitrate = bitrateFor(scaled, fps);
    if (l.rid === "f" && options.maxBitrate !== void 0) maxBitrate = options.maxBitrate;
    return { rid: l.rid, scaleResolutionDownBy: l.scale, maxBitrate };
  });
}
function screenShareEncoding(size, fps = 15) {
  return { maxBitrate: Math.max(1e6, Math.round(bitrateFor(size, 30) * 1.2)), maxFramerate: fps };
}

// src/events.ts
var TypedEmitter = class {
  constructor() {
    this.listeners = {};
  }
  /** Adds a listener; returns a function that removes it. */
  on(event, listener) {
    let set = this.listeners[event];
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.listeners[event] = set;
    }
    set.add(listener);
    return () => this.off(event, listener);
  }
  off(event, listener) {
    this.listeners[event]?.delete(listener);
  }
  once(event, listener) {
    const off = this.on(event, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }
  /** Calls the listeners in order; a throwing listener does not stop the others. */
  emit(event, ...args) {
    const set = this.listeners[event];
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (e) {
        console.error(`sfu-client: a "${String(event)}" listener threw`, e);
      }
    }
  }
  removeAllListeners() {
    this.listeners = {};
  }
};

// src/sdp.ts
var DIRECTIONS = ["sendrecv", "sendonly", "recvonly", "inactive"];
function mediaSections(sdp) {
  const sections = [];
  let sessionDirection = "sendrecv";
  let current2 = null;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      const parts = line.slice(2).split(/\s+/);
      current2 = {
        index: sections.length,
        kind: parts[0] ?? "",
        port: Number.parseInt(parts[1] ?? "0", 10) || 0,
        mid: null,
        direction: sessionDirection,
        msid: null
      };
      sections.push(current2);
      continue;
    }
    if (!line.startsWith("a=")) continue;
    const attr = line.slice(2);
    if (DIRECTIONS.includes(attr)) {
      if (current2) current2.direction = attr;
      else sessionDirection = attr;
    } else if (current2 && attr.startsWith("mid:")) {
      current2.mid = attr.slice(4).trim();
    } else if (current2 && attr.startsWith("msid:") && !current2.msid) {
      const [streamId, trackId] = attr.slice(5).trim().split(/\s+/);
      if (streamId) current2.msid = { streamId, trackId: trackId ?? null };
    }
  }
  return sections;
}
function remoteTracksByMid(sdp) {
  const out = /* @__PURE__ */ new Map();
  for (const m of mediaSections(sdp)) {
    if (m.mid === null || m.port === 0 || !m.msid || !m.msid.trackId || m.msid.streamId === "-") continue;
    out.set(m.mid, { participantId: m.msid.streamId, trackId: m.msid.trackId });
  }
  return out;
}

// src/negotiation.ts
var INITIAL_NEGOTIATION_STATE = {
  signalingState: "stable",
  makingOffer: false,
  awaitingAnswer: false,
  needsOffer: false,
  iceRestart: false,
  holdOffers: false
};
function offerActions(iceRestart) {
  return [{ type: "createOffer", iceRestart }, { type: "announceTracks" }, { type: "sendOffer" }];
}
function offering(s) {
  return { ...s, signalingState: "have-local-offer", makingOffer: false, awaitingAnswer: true, needsOffer: false, iceRestart: false };
}
function answerMatchesOffer(offerSdp, answerSdp) {
  const offer = mediaSections(offerSdp).map((m) => m.mid);
  const answer = mediaSections(answerSdp).map((m) => m.mid);
  return offer.length === answer.length && offer.every((mid, i) => mid === answer[i]);
}
function negotiate(state, event) {
  if (state.signalingState === "closed") {
    return { state, actions: [{ type: "ignore", reason: "closed" }] };
  }
  switch (event.type) {
    case "localChange": {
      const iceRestart = state.iceRestart || event.iceRestart === true;
      if (state.holdOffers || state.makingOffer || state.awaitingAnswer || state.signalingState !== "stable") {
        return { state: { ...state, needsOffer: true, iceRestart }, actions: [] };
      }
      return { state: offering(state), actions: offerActions(iceRestart) };
    }
    case "remoteOffer": {
      const collision = state.makingOffer || state.signalingState === "have-local-offer" || state.signalingState === "have-local-pranswer";
      const actions = [];
      let needsOffer = state.needsOffer;
      if (collision) {
        actions.push({ type: "rollback" });
        needsOffer = true;
      }
      actions.push(
        { type: "setRemote", description: { type: "offer", sdp: event.sdp } },
        { type: "createAnswer" },
        { type: "sendAnswer" }
      );
      const answered = {
        ...state,
        signalingState: "stable",
        makingOffer: false,
        awaitingAnswer: false,
        needsOffer,
        holdOffers: false
      };
      if (needsOffer) {
        actions.push(...offerActions(state.iceRestart));
        return { state: offering(answered), actions };
      }
      return { state: answered, actions };
    }
    case "remoteAnswer": {
      if (!state.awaitingAnswer || state.signalingState !== "have-local-offer") {
        return { state, actions: [{ type: "ignore", reason: "no offer of ours is waiting for an answer" }] };
      }
      if (event.localOfferSdp && !answerMatchesOffer(event.localOfferSdp, event.sdp)) {
        return { state, actions: [{ type: "ignore", reason: "the answer does not match our offer" }] };
      }
      const actions = [{ type: "setRemote", description: { type: "answer", sdp: event.sdp } }];
      const answered = { ...state, signalingState: "stable", awaitingAnswer: false };
      if (state.needsOffer) {
        actions.push(...offerActions(state.iceRestart));
        return { state: offering(answered), actions };
      }
      return { state: answered, actions };
    }
    case "offerRejected": {
      if (!state.awaitingAnswer || state.signalingState !== "have-local-offer") {
        return { state, actions: [{ type: "ignore", reason: "no offer of ours is waiting for an answer" }] };
      }
      return { state: { ...state, signalingState: "stable", awaitingAnswer: false }, actions: [{ type: "rollback" }] };
    }
    case "release": {
      const released = { ...state, holdOffers: false };
      if (!state.holdOffers || !state.needsOffer || state.makingOffer || state.awaitingAnswer || state.signalingState !== "stable") {
        return { state: released, actions: [] };
      }
      return { state: offering(released), actions: offerActions(state.iceRestart) };
    }
  }
}
var NegotiationDriver = class {
  /** With `holdOffers`, local offers wait for the first server offer or `release()`. */
  constructor(pc, hooks, options = {}) {
    this.pc = pc;
    this.hooks = hooks;
    this._state = { ...INITIAL_NEGOTIATION_STATE };
    this.queue = Promise.resolve();
    this.closed = false;
    this.sentThisRun = false;
    this.lastSentOffer = null;
    this._state.holdOffers = options.holdOffers === true;
  }
  get state() {
    return this._state;
  }
  /** Resolves when every event queued so far has been handled. */
  idle() {
    return this.queue;
  }
  /** Local changes need an offer (or an ICE restart). */
  negotiate(options = {}) {
    return this.handle({ type: "localChange", iceRestart: options.iceRestart === true });
  }
  handleOffer(sdp) {
    return this.handle({ type: "remoteOffer", sdp });
  }
  handleAnswer(sdp) {
    return this.handle({ type: "remoteAnswer", sdp });
  }
  offerRejected() {
    return this.handle({ type: "offerRejected" });
  }
  /** Stops holding local offers; a held change is offered now. */
  release() {
    return this.handle({ type: "release" });
  }
  /** Stops handling events; queued ones are dropped. */
  close() {
    this.closed = true;
  }
  handle(event) {
    const run = this.queue.then(() => this.run(event));
    this.queue = run.catch(() => void 0);
    return run;
  }
  async run(event) {
    if (this.closed) return;
    const pc = this.pc;
    const current2 = { ...this._state, signalingState: pc.signalingState };
    if (event.type === "remoteAnswer") {
      const local = pc.localDescription;
      event = { ...event, localOfferSdp: local && local.type === "offer" ? local.sdp : null };
    }
    const step = negotiate(current2, event);
    this.hooks.onStep?.(event, step);
    this._state = { ...current2 };
    this.sentThisRun = false;
    for (const action of step.actions) {
      if (this.closed) return;
      try {
        await this.apply(action);
      } catch (error) {
        await this.recover(step);
        this.hooks.onError?.(error, action.type, event.type);
        return;
      }
    }
    this._state = { ...step.state, signalingState: pc.signalingState };
  }
  /** After a failed action: make the state true to the peer connection again. */
  async recover(step) {
    const pc = this.pc;
    const sent = pc.signalingState === "have-local-offer" && this.lastSentOffer !== null && pc.localDescription?.sdp === this.lastSentOffer;
    if (pc.signalingState === "have-local-offer" && !sent) {
      try {
        await pc.setLocalDescription({ type: "rollback" });
      } catch {
      }
    }
    const create = step.actions.find((a) => a.type === "createOffer");
    const offerLost = create !== void 0 && !this.sentThisRun;
    const signalingState = pc.signalingState;
    this._state = {
      ...step.state,
      signalingState,
      makingOffer: false,
      awaitingAnswer: signalingState === "have-local-offer" && sent,
      needsOffer: step.state.needsOffer || offerLost,
      iceRestart: step.state.iceRestart || offerLost && create.iceRestart
    };
  }
  async apply(action) {
    const pc = this.pc;
    switch (action.type) {
      case "rollback":
        if (pc.signalingState !== "stable") await pc.setLocalDescription({ type: "rollback" });
        this._state = { ...this._state, awaitingAnswer: false, makingOffer: false };
        return;
      case "setRemote":
        await pc.setRemoteDescription(action.description);
        if (action.description.type === "answer") this._state = { ...this._state, awaitingAnswer: false };
        this.hooks.onRemoteDescription?.(action.description);
        return;
      case "createAnswer": {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        return;
      }
      case "sendAnswer": {
        const sdp = pc.localDescription?.sdp;
        if (!sdp) throw new Error("no local answer to send");
        this.hooks.sendAnswer(sdp);
        return;
      }
      case "createOffer": {
        this._state = { ...this._state, makingOffer: true };
        try {
          const offer = await pc.createOffer(action.iceRestart ? { iceRestart: true } : void 0);
          await pc.setLocalDescription(offer);
        } finally {
          this._state = { ...this._state, makingOffer: false };
        }
        return;
      }
      case "announceTracks":
        this.hooks.announceTracks();
        return;
      case "sendOffer": {
        const sdp = pc.localDescription?.sdp;
        if (!sdp || pc.localDescription?.type !== "offer") throw new Error("no local offer to send");
        this.hooks.sendOffer(sdp);
        this.lastSentOffer = sdp;
        this.sentThisRun = true;
        this._state = { ...this._state, awaitingAnswer: true, needsOffer: false, iceRestart: false };
        return;
      }
      case "ignore":
        return;
    }
  }
};

// src/participant.ts
var RemoteTrack = class {
  /** @internal */
  constructor(info, owner) {
    this.owner = owner;
    /** Whether this client wants to receive it (default true: the server auto-subscribes). */
    this.subscribed = true;
    this.mediaListeners = /* @__PURE__ */ new Set();
    this.id = info.id;
    this.participantId = info.participant_id;
    this.kind = info.kind;
    this.source = info.source;
    this.name = info.name;
    this.mid = info.mid;
    this.codec = info.codec;
    this.muted = info.muted;
    this.simulcast = info.simulcast;
  }
  /** The received media, once subscribed. */
  get mediaStreamTrack() {
    return this.media;
  }
  /** @internal */
  update(info) {
    this.source = info.source;
    this.name = info.name;
    this.mid = info.mid;
    this.codec = info.codec;
    this.muted = info.muted;
    this.simulcast = info.simulcast;
  }
  /** @internal */
  setMedia(track) {
    if (track === this.media) return;
    this.media = track;
    for (const l of [...this.mediaListeners]) l(track);
  }
  onMediaChanged(listener) {
    this.mediaListeners.add(listener);
    return () => this.mediaListeners.delete(listener);
  }
  /** Subscribes or unsubscribes (the server adds or stops the track's m-line). */
  setSubscribed(subscribed) {
    this.owner.setSubscribed(this, subscribed);
  }
  /** Caps what the server sends of this video track (sent only when it changed). */
  setVideoCap(cap) {
    this.owner.setVideoCap(this, cap);
  }
};
var RemoteParticipant = class {
  /** @internal */
  constructor(info) {
    this.tracks = /* @__PURE__ */ new Map();
    this.id = info.id;
    this.identity = info.identity;
    this.name = info.name;
    this.joinedAt = info.joined_at;
  }
  /** @internal */
  update(info) {
    this.identity = info.identity;
    this.name = info.name;
    this.joinedAt = info.joined_at;
  }
};
var LocalTrack = class {
  /** @internal */
  constructor(track, options, owner) {
    this.owner = owner;
    this.muted = false;
    /** The m-line of this client's offer that carries it (this session). */
    this.mid = null;
    /** Unpublished: no longer sent, and never again. */
    this.unpublished = false;
    this.mediaStreamTrack = track;
    this.kind = track.kind === "audio" ? "audio" : "video";
    this.source = options.source;
    this.name = options.name;
    this.encodings = options.encodings;
    this.owned = options.owned === true;
    this._activeLayers = Object.freeze(this.layers);
  }
  get simulcast() {
    return (this.encodings?.length ?? 0) > 1;
  }
  /** The RIDs of the simulcast layers, low to high (empty without simulcast). */
  get layers() {
    if (!this.simulcast) return [];
    return (this.encodings ?? []).flatMap((e) => e.rid === void 0 ? [] : [e.rid]);
  }
  /**
   * Dynacast: the simulcast layers (RIDs, low to high) the server currently wants sent
   * (`publisher_layers`); every layer until the server says otherwise, and again after a rejoin.
   * The others are paused (their encodings' `active` is false). Empty for a simulcast track
   * nobody watches; always empty for a track without simulcast (audio, a single encoding), which
   * the server does not send `publisher_layers` for and is never paused. A layer the application
   * turned off in its `encodings` (`active: false`) stays off whatever the server wants.
   */
  get activeLayers() {
    return this._activeLayers;
  }
  /** @internal Sets the wanted layers (filtered to this track's, in its order); true when they changed. */
  setActiveLayers(rids) {
    const wanted = rids === null ? null : new Set(rids);
    const next = this.layers.filter((rid) => wanted === null || wanted.has(rid));
    const prev = this._activeLayers;
    if (next.length === prev.length && next.every((rid, i) => rid === prev[i])) return false;
    this._activeLayers = Object.freeze(next);
    return true;
  }
  mute() {
    this.owner.muteLocal(this, true);
  }
  unmute() {
    this.owner.muteLocal(this, false);
  }
};
var LocalParticipant = class {
  /** @internal */
  constructor(info) {
    this.tracks = [];
    this.id = info.id;
    this.identity = info.identity;
    this.name = info.name;
  }
};

// src/signaling.ts
var Invalid = class extends Error {
};
function isObj(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function obj(v, path) {
  if (!isObj(v)) throw new Invalid(`${path} is not an object`);
  return v;
}
function str(o, key, path) {
  const v = o[key];
  if (typeof v !== "string") throw new Invalid(`${path}.${key} is not a string`);
  return v;
}
function optStr(o, key, path) {
  const v = o[key];
  if (v === void 0 || v === null) return void 0;
  if (typeof v !== "string") throw new Invalid(`${path}.${key} is not a string`);
  return v;
}
function num(o, key, path) {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Invalid(`${path}.${key} is not a number`);
  return v;
}
function optNum(o, key, path) {
  const v = o[key];
  if (v === void 0 || v === null) return void 0;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Invalid(`${path}.${key} is not a number`);
  return v;
}
function bool(o, key, path) {
  const v = o[key];
  if (typeof v !== "boolean") throw new Invalid(`${path}.${key} is not a boolean`);
  return v;
}
function arr(o, key, path, each) {
  const v = o[key];
  if (!Array.isArray(v)) throw new Invalid(`${path}.${key} is not an array`);
  return v.map((item, i) => each(item, `${path}.${key}[${i}]`));
}
var SOURCES = ["camera", "microphone", "screen", "unknown"];
function normalizeSource(v) {
  if (v === "screen_share") return "screen";
  return typeof v === "string" && SOURCES.includes(v) ? v : "unknown";
}
function parseTrack(v, path = "track") {
  const o = obj(v, path);
  const kind = str(o, "kind", path);
  if (kind !== "audio" && kind !== "video") throw new Invalid(`${path}.kind is not audio or video`);
  const t = {
    id: str(o, "id", path),
    participant_id: str(o, "participant_id", path),
    kind,
    source: normalizeSource(o["source"]),
    mid: optStr(o, "mid", path) ?? "",
    codec: optStr(o, "codec", path) ?? "",
    muted: o["muted"] === void 0 ? false : bool(o, "muted", path),
    simulcast: o["simulcast"] === void 0 || o["simulcast"] === null ? [] : arr(o, "simulcast", path, (l, p) => {
      const lo = obj(l, p);
      const layer = { rid: str(lo, "rid", p) };
      const w = optNum(lo, "width", p);
      const h = optNum(lo, "height", p);
      if (w !== void 0) layer.width = w;
      if (h !== void 0) layer.height = h;
      return layer;
    })
  };
  const name = optStr(o, "name", path);
  if (name !== void 0) t.name = name;
  return t;
}
function parseParticipant(v, path = "participant") {
  const o = obj(v, path);
  const p = {
    id: str(o, "id", path),
    identity: str(o, "identity", path),
    joined_at: optNum(o, "joined_at", path) ?? 0,
    tracks: o["tracks"] === void 0 ? [] : arr(o, "tracks", path, parseTrack)
  };
  const name = optStr(o, "name", path);
  if (name !== void 0) p.name = name;
  return p;
}
function parseRoom(v, path = "room") {
  const o = obj(v, path);
  const r = {
    name: str(o, "name", path),
    sid: str(o, "sid", path),
    created_at: optNum(o, "created_at", path) ?? 0,
    num_participants: optNum(o, "num_participants", path) ?? 0,
    max_participants: optNum(o, "max_participants", path) ?? 0
  };
  const t = optNum(o, "empty_timeout_s", path);
  if (t !== void 0) r.empty_timeout_s = t;
  return r;
}
function parseIceServer(v, path) {
  const o = obj(v, path);
  const urls = o["urls"];
  let parsed;
  if (typeof urls === "string") parsed = urls;
  else if (Array.isArray(urls) && urls.every((u) => typeof u === "string")) parsed = urls;
  else throw new Invalid(`${path}.urls is not a string or an array of strings`);
  const s = { urls: parsed };
  const username = optStr(o, "username", path);
  const credential = optStr(o, "credential", path);
  if (username !== void 0) s.username = username;
  if (credential !== void 0) s.credential = credential;
  return s;
}
function parseCandidate(v, path = "candidate") {
  const o = obj(v, path);
  const c = { candidate: str(o, "candidate", path) };
  const mid = o["sdpMid"];
  if (mid === null || typeof mid === "string") c.sdpMid = mid;
  else if (mid !== void 0) throw new Invalid(`${path}.sdpMid is not a string`);
  const idx = o["sdpMLineIndex"];
  if (idx === null || typeof idx === "number" && Number.isInteger(idx)) c.sdpMLineIndex = idx;
  else if (idx !== void 0) throw new Invalid(`${path}.sdpMLineIndex is not an integer`);
  const uf = o["usernameFragment"];
  if (uf === null || typeof uf === "string") c.usernameFragment = uf;
  return c;
}
function validate(type, o) {
  const p = type;
  switch (type) {
    case "joined":
      return {
        type,
        room: parseRoom(o["room"]),
        participant: parseParticipant(o["participant"]),
        participants: o["participants"] === void 0 ? [] : arr(o, "participants", p, parseParticipant),
        ice_servers: o["ice_servers"] === void 0 || o["ice_servers"] === null ? [] : arr(o, "ice_servers", p, parseIceServer)
      };
    case "offer":
    case "answer":
      return { type, sdp: str(o, "sdp", p) };
    case "candidate":
      return { type, candidate: parseCandidate(o["candidate"]) };
    case "participant_joined":
      return { type, participant: parseParticipant(o["participant"]) };
    case "participant_left":
      return { type, participant_id: str(o, "participant_id", p) };
    case "track_published":
      return { type, track: parseTrack(o["track"]) };
    case "track_unpublished":
      return { type, track_id: str(o, "track_id", p) };
    case "track_muted":
      return { type, track_id: str(o, "track_id", p), muted: bool(o, "muted", p) };
    case "active_speakers":
      return {
        type,
        speakers: arr(o, "speakers", p, (s, sp) => {
          const so = obj(s, sp);
          return { participant_id: str(so, "participant_id", sp), level: num(so, "level", sp) };
        })
      };
    case "subscription": {
      const layer = o["layer"];
      if (layer !== void 0 && layer !== null && typeof layer !== "string") {
        throw new Invalid("subscription.layer is not a string or null");
      }
      const m = {
        type,
        track_id: str(o, "track_id", p),
        layer: typeof layer === "string" ? layer : null,
        paused: o["paused"] === void 0 ? false : bool(o, "paused", p)
      };
      const reason = optStr(o, "reason", p);
      if (reason !== void 0) m.reason = reason;
      return m;
    }
    case "publisher_layers":
      return {
        type,
        track_id: str(o, "track_id", p),
        active: arr(o, "active", p, (v, vp) => {
          if (typeof v !== "string") throw new Invalid(`${vp} is not a string`);
          return v;
        })
      };
    case "error":
      return { type, code: str(o, "code", p), message: optStr(o, "message", p) ?? "" };
    case "leave":
      return { type, reason: optStr(o, "reason", p) ?? "unknown" };
    default:
      return null;
  }
}
function parseServerMessage(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: "invalid", reason: "invalid_json", detail: String(e) };
  }
  if (!isObj(value)) return { kind: "invalid", reason: "not_an_object", detail: "not a JSON object" };
  const type = value["type"];
  if (typeof type !== "string") return { kind: "invalid", reason: "missing_type", detail: 'no string "type" field' };
  try {
    const message = validate(type, value);
    return message ? { kind: "message", message } : { kind: "ignored", type };
  } catch (e) {
    if (e instanceof Invalid) return { kind: "invalid", reason: "invalid_message", type, detail: e.message };
    throw e;
  }
}
function encodeClientMessage(message) {
  return JSON.stringify(message);
}
function buildSignalUrl(url, token) {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new Error(`unsupported URL scheme ${u.protocol}`);
  if (!u.pathname.endsWith("/v1/rtc")) u.pathname = u.pathname.replace(/\/+$/, "") + "/v1/rtc";
  u.searchParams.set("access_token", token);
  return u.toString();
}
var DEFAULT_BACKOFF = {
  initialDelayMs: 500,
  maxDelayMs: 15e3,
  factor: 2,
  jitter: 0.5,
  maxAttempts: 10
};
function backoffDelay(attempt, policy = DEFAULT_BACKOFF, random = Math.random) {
  if (!(attempt >= 0) || attempt >= policy.maxAttempts) return null;
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(policy.factor, attempt));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - jitter * r));
}
var SignalError = class extends Error {
  constructor(code, message, closeCode) {
    super(message);
    this.name = "SignalError";
    this.code = code;
    this.closeCode = closeCode;
  }
  /**
   * Whether trying again later may succeed. Join refusals that depend on the room or the token
   * do not; network failures, timeouts and `draining` may.
   */
  get retryable() {
    return RETRYABLE_CODES.has(this.code);
  }
};
var RETRYABLE_CODES = /* @__PURE__ */ new Set(["connect_failed", "timeout", "closed", "draining"]);
var OPEN = 1;
var SignalSession = class _SignalSession {
  constructor() {
    this.ws = null;
    this.queue = Promise.resolve();
    this.closedByClient = false;
    this.handlers = null;
    this._state = "connecting";
    this.buffered = [];
    this.pendingClose = null;
  }
  get state() {
    return this._state;
  }
  /**
   * Opens the socket and resolves with the `joined` message. Messages that arrive before
   * `start(handlers)` is called are buffered.
   */
  static open(url, options = {}) {
    const session = new _SignalSession();
    return session.connect(url, options).then((joined) => ({ session, joined }));
  }
  connect(url, options) {
    const factory = options.webSocketFactory ?? ((u) => {
      const WS = globalThis.WebSocket;
      if (!WS) throw new SignalError("connect_failed", "no WebSocket implementation available");
      return new WS(u);
    });
    return new Promise((resolve, reject) => {
      let joined = false;
      let ws;
      try {
        ws = factory(url);
      } catch (e) {
        reject(e instanceof SignalError ? e : new SignalError("connect_failed", String(e)));
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        if (joined) return;
        fail(new SignalError("timeout", "no `joined` message in time"));
        try {
          ws.close();
        } catch {
        }
      }, options.joinTimeoutMs ?? 15e3);
      let failure = null;
      const fail = (e) => {
        if (joined || failure) return;
        failure = e;
        clearTimeout(timer);
        this._state = "closed";
        reject(e);
      };
      ws.onopen = () => {
      };
      ws.onerror = () => {
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") return;
        const result = parseServerMessage(ev.data);
        if (result.kind !== "message") {
          options.onInvalid?.(result, ev.data);
          return;
        }
        const m = result.message;
        if (!joined) {
          if (m.type === "joined") {
            joined = true;
            clearTimeout(timer);
            this._state = "open";
            resolve(m);
          } else if (m.type === "error") {
            fail(new SignalError(m.code, m.message || m.code));
          } else if (m.type === "leave") {
            fail(new SignalError(m.reason, `left before joining: ${m.reason}`));
          }
          return;
        }
        if (m.type === "leave") this.leave = m;
        this.dispatch(m);
      };
      ws.onclose = (ev) => {
        this._state = "closed";
        if (!joined) {
          const code = ev.code === 1008 && ev.reason ? ev.reason : "connect_failed";
          fail(new SignalError(code, `signalling socket closed before joining (code ${ev.code}${ev.reason ? `, ${ev.reason}` : ""})`, ev.code));
          return;
        }
        if (this.closedByClient) return;
        const info = { code: ev.code, reason: ev.reason, leave: this.leave };
        const h = this.handlers;
        if (h) this.queue = this.queue.then(() => h.onClose(info));
        else this.pendingClose = info;
      };
    });
  }
  dispatch(m) {
    if (!this.handlers) {
      this.buffered.push(m);
      return;
    }
    const h = this.handlers;
    this.queue = this.queue.then(() => h.onMessage(m)).catch((e) => {
      console.error("sfu-client: message handler failed", e);
    });
  }
  /** Starts delivering messages (buffered ones first). */
  start(handlers) {
    this.handlers = handlers;
    const buffered = this.buffered;
    this.buffered = [];
    for (const m of buffered) this.dispatch(m);
    if (this.pendingClose) {
      const info = this.pendingClose;
      this.pendingClose = null;
      this.queue = this.queue.then(() => handlers.onClose(info));
    }
  }
  /** Sends a message; returns false when the socket is not open. */
  send(message) {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(encodeClientMessage(message));
      return true;
    } catch {
      return false;
    }
  }
  /** Closes the socket without reporting `onClose`. Sends `leave` first when `leave` is true. */
  close(leave = false) {
    if (this.closedByClient) return;
    if (leave) this.send({ type: "leave" });
    this.closedByClient = true;
    this._state = "closed";
    try {
      this.ws?.close(1e3, "client closed");
    } catch {
    }
  }
};

// src/reconnect.ts
var REJOIN_REASONS = /* @__PURE__ */ new Set(["peer_timeout", "connection_closed", "slow_client"]);
function rejoinAfterLeave(reason) {
  return REJOIN_REASONS.has(reason);
}
function isRetryableJoinError(error) {
  if (error instanceof AbortedError) return false;
  if (error instanceof SignalError) return error.retryable;
  return true;
}
var AbortedError = class extends Error {
  constructor() {
    super("aborted");
    this.name = "AbortedError";
  }
};
function defaultSleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
async function retryWithBackoff(attempt, options = {}) {
  const policy = { ...DEFAULT_BACKOFF, ...options.policy };
  const sleep = options.sleep ?? defaultSleep;
  const isRetryable = options.isRetryable ?? isRetryableJoinError;
  const random = options.random ?? Math.random;
  let waits = 0;
  if (options.delayFirst) {
    const d = backoffDelay(waits++, policy, random);
    if (d === null) throw new Error("no attempts allowed");
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
var DEFAULT_ICE_MONITOR = {
  disconnectedTimeoutMs: 4e3,
  restartTimeoutMs: 1e4,
  maxRestarts: 2,
  connectTimeoutMs: 15e3
};
var IceMonitor = class {
  constructor(callbacks, options = {}) {
    this.callbacks = callbacks;
    this.disconnectedTimer = null;
    this.restartTimer = null;
    this.connectTimer = null;
    this.everConnected = false;
    this.restarts = 0;
    this.restarting = false;
    this.disposed = false;
    this.options = { ...DEFAULT_ICE_MONITOR, ...options };
  }
  get isRestarting() {
    return this.restarting;
  }
  update(state) {
    if (this.disposed) return;
    switch (state) {
      case "connected":
      case "completed":
        this.everConnected = true;
        this.clearTimers();
        this.restarts = 0;
        if (this.restarting) {
          this.restarting = false;
          this.callbacks.restartingChanged?.(false);
        }
        return;
      case "disconnected":
        if (!this.restarting && !this.disconnectedTimer) {
          this.disconnectedTimer = setTimeout(() => {
            this.disconnectedTimer = null;
            this.restart();
          }, this.options.disconnectedTimeoutMs);
        }
        return;
      case "failed":
        if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
        this.disconnectedTimer = null;
        this.restart();
        return;
      case "closed":
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
  expectConnection() {
    if (this.disposed || this.everConnected || this.connectTimer || this.restarting) return;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (!this.everConnected) this.restart();
    }, this.options.connectTimeoutMs);
  }
  restart() {
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
  clearTimers() {
    if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.disconnectedTimer = null;
    this.restartTimer = null;
    this.connectTimer = null;
  }
  dispose() {
    this.disposed = true;
    this.clearTimers();
  }
};

// src/stats.ts
var numberOf = (v) => typeof v === "number" && Number.isFinite(v) ? v : void 0;
var stringOf = (v) => typeof v === "string" ? v : void 0;
function rate(memory, next, e, bytes, packets, lost) {
  const prev = memory.get(e.id);
  next.set(e.id, { timestamp: e.timestamp, bytes, packets, lost });
  if (!prev || e.timestamp <= prev.timestamp) return { bitrate: 0, lostDelta: lost, packetsDelta: packets };
  const seconds = (e.timestamp - prev.timestamp) / 1e3;
  return {
    bitrate: Math.max(0, Math.round((bytes - prev.bytes) * 8 / seconds)),
    lostDelta: Math.max(0, lost - prev.lost),
    packetsDelta: Math.max(0, packets - prev.packets)
  };
}
function summarizeStats(entries, memory, context) {
  const all = [...entries];
  const byId = new Map(all.map((e) => [e.id, e]));
  const next = /* @__PURE__ */ new Map();
  const tracks = [];
  const outbound = /* @__PURE__ */ new Map();
  for (const e of all) {
    const kind = stringOf(e["kind"]) ?? stringOf(e["mediaType"]);
    if (kind !== "audio" && kind !== "video") continue;
    if (e.type === "inbound-rtp") {
      const mid = stringOf(e["mid"]);
      const bytes = numberOf(e["bytesReceived"]) ?? 0;
      const packets = numberOf(e["packetsReceived"]) ?? 0;
      const lost = Math.max(0, numberOf(e["packetsLost"]) ?? 0);
      const r = rate(memory, next, e, bytes, packets, lost);
      const trackId = mid !== void 0 ? context.remoteTrackId(mid) : void 0;
      const t = {
        direction: "inbound",
        kind,
        mid,
        trackId,
        bitrate: r.bitrate,
        width: numberOf(e["frameWidth"]),
        height: numberOf(e["frameHeight"]),
        framesPerSecond: numberOf(e["framesPerSecond"]),
        packetsLost: lost,
        packetLoss: r.lostDelta + r.packetsDelta > 0 ? r.lostDelta / (r.lostDelta + r.packetsDelta) : 0,
        jitter: numberOf(e["jitter"]),
        roundTripTime: void 0
      };
      if (kind === "video" && trackId) {
        const sub = context.subscription(trackId);
        t.layer = sub ? sub.layer : void 0;
        t.paused = sub ? sub.paused : false;
      }
      tracks.push(t);
    } else if (e.type === "outbound-rtp") {
      const key = `${kind}:${stringOf(e["mid"]) ?? stringOf(e["mediaSourceId"]) ?? e.id}`;
      let group = outbound.get(key);
      if (!group) {
        group = { entries: [] };
        outbound.set(key, group);
      }
      group.entries.push(e);
    }
  }
  for (const { entries: group } of outbound.values()) {
    const first = group[0];
    const kind = stringOf(first["kind"]) ?? stringOf(first["mediaType"]);
    const mid = stringOf(first["mid"]);
    let bitrate = 0;
    let lost = 0;
    let fractionLost;
    let rtt;
    let jitter;
    const layers = [];
    for (const e of group) {
      const bytes = numberOf(e["bytesSent"]) ?? 0;
      const packets = numberOf(e["packetsSent"]) ?? 0;
      const r = rate(memory, next, e, bytes, packets, 0);
      bitrate += r.bitrate;
      const remoteId = stringOf(e["remoteId"]);
      const remote = remoteId ? byId.get(remoteId) : void 0;
      if (remote) {
        lost += Math.max(0, numberOf(remote["packetsLost"]) ?? 0);
        const f = numberOf(remote["fractionLost"]);
        if (f !== void 0) fractionLost = Math.max(fractionLost ?? 0, f);
        rtt = numberOf(remote["roundTripTime"]) ?? rtt;
        jitter = numberOf(remote["jitter"]) ?? jitter;
      }
      layers.push({
        rid: stringOf(e["rid"]),
        bitrate: r.bitrate,
        width: numberOf(e["frameWidth"]),
        height: numberOf(e["frameHeight"]),
        framesPerSecond: numberOf(e["framesPerSecond"]),
        active: typeof e["active"] === "boolean" ? e["active"] : void 0,
        qualityLimitationReason: stringOf(e["qualityLimitationReason"])
      });
    }
    const top = [...layers].filter((l) => l.active !== false).sort((a, b) => (b.width ?? 0) * (b.height ?? 0) - (a.width ?? 0) * (a.height ?? 0))[0] ?? layers[0];
    const t = {
      direction: "outbound",
      kind,
      mid,
      trackId: mid !== void 0 ? context.localTrackId(mid) : void 0,
      bitrate,
      width: top?.width,
      height: top?.height,
      framesPerSecond: top?.framesPerSecond,
      packetsLost: lost,
      packetLoss: fractionLost ?? 0,
      jitter,
      roundTripTime: rtt
    };
    if (layers.length > 1 || layers[0]?.rid !== void 0) {
      t.layers = layers.sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
    }
    tracks.push(t);
  }
  return { tracks, memory: next };
}
var StatsCollector = class {
  constructor() {
    this.memory = /* @__PURE__ */ new Map();
  }
  async collect(pc, context) {
    const report = await pc.getStats();
    const entries = [];
    report.forEach((value) => entries.push(value));
    const { tracks, memory } = summarizeStats(entries, this.memory, context);
    this.memory = memory;
    return tracks;
  }
  reset() {
    this.memory = /* @__PURE__ */ new Map();
  }
};

// src/room.ts
var MAX_QUEUED_DATA = 256;
var Room = class extends TypedEmitter {
  constructor(options = {}) {
    super();
    /** Everyone else, by participant id. */
    this.participants = /* @__PURE__ */ new Map();
    this.activeSpeakers = [];
    this._state = "connecting";
    this.session = null;
    this.url = "";
    this.token = "";
    this.remoteTracks = /* @__PURE__ */ new Map();
    this.pending = [];
    this.dataQueue = [];
    this.stats = new StatsCollector();
    this.rejoinAbort = null;
    this.connected = false;
    this.options = options;
  }
  get state() {
    return this._state;
  }
  isDisconnected() {
    return this._state === "disconnected";
  }
  get name() {
    return this.info?.name;
  }
  /** The current peer connection (for diagnostics). Replaced on every rejoin. */
  get peerConnection() {
    return this.session?.pc;
  }
  /** Remote tracks by server track id. */
  get tracks() {
    return this.remoteTracks;
  }
  /** Joins. Rejects with a `SignalError` when the join is refused or the server cannot be reached. */
  async connect(url, token) {
    if (this.connected) throw new Error("already connected");
    this.connected = true;
    this.url = url;
    this.token = token;
    const attempts = Math.max(1, this.options.connectAttempts ?? 3);
    try {
      await retryWithBackoff(() => this.startSession(token, false), {
        policy: { ...DEFAULT_BACKOFF, ...this.options.reconnect || {}, maxAttempts: attempts },
        onRetry: (n, delay, e) => this.log(`join attempt ${n + 1} failed, retrying in ${delay} ms`, e)
      });
    } catch (e) {
      this.setState("disconnected");
      throw e;
    }
    this.setState("connected");
  }
  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------
  async startSession(token, rejoin) {
    if (this.isDisconnected()) throw new AbortedError();
    const { session: signal, joined } = await SignalSession.open(buildSignalUrl(this.url, token), {
      webSocketFactory: this.options.webSocketFactory,
      joinTimeoutMs: this.options.joinTimeoutMs,
      onInvalid: (r, raw) => this.log("ignored server message", r, raw)
    });
    if (this._state === "disconnected") {
      signal.close(true);
      throw new AbortedError();
    }
    let pc;
    try {
      pc = this.createPeerConnection(joined);
    } catch (e) {
      signal.close(true);
      throw e;
    }
    const session = {
      signal,
      pc,
      driver: null,
      ice: null,
      data: null,
      remoteByMid: /* @__PURE__ */ new Map(),
      received: /* @__PURE__ */ new Map(),
      transceivers: /* @__PURE__ */ new Map(),
      announced: /* @__PURE__ */ new Map(),
      candidates: [],
      layerJobs: /* @__PURE__ */ new Map(),
      closed: false
    };
    const holdOffers = joined.participants.some((p) => p.tracks.length > 0);
    session.driver = new NegotiationDriver(pc, {
      sendOffer: (sdp) => this.sendOrThrow(session, { type: "offer", sdp }),
      sendAnswer: (sdp) => this.sendOrThrow(session, { type: "answer", sdp }),
      announceTracks: () => this.announceTracks(session),
      onRemoteDescription: (d) => {
        session.ice.expectConnection();
        if (d.type === "offer") this.afterRemoteOffer(session, d.sdp);
        for (const c of session.candidates.splice(0)) void this.addCandidate(session, c);
        void session.driver.idle().then(() => this.reapplyLayers(session));
      },
      onError: (error, action, event) => {
        this.log(`negotiation: ${action} failed while handling ${event}`, error);
        const socketGone = error instanceof SignalError && error.code === "closed";
        if (!socketGone) this.emit("error", error instanceof Error ? error : new Error(String(error)));
        if (event === "remoteOffer" && !session.closed) this.sessionLost(session, void 0);
      },
      onStep: (event, step) => this.log(`negotiation ${event.type}`, step.actions.map((a) => a.type))
    }, { holdOffers });
    session.ice = new IceMonitor(
      {
        restart: () => {
          this.log("ICE restart");
          void session.driver.negotiate({ iceRestart: true });
        },
        giveUp: () => this.sessionLost(session, void 0),
        restartingChanged: (restarting) => {
          if (this.session !== session) return;
          if (restarting) this.setState("ice_restarting");
          else if (this._state === "ice_restarting") this.setState("connected");
        }
      },
      this.options.ice
    );
    this.wirePeerConnection(session);
    this.session = session;
    this.applyJoined(joined, rejoin);
    let publishing = false;
    for (const track of this.localParticipant?.tracks ?? []) {
      if (track.unpublished) continue;
      track.sid = void 0;
      track.mid = null;
      if (track.setActiveLayers(null)) this.emit("publisherLayersChanged", track, track.activeLayers);
      this.addTransceiver(session, track);
      publishing = true;
    }
    if (publishing) void session.driver.negotiate();
    if (holdOffers) {
      setTimeout(() => {
        if (!session.closed) void session.driver.release();
      }, this.options.initialOfferHoldMs ?? 2e3);
    }
    setTimeout(() => {
      if (session.closed) return;
      signal.start({
        onMessage: (m) => this.onMessage(session, m),
        onClose: (info) => this.onSignalClose(session, info.leave)
      });
      if (rejoin) this.restoreSubscriptions(session);
    }, 0);
  }
  createPeerConnection(joined) {
    const config = {
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
      ...this.options.rtcConfig
    };
    if (joined.ice_servers.length > 0) config.iceServers = joined.ice_servers;
    else if (!config.iceServers) config.iceServers = [];
    if (this.options.peerConnectionFactory) return this.options.peerConnectionFactory(config);
    return new RTCPeerConnection(config);
  }
  wirePeerConnection(session) {
    const pc = session.pc;
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;
      this.send(session, { type: "candidate", candidate: ev.candidate.toJSON() });
    };
    pc.ontrack = (ev) => this.onTrack(session, ev);
    pc.ondatachannel = (ev) => {
      if (ev.channel.label === "data") this.useDataChannel(session, ev.channel);
    };
    pc.oniceconnectionstatechange = () => {
      if (!session.closed) session.ice.update(pc.iceConnectionState);
    };
  }
  sendOrThrow(session, message) {
    if (!this.send(session, message)) throw new SignalError("closed", "signalling socket is not open");
  }
  send(session, message) {
    if (!session || session.closed) return false;
    return session.signal.send(message);
  }
  closeSession(session, leave) {
    if (session.closed) return;
    session.closed = true;
    session.driver.close();
    session.ice.dispose();
    session.signal.close(leave);
    try {
      session.data?.close();
    } catch {
    }
    session.pc.ontrack = null;
    session.pc.onicecandidate = null;
    session.pc.ondatachannel = null;
    session.pc.oniceconnectionstatechange = null;
    session.pc.close();
    for (const trackId of [...session.received.keys()]) this.unbindMedia(session, trackId);
    if (this.session === session) this.session = null;
  }
  // -------------------------------------------------------------------------------------------
  // Joined, participants, tracks
  // -------------------------------------------------------------------------------------------
  applyJoined(joined, rejoin) {
    this.info = joined.room;
    if (this.localParticipant) {
      this.localParticipant.id = joined.participant.id;
      this.localParticipant.identity = joined.participant.identity;
      this.localParticipant.name = joined.participant.name;
    } else {
      this.localParticipant = new LocalParticipant(joined.participant);
    }
    const present = new Set(joined.participants.map((p) => p.id));
    for (const p of [...this.participants.values()]) {
      if (!present.has(p.id)) this.removeParticipant(p.id);
    }
    for (const info of joined.participants) this.upsertParticipant(info, rejoin);
  }
  /** Adds or updates a participant and its tracks; events only when `notify` (not at the first join). */
  upsertParticipant(info, notify) {
    let p = this.participants.get(info.id);
    const isNew = !p;
    if (p) p.update(info);
    else {
      p = new RemoteParticipant(info);
      this.participants.set(p.id, p);
    }
    if (isNew && notify) this.emit("participantJoined", p);
    const seen = /* @__PURE__ */ new Set();
    for (const t of info.tracks) {
      seen.add(t.id);
      this.upsertTrack(p, t, notify);
    }
    if (!isNew) {
      for (const t of [...p.tracks.values()]) if (!seen.has(t.id)) this.removeTrack(t.id);
    }
    return p;
  }
  upsertTrack(p, info, notify) {
    let t = this.remoteTracks.get(info.id);
    if (t) {
      t.update(info);
      return;
    }
    t = new RemoteTrack(info, this);
    p.tracks.set(t.id, t);
    this.remoteTracks.set(t.id, t);
    if (notify) this.emit("trackPublished", t, p);
    if (this.session) this.bindMedia(this.session, t.id);
  }
  removeTrack(trackId) {
    const t = this.remoteTracks.get(trackId);
    if (!t) return;
    if (this.session) this.unbindMedia(this.session, trackId);
    const p = this.participants.get(t.participantId);
    this.remoteTracks.delete(trackId);
    p?.tracks.delete(trackId);
    if (p) this.emit("trackUnpublished", t, p);
  }
  removeParticipant(id) {
    const p = this.participants.get(id);
    if (!p) return;
    for (const t of [...p.tracks.keys()]) this.removeTrack(t);
    this.participants.delete(id);
    this.activeSpeakers = this.activeSpeakers.filter((s) => s.participantId !== id);
    this.emit("participantLeft", p);
  }
  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------
  async onMessage(session, m) {
    if (session.closed) return;
    switch (m.type) {
      case "joined":
        return;
      case "offer":
        for (const [mid, v] of remoteTracksByMid(m.sdp)) session.remoteByMid.set(mid, v);
        await session.driver.handleOffer(m.sdp).catch(() => void 0);
        return;
      case "answer":
        await session.driver.handleAnswer(m.sdp).catch(() => void 0);
        return;
      case "candidate":
        if (!session.pc.remoteDescription) {
          session.candidates.push(m.candidate);
          return;
        }
        await this.addCandidate(session, m.candidate);
        return;
      case "participant_joined":
        if (m.participant.id !== this.localParticipant?.id) this.upsertParticipant(m.participant, true);
        return;
      case "participant_left":
        this.removeParticipant(m.participant_id);
        return;
      case "track_published":
        this.onTrackPublished(session, m.track);
        return;
      case "track_unpublished":
        this.onTrackUnpublished(m.track_id);
        return;
      case "track_muted":
        this.onTrackMuted(m.track_id, m.muted);
        return;
      case "active_speakers":
        this.activeSpeakers = m.speakers.map((s) => ({
          participantId: s.participant_id,
          participant: s.participant_id === this.localParticipant?.id ? this.localParticipant : this.participants.get(s.participant_id),
          level: s.level
        }));
        this.emit("activeSpeakers", this.activeSpeakers);
        return;
      case "subscription": {
        const t = this.remoteTracks.get(m.track_id);
        if (!t) return;
        const state = { layer: m.layer, paused: m.paused };
        if (m.reason !== void 0) state.reason = m.reason;
        t.subscription = state;
        this.emit("subscriptionChanged", t, state);
        return;
      }
      case "publisher_layers":
        this.onPublisherLayers(session, m.track_id, m.active);
        return;
      case "error":
        this.onServerError(session, m.code, m.message);
        return;
      case "leave":
        return;
    }
  }
  async addCandidate(session, candidate) {
    try {
      await session.pc.addIceCandidate(candidate);
    } catch (e) {
      this.log("addIceCandidate failed", e);
    }
  }
  onServerError(session, code, message) {
    const error = new SignalError(code, message);
    this.log("server error", code, message);
    const awaiting = session.driver.state.awaitingAnswer;
    if (awaiting && (code === "invalid_sdp" || code === "sdp_rejected")) {
      void session.driver.offerRejected();
    }
    if (awaiting && code === "permission_denied") {
      for (const p of [...this.pending]) {
        if (p.track.mid !== null && !p.track.sid) this.failPublish(p.track, error);
      }
    }
    this.emit("signalError", error);
  }
  onTrackPublished(session, info) {
    const local = this.localParticipant;
    if (local && info.participant_id === local.id) {
      const track = local.tracks.find((t) => !t.unpublished && session.transceivers.get(t)?.mid === info.mid);
      if (!track) return;
      const first = track.sid === void 0;
      track.sid = info.id;
      track.mid = info.mid;
      if (info.muted !== track.muted) this.send(session, { type: "mute", track_id: info.id, muted: track.muted });
      const p2 = this.pending.findIndex((x) => x.track === track);
      if (p2 >= 0) {
        const [entry] = this.pending.splice(p2, 1);
        if (entry) {
          clearTimeout(entry.timer);
          entry.resolve(track);
        }
      }
      if (first) this.emit("localTrackPublished", track);
      return;
    }
    let p = this.participants.get(info.participant_id);
    if (!p) {
      p = this.upsertParticipant({ id: info.participant_id, identity: "", joined_at: 0, tracks: [] }, true);
    }
    this.upsertTrack(p, info, true);
  }
  onTrackUnpublished(trackId) {
    if (this.remoteTracks.has(trackId)) {
      this.removeTrack(trackId);
      return;
    }
    const local = this.localParticipant?.tracks.find((t) => t.sid === trackId);
    if (local && !local.unpublished) {
      local.sid = void 0;
      this.emit("localTrackUnpublished", local);
    }
  }
  onTrackMuted(trackId, muted) {
    const remote = this.remoteTracks.get(trackId);
    if (remote) {
      if (remote.muted === muted) return;
      remote.muted = muted;
      const p = this.participants.get(remote.participantId);
      if (p) this.emit("trackMuted", remote, muted, p);
      return;
    }
    const local = this.localParticipant?.tracks.find((t) => t.sid === trackId);
    if (local && this.localParticipant && local.muted !== muted) {
      local.muted = muted;
      local.mediaStreamTrack.enabled = !muted;
      this.emit("trackMuted", local, muted, this.localParticipant);
    }
  }
  // -------------------------------------------------------------------------------------------
  // Dynacast: pausing the simulcast layers no one needs
  // -------------------------------------------------------------------------------------------
  onPublisherLayers(session, trackId, active) {
    const track = this.localParticipant?.tracks.find((t) => t.sid === trackId && !t.unpublished);
    if (!track) {
      this.log("publisher_layers for an unknown track", trackId);
      return;
    }
    if (!track.simulcast) {
      this.log("publisher_layers for a track without simulcast", trackId);
      return;
    }
    const changed = track.setActiveLayers(active);
    this.applyLayers(session, track);
    if (changed) this.emit("publisherLayersChanged", track, track.activeLayers);
  }
  /** After a negotiation: every simulcast sender's layers as wanted again. */
  reapplyLayers(session) {
    if (session.closed) return;
    for (const track of session.transceivers.keys()) {
      if (track.simulcast && !track.unpublished) this.applyLayers(session, track);
    }
  }
  /**
   * Brings the `active` flags of a simulcast sender's encodings to the wanted state. One
   * `setParameters` at a time per sender: a change while one is in flight is applied after it,
   * with the state wanted then (intermediate states are skipped).
   */
  applyLayers(session, track) {
    const transceiver = session.transceivers.get(track);
    if (!transceiver || session.closed || !track.simulcast) return;
    const sender = transceiver.sender;
    const running = session.layerJobs.get(sender);
    if (running) {
      running.again = true;
      return;
    }
    const job = { again: false };
    session.layerJobs.set(sender, job);
    void (async () => {
      try {
        do {
          job.again = false;
          if (session.closed || track.unpublished || session.transceivers.get(track) !== transceiver) return;
          await this.setSenderLayers(session, sender, track);
        } while (job.again);
      } finally {
        session.layerJobs.delete(sender);
      }
    })();
  }
  async setSenderLayers(session, sender, track) {
    try {
      const params = sender.getParameters();
      const wanted = new Set(track.activeLayers);
      let changed = false;
      for (const encoding of params.encodings ?? []) {
        const rid = encoding.rid;
        if (rid === void 0) continue;
        const allowed = track.encodings?.find((e) => e.rid === rid)?.active !== false;
        const active = allowed && wanted.has(rid);
        if (encoding.active !== false !== active) {
          encoding.active = active;
          changed = true;
        }
      }
      if (!changed) return;
      this.log("layers", track.sid, [...wanted]);
      await sender.setParameters(params);
    } catch (e) {
      if (session.closed) return;
      this.log("setting the simulcast layers failed", e);
      this.emit("error", e instanceof Error ? e : new Error(String(e)));
    }
  }
  onSignalClose(session, leave) {
    if (session.closed || this.session !== session) return;
    this.sessionLost(session, leave?.reason);
  }
  /** The session ended without the client asking: rejoin, or disconnect for good. */
  sessionLost(session, leaveReason) {
    if (session.closed && this.session !== session) return;
    if (this._state === "disconnected") return;
    const canRejoin = this.options.reconnect !== false && (leaveReason === void 0 || rejoinAfterLeave(leaveReason));
    this.closeSession(session, false);
    if (!canRejoin) {
      this.finish(leaveReason ?? "signal_closed", void 0);
      return;
    }
    void this.rejoin();
  }
  async rejoin() {
    if (this.rejoinAbort) return;
    const abort = new AbortController();
    this.rejoinAbort = abort;
    this.setState("reconnecting");
    this.stats.reset();
    try {
      await retryWithBackoff(
        async () => {
          const token = this.options.tokenProvider ? await this.options.tokenProvider() : this.token;
          await this.startSession(token, true);
        },
        {
          policy: this.options.reconnect || {},
          signal: abort.signal,
          delayFirst: true,
          onRetry: (n, delay, e) => this.log(`rejoin attempt ${n + 1} failed, retrying in ${delay} ms`, e)
        }
      );
      this.rejoinAbort = null;
      this.setState("connected");
      this.emit("reconnected");
    } catch (e) {
      this.rejoinAbort = null;
      if (e instanceof AbortedError) return;
      this.finish("reconnect_failed", e instanceof Error ? e : new Error(String(e)));
    }
  }
  /** After a rejoin: tell the server what this client had unsubscribed from. */
  restoreSubscriptions(session) {
    for (const t of this.remoteTracks.values()) {
      if (!t.subscribed) this.send(session, { type: "subscribe", track_id: t.id, subscribe: false });
    }
  }
  // -------------------------------------------------------------------------------------------
  // Received media
  // -------------------------------------------------------------------------------------------
  onTrack(session, ev) {
    const mid = ev.transceiver?.mid ?? null;
    const mapped = mid !== null ? session.remoteByMid.get(mid) : void 0;
    const trackId = mapped?.trackId ?? ev.track.id;
    if (!trackId) return;
    const previous = session.received.get(trackId);
    if (previous && previous.track !== ev.track) this.unbindMedia(session, trackId);
    session.received.set(trackId, { track: ev.track, mid });
    ev.track.addEventListener("ended", () => {
      if (session.received.get(trackId)?.track === ev.track) this.unbindMedia(session, trackId);
    });
    this.bindMedia(session, trackId);
  }
  /** Media and metadata both known: the track is subscribed. */
  bindMedia(session, trackId) {
    const media = session.received.get(trackId);
    const t = this.remoteTracks.get(trackId);
    if (!media || !t || t.mediaStreamTrack === media.track) return;
    const p = this.participants.get(t.participantId);
    if (!p) return;
    t.setMedia(media.track);
    this.emit("trackSubscribed", media.track, t, p);
    if (t.kind === "video" && t.cap) this.sendCap(session, t, t.cap);
  }
  unbindMedia(session, trackId) {
    const media = session.received.get(trackId);
    session.received.delete(trackId);
    const t = this.remoteTracks.get(trackId);
    if (!media || !t || t.mediaStreamTrack !== media.track) return;
    t.setMedia(void 0);
    t.subscription = void 0;
    const p = this.participants.get(t.participantId);
    if (p) this.emit("trackUnsubscribed", media.track, t, p);
  }
  /** After a server offer: m-lines it stopped (port 0) or made inactive end their tracks. */
  afterRemoteOffer(session, sdp) {
    const live = /* @__PURE__ */ new Set();
    for (const m of mediaSections(sdp)) {
      if (m.mid !== null && m.port !== 0 && m.direction !== "inactive" && m.direction !== "recvonly") live.add(m.mid);
    }
    for (const [trackId, media] of [...session.received]) {
      if (media.mid !== null && !live.has(media.mid)) this.unbindMedia(session, trackId);
    }
    for (const mid of [...session.remoteByMid.keys()]) if (!live.has(mid)) session.remoteByMid.delete(mid);
  }
  // -------------------------------------------------------------------------------------------
  // Subscriptions (TrackOwner)
  // -------------------------------------------------------------------------------------------
  /** @internal */
  setSubscribed(track, subscribed) {
    if (track.subscribed === subscribed) return;
    track.subscribed = subscribed;
    this.send(this.session, { type: "subscribe", track_id: track.id, subscribe: subscribed });
  }
  /** @internal */
  setVideoCap(track, cap) {
    if (capsEqual(track.cap, cap)) return;
    track.cap = { ...cap };
    if (this.session && track.mediaStreamTrack) this.sendCap(this.session, track, cap);
  }
  sendCap(session, track, cap) {
    this.send(session, capMessage(track.id, cap));
  }
  /** Caps a remote video track explicitly (also what `attach` does for you). */
  setSubscription(trackId, cap) {
    const t = this.remoteTracks.get(trackId);
    if (!t) throw new Error(`unknown track ${trackId}`);
    t.setVideoCap(cap);
  }
  /** Subscribes to or unsubscribes from a remote track. */
  subscribe(trackId, subscribed = true) {
    const t = this.remoteTracks.get(trackId);
    if (!t) throw new Error(`unknown track ${trackId}`);
    t.setSubscribed(subscribed);
  }
  // -------------------------------------------------------------------------------------------
  // Publishing
  // -------------------------------------------------------------------------------------------
  /**
   * Publishes a track the application captured (it stays the application's: the SDK does not
   * stop it). Resolves once the server confirms it (`track_published`, after ICE and DTLS are up).
   */
  publishTrack(mediaTrack, options = {}) {
    return this.publish(mediaTrack, options, false);
  }
  publish(mediaTrack, options, owned) {
    const local = this.localParticipant;
    if (!local || this._state === "disconnected") return Promise.reject(new Error("not connected"));
    if (local.tracks.some((t) => t.mediaStreamTrack === mediaTrack && !t.unpublished)) {
      return Promise.reject(new Error("track already published"));
    }
    let encodings;
    if (mediaTrack.kind === "video") {
      if (options.encodings) encodings = options.encodings;
      else {
        const s = mediaTrack.getSettings?.() ?? {};
        const size = options.resolution ?? (s.width && s.height ? { width: s.width, height: s.height } : RESOLUTIONS.h720);
        encodings = videoEncodings(size, { simulcast: options.simulcast ?? options.source === "camera", fps: s.frameRate, maxBitrate: options.maxBitrate });
      }
    }
    const track = new LocalTrack(mediaTrack, { source: options.source ?? "unknown", name: options.name, encodings, owned }, this);
    local.tracks.push(track);
    const promise = new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.failPublish(track, new SignalError("timeout", "the server did not confirm the track in time")), this.options.publishTimeoutMs ?? 3e4);
      this.pending.push({ track, resolve, reject, timer });
    });
    const session = this.session;
    if (session && !session.closed) {
      try {
        this.addTransceiver(session, track);
        void session.driver.negotiate();
      } catch (e) {
        this.failPublish(track, e instanceof Error ? e : new Error(String(e)));
      }
    }
    return promise;
  }
  failPublish(track, error) {
    const i = this.pending.findIndex((p) => p.track === track);
    if (i < 0) return;
    const [entry] = this.pending.splice(i, 1);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.reject(error);
    void this.unpublish(track);
  }
  addTransceiver(session, track) {
    const init = { direction: "sendonly" };
    if (track.kind === "video" && track.encodings) init.sendEncodings = track.encodings.map((e) => ({ ...e }));
    const transceiver = session.pc.addTransceiver(track.mediaStreamTrack, init);
    session.transceivers.set(track, transceiver);
  }
  /** Sends `track_info` for m-lines that got a mid in the offer about to be sent. */
  announceTracks(session) {
    for (const [track, transceiver] of session.transceivers) {
      const mid = transceiver.mid;
      if (track.unpublished || mid === null || session.announced.get(transceiver) === mid) continue;
      track.mid = mid;
      const m = { type: "track_info", mid, source: track.source };
      if (track.name !== void 0) m.name = track.name;
      this.send(session, m);
      session.announced.set(transceiver, mid);
    }
  }
  /** Captures the camera and publishes it (simulcast q/h/f by default). */
  async publishCamera(options = {}) {
    const resolution = options.resolution ?? RESOLUTIONS.h720;
    const video = {
      width: { ideal: resolution.width },
      height: { ideal: resolution.height }
    };
    if (options.frameRate) video.frameRate = { ideal: options.frameRate };
    if (options.deviceId) video.deviceId = { exact: options.deviceId };
    if (options.facingMode) video.facingMode = options.facingMode;
    const stream = await navigator.mediaDevices.getUserMedia({ video });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error("no camera track");
    const settings = track.getSettings();
    const size = settings.width && settings.height ? { width: settings.width, height: settings.height } : resolution;
    const publish = { source: "camera", simulcast: options.simulcast ?? true, resolution: size };
    if (options.maxBitrate !== void 0) publish.maxBitrate = options.maxBitrate;
    if (options.name !== void 0) publish.name = options.name;
    return this.publish(track, publish, true);
  }
  /** Captures the microphone and publishes it. */
  async publishMicrophone(options = {}) {
    const audio = {
      echoCancellation: options.echoCancellation ?? true,
      noiseSuppression: options.noiseSuppression ?? true,
      autoGainControl: options.autoGainControl ?? true
    };
    if (options.deviceId) audio.deviceId = { exact: options.deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    const track = stream.getAudioTracks()[0];
    if (!track) throw new Error("no microphone track");
    return this.publish(track, { source: "microphone", ...options.name !== void 0 ? { name: options.name } : {} }, true);
  }
  /**
   * Shares a screen, window or tab (the browser asks the user). Unpublished by itself when the
   * user stops sharing. With `audio`, the shared audio is published as a second `screen` track.
   */
  async publishScreen(options = {}) {
    const fps = options.frameRate ?? 15;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: fps } }, audio: options.audio === true });
    const video = stream.getVideoTracks()[0];
    if (!video) throw new Error("no screen track");
    if ("contentHint" in video) video.contentHint = "detail";
    const s = video.getSettings();
    const encoding = screenShareEncoding({ width: s.width ?? 1920, height: s.height ?? 1080 }, fps);
    if (options.maxBitrate !== void 0) encoding.maxBitrate = options.maxBitrate;
    const name = options.name !== void 0 ? { name: options.name } : {};
    const published = this.publish(video, { source: "screen", encodings: [encoding], ...name }, true);
    const audioTrack = stream.getAudioTracks()[0];
    const audio = audioTrack ? this.publish(audioTrack, { source: "screen", ...name }, true) : void 0;
    video.addEventListener("ended", () => {
      const t = this.localParticipant?.tracks.find((x) => x.mediaStreamTrack === video);
      if (t) void this.unpublish(t);
      const a = audioTrack && this.localParticipant?.tracks.find((x) => x.mediaStreamTrack === audioTrack);
      if (a) void this.unpublish(a);
    });
    audio?.catch(() => void 0);
    return published;
  }
  /**
   * Stops publishing a track: its transceiver becomes inactive (the server unpublishes it) and,
   * when the SDK captured the media, the capture stops.
   */
  async unpublish(track) {
    if (track.unpublished) return;
    track.unpublished = true;
    const local = this.localParticipant;
    if (local) {
      const i2 = local.tracks.indexOf(track);
      if (i2 >= 0) local.tracks.splice(i2, 1);
    }
    const wasPublished = track.sid !== void 0;
    const i = this.pending.findIndex((p) => p.track === track);
    if (i >= 0) {
      const [entry] = this.pending.splice(i, 1);
      if (entry) {
        clearTimeout(entry.timer);
        entry.reject(new Error("unpublished"));
      }
    }
    const session = this.session;
    const transceiver = session?.transceivers.get(track);
    if (session && transceiver) {
      session.transceivers.delete(track);
      try {
        if (transceiver.mid === null) {
          transceiver.stop();
        } else {
          transceiver.direction = "inactive";
          await transceiver.sender.replaceTrack(null);
        }
      } catch (e) {
        this.log("unpublish: transceiver change failed", e);
      }
      if (!session.closed) void session.driver.negotiate();
    }
    if (track.owned) track.mediaStreamTrack.stop();
    track.sid = void 0;
    if (wasPublished) this.emit("localTrackUnpublished", track);
  }
  /** Mutes a local track: it stops sending (track.enabled) and everyone gets `track_muted`. */
  mute(track) {
    this.muteLocal(track, true);
  }
  unmute(track) {
    this.muteLocal(track, false);
  }
  /** @internal */
  muteLocal(track, muted) {
    if (track.muted === muted) return;
    track.muted = muted;
    track.mediaStreamTrack.enabled = !muted;
    if (track.sid) this.send(this.session, { type: "mute", track_id: track.sid, muted });
    if (this.localParticipant) this.emit("trackMuted", track, muted, this.localParticipant);
  }
  // -------------------------------------------------------------------------------------------
  // Data
  // -------------------------------------------------------------------------------------------
  useDataChannel(session, channel) {
    session.data = channel;
    channel.binaryType = "arraybuffer";
    channel.onopen = () => this.flushData(session);
    channel.onmessage = (ev) => {
      const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
      this.emit("data", this.decodeData(text));
    };
    if (channel.readyState === "open") this.flushData(session);
  }
  decodeData(text) {
    try {
      const v = JSON.parse(text);
      if (typeof v === "object" && v !== null && typeof v.from === "string" && typeof v.payload === "string") {
        const { from, payload } = v;
        return { from, participant: this.participants.get(from), payload };
      }
    } catch {
    }
    return { from: void 0, participant: void 0, payload: text };
  }
  flushData(session) {
    const ch = session.data;
    while (ch && ch.readyState === "open" && this.dataQueue.length > 0) {
      const m = this.dataQueue.shift();
      if (typeof m === "string") ch.send(m);
      else ch.send(m);
    }
  }
  /**
   * Sends a message to everyone else in the room over the `data` channel the server opens.
   * Messages sent before that channel is open (it opens after the first offer/answer exchange)
   * are queued, up to 256.
   */
  sendData(payload) {
    if (this._state === "disconnected") throw new Error("not connected");
    const ch = this.session?.data;
    if (ch && ch.readyState === "open" && this.dataQueue.length === 0) {
      if (typeof payload === "string") ch.send(payload);
      else ch.send(payload);
      return;
    }
    if (this.dataQueue.length >= MAX_QUEUED_DATA) throw new Error("data channel not open and the queue is full");
    this.dataQueue.push(payload);
  }
  // -------------------------------------------------------------------------------------------
  // Stats
  // -------------------------------------------------------------------------------------------
  /** Per-track statistics; bitrates are averaged since the previous call. */
  async getStats() {
    const session = this.session;
    if (!session) return [];
    return this.stats.collect(session.pc, {
      localTrackId: (mid) => {
        for (const [t, tr] of session.transceivers) if (tr.mid === mid) return t.sid;
        return void 0;
      },
      remoteTrackId: (mid) => session.remoteByMid.get(mid)?.trackId,
      subscription: (trackId) => this.remoteTracks.get(trackId)?.subscription
    });
  }
  /** Restarts ICE now (the SDK does this by itself when ICE fails). */
  async restartIce() {
    const session = this.session;
    if (!session) throw new Error("not connected");
    await session.driver.negotiate({ iceRestart: true });
  }
  // -------------------------------------------------------------------------------------------
  // Leaving
  // -------------------------------------------------------------------------------------------
  /** Leaves the room and stops the media the SDK captured. */
  async disconnect() {
    this.finish("client_leave", void 0);
  }
  finish(reason, error) {
    if (this._state === "disconnected") return;
    this.rejoinAbort?.abort();
    this.rejoinAbort = null;
    this.setState("disconnected");
    if (this.session) this.closeSession(this.session, reason === "client_leave");
    for (const p of [...this.pending]) {
      clearTimeout(p.timer);
      p.reject(new Error(`disconnected: ${reason}`));
    }
    this.pending.length = 0;
    for (const t of this.localParticipant?.tracks ?? []) {
      if (t.owned) t.mediaStreamTrack.stop();
    }
    this.dataQueue.length = 0;
    this.emit("disconnected", reason, error);
  }
  setState(state) {
    if (state === this._state) return;
    const previous = this._state;
    this._state = state;
    this.emit("connectionStateChanged", state, previous);
  }
  log(message, ...data) {
    this.options.log?.(message, ...data);
  }
};
function capMessage(trackId, cap) {
  const m = { type: "set_subscription", track_id: trackId };
  if (cap.paused) {
    m.paused = true;
    return m;
  }
  if (cap.maxWidth !== void 0) m.max_width = Math.round(cap.maxWidth);
  if (cap.maxHeight !== void 0) m.max_height = Math.round(cap.maxHeight);
  if (cap.layer !== void 0) m.layer = cap.layer;
  if (cap.maxTemporal !== void 0) m.max_temporal = cap.maxTemporal;
  return m;
}

// demo/chat.ts
var Chat = class {
  constructor(els, onSend) {
    this.els = els;
    els.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = els.input.value.trim();
      if (!text) return;
      try {
        onSend(text);
        els.input.value = "";
      } catch (e) {
        this.add("", `(not sent: ${e instanceof Error ? e.message : String(e)})`);
      }
    });
    this.setEnabled(false);
  }
  /** Appends `from: text` (or just `text` for notices) and keeps the newest in view. */
  add(from, text) {
    const line = document.createElement("div");
    line.className = from ? "msg" : "notice";
    line.textContent = from ? `${from}: ${text}` : text;
    this.els.log.append(line);
    this.els.log.scrollTop = this.els.log.scrollHeight;
  }
  /** Starts a new conversation (a new join). */
  clear() {
    this.els.log.replaceChildren();
  }
  /** Lets the user type and send, or not (out of a room). */
  setEnabled(enabled) {
    this.els.input.disabled = !enabled;
    this.els.send.disabled = !enabled;
  }
};

// demo/errors.ts
var PlainError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "PlainError";
  }
};
function mediaErrorText(device, error) {
  const what = device === "screen" ? "screen sharing" : `the ${device}`;
  const name = error instanceof Error ? error.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Access to ${what} was denied`;
    case "NotFoundError":
    case "OverconstrainedError":
      return device === "screen" ? "Nothing to share was found" : `No ${device} was found`;
    case "NotReadableError":
    case "AbortError":
      return `${capitalize(what)} could not be started (in use by another application?)`;
    case "NotSupportedError":
      return `This browser cannot use ${what}`;
  }
  if (error instanceof SignalError && error.code === "timeout") return `The server did not accept ${what} in time`;
  return `${capitalize(what)} could not be used (${error instanceof Error ? error.message : String(error)})`;
}
function capitalize(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
function joinMediaText(camera, microphone) {
  const name = (e) => e instanceof Error ? e.name : "";
  if (camera !== void 0 && microphone !== void 0) {
    let why;
    if (name(camera) === "NotAllowedError" && name(microphone) === "NotAllowedError") why = "Access to the camera and microphone was denied";
    else if (name(camera) === "NotFoundError" && name(microphone) === "NotFoundError") why = "No camera or microphone was found";
    else why = `${mediaErrorText("camera", camera)}; ${lowerFirst(mediaErrorText("microphone", microphone))}`;
    return `${why}: joined without them (you can still see, hear and chat).`;
  }
  if (camera !== void 0) return `${mediaErrorText("camera", camera)}: joined with the microphone only.`;
  if (microphone !== void 0) return `${mediaErrorText("microphone", microphone)}: joined with the camera only.`;
  return "";
}
function lowerFirst(s) {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
function devTokenErrorText(status, body) {
  if (status === 404) return "This server is not in dev mode: get a token from its operator and add it to the link as &token=...";
  if (status === 400 && body) return `The room or name is not valid: ${body.message}.`;
  return `The server refused to give a token (HTTP ${status}${body ? `, ${body.message}` : ""}).`;
}
function unreachableText(origin) {
  return `The server is unreachable at ${origin}: is sfu-server running?`;
}
function joinErrorText(error, probe, origin) {
  if (error instanceof SignalError) {
    switch (error.code) {
      case "room_full":
        return "The room is full.";
      case "room_not_found":
        return "This room does not exist, and this server does not create rooms on demand.";
      case "bad_request":
        return `The room name is not valid: ${error.message}.`;
      case "draining":
        return "The server is shutting down: try again in a moment.";
      case "timeout":
        return "The server did not answer in time: try again.";
      case "connect_failed":
        return connectFailedText(probe, origin);
    }
    return `The server refused to let you join: ${error.message}.`;
  }
  return `Joining failed: ${error instanceof Error ? error.message : String(error)}.`;
}
function connectFailedText(probe, origin) {
  if (!probe) return unreachableText(origin);
  const code = probe.body?.code ?? "";
  if (probe.status === 401) {
    if (code === "token_expired") return "The server rejected the token: it has expired. Get a new one.";
    if (code === "token_not_yet_valid") return "The server rejected the token: it is not valid yet (check the clocks).";
    if (code === "unknown_key" || code === "invalid_signature") return "The server rejected the token: it was not signed with a key of this server.";
    if (code === "invalid_token" || code === "unsupported_algorithm") return "The server rejected the token: it is not a valid access token.";
    return `The server rejected the token (${probe.body?.message ?? code}).`;
  }
  if (probe.status === 403) return `The token does not allow joining a room (${probe.body?.message ?? code}).`;
  if (probe.status === 503) return "The server is shutting down: try again in a moment.";
  return "The server accepted the token but the signalling connection (WebSocket) could not be opened: a proxy or firewall may block it.";
}
function disconnectText(reason, identity) {
  switch (reason) {
    case "removed":
      return "Disconnected: an administrator removed you from the room.";
    case "room_closed":
      return "Disconnected: the room was closed.";
    case "server_shutdown":
      return "Disconnected: the server shut down.";
    case "duplicate_identity":
      return `Disconnected: someone joined this room as "${identity}" elsewhere (another tab?).`;
    case "reconnect_failed":
      return "Disconnected: the connection to the server was lost and could not be re-established.";
    case "signal_closed":
      return "Disconnected: the server closed the connection.";
    case "peer_timeout":
    case "connection_closed":
      return "Disconnected: the media connection was lost.";
    case "slow_client":
      return "Disconnected: this page could not keep up with the server.";
  }
  return `Disconnected: ${reason}.`;
}

// demo/link.ts
function readLink(search) {
  const q = new URLSearchParams(search);
  return { room: q.get("room") ?? "", identity: q.get("identity") ?? "", token: q.get("token") ?? "" };
}
function joinsAtOnce(p) {
  return p.token !== "" || p.room !== "" && p.identity !== "";
}
function linkQuery(p) {
  const q = new URLSearchParams();
  if (p.room) q.set("room", p.room);
  if (p.identity) q.set("identity", p.identity);
  if (p.token) q.set("token", p.token);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// demo/local.ts
var LocalMedia = class {
  constructor(room, grid2, buttons, owner, report) {
    this.room = room;
    this.grid = grid2;
    this.buttons = buttons;
    this.owner = owner;
    this.report = report;
    this.busy = /* @__PURE__ */ new Set();
    this.offs = [];
    this.canShare = typeof navigator.mediaDevices?.getDisplayMedia === "function";
    buttons.mic.onclick = () => void this.toggleMic();
    buttons.camera.onclick = () => void this.toggleCamera();
    buttons.screen.onclick = () => void this.toggleScreen();
    this.offs.push(
      // An admin may mute us: the button follows.
      room.on("trackMuted", () => this.render()),
      // After a rejoin the same tracks come back with new server ids.
      room.on("localTrackPublished", (t) => this.tileOf(t)?.video.setAttribute("data-track-id", t.sid ?? "")),
      // The user stopped sharing from the browser's own UI.
      room.on("localTrackUnpublished", (t) => {
        if (t === this.screen && t.unpublished) this.screenStopped();
      })
    );
    this.render();
  }
  /** Publishes camera (simulcast q/h/f) and microphone, each on its own: one may fail alone. */
  async start() {
    const [camera, microphone] = await Promise.all([this.startCamera(), this.startMic()]);
    if ((camera !== void 0 || microphone !== void 0) && this.room.state !== "disconnected") this.report(joinMediaText(camera, microphone));
  }
  /** Forgets everything (the room ended); the SDK already stopped the capture. */
  dispose() {
    for (const off of this.offs.splice(0)) off();
    this.mic = this.camera = this.screen = void 0;
    this.busy.clear();
    const { mic, camera, screen } = this.buttons;
    mic.textContent = "Mute";
    camera.textContent = "Camera off";
    screen.textContent = "Share screen";
    for (const b of [mic, camera, screen]) {
      b.onclick = null;
      b.disabled = true;
    }
  }
  tileOf(track) {
    if (track === this.camera) return this.grid.get(this.owner().key, "camera");
    if (track === this.screen) return this.grid.get(this.owner().key, "screen");
    return void 0;
  }
  /** Runs one button's action with the button disabled meanwhile. */
  async run(device, action) {
    if (this.busy.has(device)) return;
    this.busy.add(device);
    this.render();
    try {
      await action();
    } finally {
      this.busy.delete(device);
      this.render();
    }
  }
  /** Reports a failure (if any), unless it only happened because the room ended meanwhile. */
  failed(device, error) {
    if (error !== void 0 && this.room.state !== "disconnected") this.report(`${mediaErrorText(device, error)}.`);
  }
  /** Resolves with the error when the camera could not be published. */
  async startCamera() {
    let error;
    await this.run("camera", async () => {
      try {
        const track = await this.room.publishCamera({ simulcast: true });
        this.camera = track;
        this.grid.ensure(this.owner(), "camera").showLocalVideo(track.mediaStreamTrack, track.sid);
      } catch (e) {
        error = e;
      }
    });
    return error;
  }
  /** Resolves with the error when the microphone could not be published. */
  async startMic() {
    let error;
    await this.run("mic", async () => {
      try {
        this.mic = await this.room.publishMicrophone();
      } catch (e) {
        error = e;
      }
    });
    return error;
  }
  toggleMic() {
    const mic = this.mic;
    if (!mic) return this.startMic().then((e) => this.failed("microphone", e));
    if (mic.muted) this.room.unmute(mic);
    else this.room.mute(mic);
    this.render();
    return Promise.resolve();
  }
  /** Camera off unpublishes it, so that the camera itself stops (its light goes off). */
  toggleCamera() {
    const camera = this.camera;
    if (!camera) return this.startCamera().then((e) => this.failed("camera", e));
    return this.run("camera", async () => {
      this.camera = void 0;
      this.grid.get(this.owner().key, "camera")?.clearVideo();
      await this.room.unpublish(camera);
    });
  }
  toggleScreen() {
    const screen = this.screen;
    return this.run("screen", async () => {
      if (screen) {
        this.screenStopped();
        await this.room.unpublish(screen);
        return;
      }
      try {
        const track = await this.room.publishScreen();
        this.screen = track;
        this.grid.ensure(this.owner(), "screen").showLocalVideo(track.mediaStreamTrack, track.sid);
      } catch (e) {
        if (!(e instanceof Error && e.name === "NotAllowedError")) this.failed("screen", e);
      }
    });
  }
  screenStopped() {
    this.screen = void 0;
    this.grid.remove(this.owner().key, "screen");
    this.render();
  }
  /** Button texts say what a click does. */
  render() {
    const { mic, camera, screen } = this.buttons;
    const live = this.room.state !== "disconnected";
    mic.textContent = !this.mic ? "Microphone on" : this.mic.muted ? "Unmute" : "Mute";
    camera.textContent = this.camera ? "Camera off" : "Camera on";
    screen.textContent = this.screen ? "Stop sharing" : "Share screen";
    mic.disabled = !live || this.busy.has("mic");
    camera.disabled = !live || this.busy.has("camera");
    screen.disabled = !live || this.busy.has("screen") || !this.canShare;
    if (!this.canShare) screen.title = "This browser cannot share a screen";
  }
};

// demo/overlay.ts
function overlayText(s) {
  if (s.paused) return "paused";
  let layer = s.layer ?? "-";
  let width = s.width;
  let height = s.height;
  if (s.direction === "outbound" && s.layers) {
    const sending = s.layers.filter((l) => l.active !== false && l.bitrate > 0);
    const top = sending[sending.length - 1];
    if (top) {
      layer = top.rid ?? "-";
      width = top.width ?? width;
      height = top.height ?? height;
    }
  }
  if (!width || !height) return "";
  const mbits = (s.bitrate / 1e6).toFixed(2);
  const loss = (Math.min(1, Math.max(0, s.packetLoss)) * 100).toFixed(1);
  return `${layer} ${width}x${height} ${mbits} Mbit/s loss ${loss}%`;
}
function pollVideoStats(room, apply) {
  let busy = false;
  const timer = setInterval(() => {
    if (busy || room.state === "disconnected") return;
    busy = true;
    room.getStats().then((stats) => {
      const byTrackId = /* @__PURE__ */ new Map();
      for (const s of stats) if (s.kind === "video" && s.trackId) byTrackId.set(s.trackId, s);
      apply(byTrackId);
    }).catch(() => void 0).finally(() => {
      busy = false;
    });
  }, 1e3);
  return () => clearInterval(timer);
}

// demo/tiles.ts
var Tile = class {
  constructor(owner, source) {
    this.source = source;
    this.videoMuted = false;
    this.audios = /* @__PURE__ */ new Map();
    this.el = document.createElement("div");
    this.el.className = "tile video-off";
    this.el.dataset["source"] = source;
    this.video = document.createElement("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true;
    this.nameEl = document.createElement("div");
    this.nameEl.className = "name";
    this.overlay = document.createElement("div");
    this.overlay.className = "overlay";
    this.el.append(this.video, this.nameEl, this.overlay);
    this.setOwner(owner);
  }
  /** Updates the participant attributes (the local participant id changes on every rejoin). */
  setOwner(owner) {
    this.el.dataset["participantId"] = owner.participantId;
    this.el.dataset["identity"] = owner.identity;
    this.el.dataset["local"] = String(owner.local);
    this.nameEl.textContent = owner.identity;
  }
  /** The server track id shown in the video, if any. */
  get videoTrackId() {
    return this.video.dataset["trackId"];
  }
  /** Shows a remote video; `attach` makes the element's size the subscription cap. */
  showRemoteVideo(track) {
    this.clearVideo();
    this.video.dataset["trackId"] = track.id;
    this.videoAttachment = attach(track, this.video);
    this.setVideoMuted(track.muted);
  }
  /** Shows local media (a preview); `trackId` once the server confirmed it. */
  showLocalVideo(media, trackId) {
    this.clearVideo();
    if (trackId) this.video.dataset["trackId"] = trackId;
    this.video.srcObject = new MediaStream([media]);
    this.setVideoMuted(false);
  }
  /** Stops showing video (only if it shows `trackId`, when given); the tile stays. */
  clearVideo(trackId) {
    if (trackId !== void 0 && this.videoTrackId !== trackId) return;
    this.videoAttachment?.detach();
    this.videoAttachment = void 0;
    this.video.srcObject = null;
    delete this.video.dataset["trackId"];
    this.overlay.textContent = "";
    this.el.classList.add("video-off");
  }
  /** A muted video shows its last frame forever: hide it instead. */
  setVideoMuted(muted) {
    this.videoMuted = muted;
    const showing = this.videoAttachment !== void 0 || this.video.srcObject !== null;
    this.el.classList.toggle("video-off", muted || !showing);
  }
  /** Whether the shown video is muted by its publisher (its overlay stays empty). */
  get isVideoMuted() {
    return this.videoMuted;
  }
  /** Plays a remote audio track in an `<audio>` element of this tile. */
  addAudio(track) {
    if (this.audios.has(track.id)) return;
    const el = document.createElement("audio");
    el.autoplay = true;
    el.dataset["trackId"] = track.id;
    this.el.append(el);
    this.audios.set(track.id, { el, attachment: attach(track, el) });
  }
  /** Stops playing a remote audio track and removes its element. */
  removeAudio(trackId) {
    const a = this.audios.get(trackId);
    if (!a) return;
    a.attachment.detach();
    a.el.remove();
    this.audios.delete(trackId);
  }
  /**
   * Starts audio the browser refused to autoplay (Chrome allows it once the page captures the
   * microphone or camera, or after a click); resolves true when some is still refused.
   */
  async resumeAudio() {
    const paused = [...this.audios.values()].filter(({ el }) => el.paused && el.srcObject);
    const results = await Promise.all(paused.map(({ el }) => el.play().then(() => true, () => false)));
    return results.includes(false);
  }
  /** Detaches everything and leaves the page. */
  destroy() {
    this.clearVideo();
    for (const id of [...this.audios.keys()]) this.removeAudio(id);
    this.el.remove();
  }
};
var Grid = class {
  constructor(root) {
    this.root = root;
    this.tiles = /* @__PURE__ */ new Map();
  }
  /** The tile of `owner` for `source`, created (at the end of the grid) if needed. */
  ensure(owner, source) {
    const id = `${owner.key}/${source}`;
    let tile = this.tiles.get(id);
    if (!tile) {
      tile = new Tile(owner, source);
      this.tiles.set(id, tile);
      const camera = source === "screen" ? this.tiles.get(`${owner.key}/camera`) : void 0;
      if (camera) camera.el.after(tile.el);
      else this.root.append(tile.el);
    } else {
      tile.setOwner(owner);
    }
    return tile;
  }
  /** The tile of an owner key for `source`, if there is one. */
  get(key, source) {
    return this.tiles.get(`${key}/${source}`);
  }
  /** Removes one tile (e.g. a screen share that ended). */
  remove(key, source) {
    const id = `${key}/${source}`;
    this.tiles.get(id)?.destroy();
    this.tiles.delete(id);
  }
  /** Removes every tile of one participant. */
  removeOwner(key) {
    this.remove(key, "camera");
    this.remove(key, "screen");
  }
  /** Highlights the camera tiles of the active speakers. */
  setSpeaking(keys) {
    for (const [id, tile] of this.tiles) {
      const key = id.slice(0, id.lastIndexOf("/"));
      tile.el.classList.toggle("speaking", tile.source === "camera" && keys.has(key));
    }
  }
  /** Marks a participant's camera tile while its microphone is muted. */
  setMicMuted(key, muted) {
    this.get(key, "camera")?.el.classList.toggle("mic-muted", muted);
  }
  /** Every tile, in no particular order. */
  all() {
    return [...this.tiles.values()];
  }
  /** Empties the grid (after leaving). */
  clear() {
    for (const tile of this.tiles.values()) tile.destroy();
    this.tiles.clear();
  }
};

// demo/token.ts
async function restError(res) {
  try {
    const body = await res.json();
    const e = body.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") return { code: e.code, message: e.message };
  } catch {
  }
  return void 0;
}
async function devToken(room, identity) {
  let res;
  try {
    res = await fetch("/v1/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room, identity })
    });
  } catch {
    throw new PlainError(unreachableText(location.origin));
  }
  if (!res.ok) throw new PlainError(devTokenErrorText(res.status, await restError(res)));
  const body = await res.json();
  if (typeof body.token !== "string") throw new PlainError("The server answered the token request with something else than a token.");
  return body.token;
}
async function probeToken(token) {
  try {
    const res = await fetch(`/v1/rtc?access_token=${encodeURIComponent(token)}`);
    return { status: res.status, body: await restError(res) };
  } catch {
    return void 0;
  }
}

// demo/view.ts
var LOCAL = "local";
var RoomView = class {
  constructor(room, grid2, chat2) {
    this.room = room;
    this.grid = grid2;
    this.chat = chat2;
    this.offs = [];
    this.offs.push(
      room.on("participantJoined", (p) => {
        grid2.ensure(this.ownerOf(p), "camera");
        chat2.add("", `${p.identity} joined`);
      }),
      room.on("participantLeft", (p) => {
        grid2.removeOwner(p.id);
        chat2.add("", `${p.identity} left`);
      }),
      room.on("trackPublished", (t, p) => this.showTrack(t, p)),
      room.on("trackUnpublished", (t, p) => this.hideTrack(t, p)),
      room.on("trackMuted", (t, muted, p) => this.onMuted(t, muted, p)),
      room.on("activeSpeakers", (speakers) => grid2.setSpeaking(new Set(speakers.map((s) => this.keyOf(s.participantId))))),
      room.on("data", (m) => chat2.add(m.participant?.identity ?? m.from ?? "someone", m.payload)),
      // A rejoin gives us a new participant id; the others are diffed with their own events.
      room.on("reconnected", () => {
        for (const source of ["camera", "screen"]) grid2.get(LOCAL, source)?.setOwner(this.localOwner());
      })
    );
  }
  /** After joining: our own tile, then everyone already there with their tracks. */
  start() {
    this.grid.ensure(this.localOwner(), "camera");
    for (const p of this.room.participants.values()) {
      this.grid.ensure(this.ownerOf(p), "camera");
      for (const t of p.tracks.values()) this.showTrack(t, p);
    }
  }
  /** Stops following the room. */
  dispose() {
    for (const off of this.offs.splice(0)) off();
  }
  /** Who the local tiles belong to now. */
  localOwner() {
    const me = this.room.localParticipant;
    return { key: LOCAL, participantId: me?.id ?? "", identity: me?.identity ?? "", local: true };
  }
  keyOf(participantId) {
    return participantId === this.room.localParticipant?.id ? LOCAL : participantId;
  }
  ownerOf(p) {
    return { key: p.id, participantId: p.id, identity: p.identity, local: false };
  }
  /** A remote track gets its element as soon as it is published: `attach` shows the media when it comes. */
  showTrack(t, p) {
    const owner = this.ownerOf(p);
    if (t.kind === "video") {
      this.grid.ensure(owner, t.source === "screen" ? "screen" : "camera").showRemoteVideo(t);
      return;
    }
    this.grid.ensure(owner, "camera").addAudio(t);
    if (t.source !== "screen") this.grid.setMicMuted(owner.key, t.muted);
  }
  hideTrack(t, p) {
    if (t.kind === "video") {
      if (t.source === "screen") {
        if (this.grid.get(p.id, "screen")?.videoTrackId === t.id) this.grid.remove(p.id, "screen");
      } else {
        this.grid.get(p.id, "camera")?.clearVideo(t.id);
      }
      return;
    }
    this.grid.get(p.id, "camera")?.removeAudio(t.id);
    if (t.source !== "screen") this.grid.setMicMuted(p.id, false);
  }
  onMuted(t, muted, p) {
    const key = this.keyOf(p.id);
    if (t.kind === "audio" && t.source !== "screen") this.grid.setMicMuted(key, muted);
    if (t.kind === "video") this.grid.get(key, t.source === "screen" ? "screen" : "camera")?.setVideoMuted(muted);
  }
};

// demo/main.ts
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}
var ui = {
  joinForm: $("join-form"),
  room: $("room"),
  identity: $("identity"),
  join: $("join"),
  leave: $("leave"),
  status: $("status"),
  error: $("error"),
  share: $("share"),
  sound: $("sound"),
  buttons: { mic: $("mic"), camera: $("camera"), screen: $("screen") }
};
var grid = new Grid($("grid"));
var chat = new Chat(
  { log: $("chat-log"), form: $("chat-form"), input: $("chat-input"), send: $("chat-send") },
  (text) => {
    if (!current) throw new Error("not in a room");
    current.room.sendData(text);
    chat.add(current.room.localParticipant?.identity ?? "", text);
  }
);
var current;
function showError(text) {
  ui.error.textContent = text;
}
function addError(text) {
  ui.error.textContent = ui.error.textContent ? `${ui.error.textContent} ${text}` : text;
}
function setInRoom(inRoom) {
  ui.join.disabled = inRoom;
  ui.room.disabled = inRoom;
  ui.identity.disabled = inRoom;
  ui.leave.disabled = !inRoom;
  chat.setEnabled(false);
  if (!inRoom) {
    ui.share.replaceChildren();
    ui.sound.hidden = true;
  }
}
function showShareLink(room) {
  const url = `${location.origin}${location.pathname}${linkQuery({ room })}`;
  const a = document.createElement("a");
  a.href = url;
  a.textContent = url;
  ui.share.replaceChildren("Invite others: ", a);
}
async function join(link2) {
  if (current) return;
  showError("");
  const roomName = link2.room.trim();
  let identity = link2.identity.trim();
  if (!link2.token && !roomName) {
    showError("Type the name of a room to join.");
    return;
  }
  if (!link2.token && !identity) {
    identity = `guest-${Math.random().toString(36).slice(2, 6)}`;
    ui.identity.value = identity;
  }
  const room = new Room({
    // Rejoins after a lost connection ask the dev endpoint again (its tokens expire after 6 h).
    tokenProvider: link2.token ? void 0 : () => devToken(roomName, identity),
    log: new URLSearchParams(location.search).has("debug") ? console.debug : void 0
  });
  window.demo = { room };
  let left = false;
  current = { room, leave: () => {
    left = true;
    void room.disconnect();
  } };
  setInRoom(true);
  chat.clear();
  ui.status.textContent = room.state;
  room.on("connectionStateChanged", (state) => {
    ui.status.textContent = state;
  });
  const view = new RoomView(room, grid, chat);
  let token = link2.token;
  try {
    if (!token) token = await devToken(roomName, identity);
    if (left) throw new PlainError("");
    await room.connect(location.origin, token);
  } catch (e) {
    view.dispose();
    if (!left) {
      const probe = e instanceof SignalError && e.code === "connect_failed" ? await probeToken(token) : void 0;
      showError(e instanceof PlainError ? e.message : joinErrorText(e, probe, location.origin));
    }
    if (room.state !== "disconnected") await room.disconnect();
    current = void 0;
    setInRoom(false);
    return;
  }
  const me = room.localParticipant;
  identity = me?.identity ?? identity;
  const joinedRoom = room.name ?? roomName;
  ui.room.value = joinedRoom;
  ui.identity.value = identity;
  history.replaceState(null, "", `${location.pathname}${linkQuery({ room: joinedRoom, identity, token: link2.token })}`);
  showShareLink(joinedRoom);
  chat.setEnabled(true);
  view.start();
  const local = new LocalMedia(room, grid, ui.buttons, () => view.localOwner(), addError);
  const stopStats = pollVideoStats(room, (byTrackId) => {
    for (const tile of grid.all()) {
      const s = tile.videoTrackId ? byTrackId.get(tile.videoTrackId) : void 0;
      tile.overlay.textContent = s && !tile.isVideoMuted ? overlayText(s) : "";
    }
    void resumeAudio();
  });
  room.on("disconnected", (reason) => {
    if (reason !== "client_leave") showError(disconnectText(reason, identity));
    stopStats();
    view.dispose();
    local.dispose();
    grid.clear();
    current = void 0;
    setInRoom(false);
  });
  await local.start();
}
ui.joinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const link2 = readLink(location.search);
  const room = ui.room.value.trim();
  const identity = ui.identity.value.trim();
  const token = link2.token && link2.room === room && link2.identity === identity ? link2.token : "";
  void join({ room, identity, token });
});
ui.leave.addEventListener("click", () => current?.leave());
async function resumeAudio() {
  const refused = await Promise.all(grid.all().map((tile) => tile.resumeAudio()));
  ui.sound.hidden = !refused.includes(true);
}
document.addEventListener("click", () => void resumeAudio());
setInRoom(false);
var link = readLink(location.search);
if (link.room) ui.room.value = link.room;
if (link.identity) ui.identity.value = link.identity;
if (joinsAtOnce(link)) void join(link);
else (link.room ? ui.identity : ui.room).focus();
