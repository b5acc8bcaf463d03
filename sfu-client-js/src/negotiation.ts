// Perfect negotiation for the polite peer (the client), as docs/protocol.md prescribes:
// the server never has two offers in flight; when a client offer crosses a server offer the
// server ignores the client's, and the client rolls back, answers, then offers again.
//
// `negotiate()` is a pure state machine (no RTCPeerConnection); `NegotiationDriver` applies its
// actions to a peer connection, one event at a time on a single promise queue.

import { mediaSections } from './sdp.js';

export type SignalingStateLike =
  | 'stable'
  | 'have-local-offer'
  | 'have-remote-offer'
  | 'have-local-pranswer'
  | 'have-remote-pranswer'
  | 'closed';

export interface NegotiationState {
  /** The peer connection's signalling state when the event is handled. */
  signalingState: SignalingStateLike;
  /** An offer of ours is being created or set (only visible when events are not serialized). */
  makingOffer: boolean;
  /** An offer of ours was sent and its answer has not arrived. */
  awaitingAnswer: boolean;
  /** Local changes (tracks added or removed) that no sent offer carries yet. */
  needsOffer: boolean;
  /** The next offer must restart ICE. */
  iceRestart: boolean;
  /**
   * Local offers wait for the server's offer (see `release`). Set at the start of a session in
   * a room with tracks: the server offers them right after `joined`, and a first client offer
   * that crosses it must be rolled back, which in Chrome can leave the ICE transport never
   * gathering (seen with Chrome 156).
   */
  holdOffers: boolean;
}

export const INITIAL_NEGOTIATION_STATE: NegotiationState = {
  signalingState: 'stable',
  makingOffer: false,
  awaitingAnswer: false,
  needsOffer: false,
  iceRestart: false,
  holdOffers: false,
};

export type NegotiationEvent =
  /** Something local changed that needs an offer (a track published or unpublished, an ICE restart). */
  | { type: 'localChange'; iceRestart?: boolean }
  | { type: 'remoteOffer'; sdp: string }
  /** `localOfferSdp` (the offer we have set, if any) lets answers to another offer be told apart. */
  | { type: 'remoteAnswer'; sdp: string; localOfferSdp?: string | null }
  /** The server refused our offer (`invalid_sdp`, `sdp_rejected`): it will not answer it. */
  | { type: 'offerRejected' }
  /** Stop holding local offers (the server's offer did not come in time). */
  | { type: 'release' };

export type NegotiationAction =
  | { type: 'rollback' }
  | { type: 'setRemote'; description: { type: 'offer' | 'answer'; sdp: string } }
  /** `createAnswer()` then `setLocalDescription(answer)`. */
  | { type: 'createAnswer' }
  | { type: 'sendAnswer' }
  /** `createOffer({iceRestart})` then `setLocalDescription(offer)`; mids are assigned now. */
  | { type: 'createOffer'; iceRestart: boolean }
  /** Send `track_info` for the mids of the offer, before the offer itself. */
  | { type: 'announceTracks' }
  | { type: 'sendOffer' }
  /** Nothing to do with the event; `reason` says why. */
  | { type: 'ignore'; reason: string };

export interface NegotiationStep {
  state: NegotiationState;
  actions: NegotiationAction[];
}

function offerActions(iceRestart: boolean): NegotiationAction[] {
  return [{ type: 'createOffer', iceRestart }, { type: 'announceTracks' }, { type: 'sendOffer' }];
}

/** After the offer actions ran: our offer is out, nothing is left to offer. */
function offering(s: NegotiationState): NegotiationState {
  return { ...s, signalingState: 'have-local-offer', makingOffer: false, awaitingAnswer: true, needsOffer: false, iceRestart: false };
}

/**
 * True when the answer's m-lines (their mids, in order) are those of our offer. An answer to an
 * offer that was rolled back, or to an earlier one, fails this whenever the m-lines differ.
 */
export function answerMatchesOffer(offerSdp: string, answerSdp: string): boolean {
  const offer = mediaSections(offerSdp).map((m) => m.mid);
  const answer = mediaSections(answerSdp).map((m) => m.mid);
  return offer.length === answer.length && offer.every((mid, i) => mid === answer[i]);
}

/**
 * The polite peer's decision for one event. Pure: the caller applies the actions in order and
 * then continues with the returned state (whose `signalingState` is what the actions lead to).
 */
export function negotiate(state: NegotiationState, event: NegotiationEvent): NegotiationStep {
  if (state.signalingState === 'closed') {
    return { state, actions: [{ type: 'ignore', reason: 'closed' }] };
  }
  switch (event.type) {
    case 'localChange': {
      const iceRestart = state.iceRestart || event.iceRestart === true;
      if (state.holdOffers || state.makingOffer || state.awaitingAnswer || state.signalingState !== 'stable') {
        // Carried by the offer after the current exchange (or after the hold).
        return { state: { ...state, needsOffer: true, iceRestart }, actions: [] };
      }
      return { state: offering(state), actions: offerActions(iceRestart) };
    }

    case 'remoteOffer': {
      // Polite peer: an offer of ours being made or waiting for its answer loses.
      const collision = state.makingOffer || state.signalingState === 'have-local-offer' || state.signalingState === 'have-local-pranswer';
      const actions: NegotiationAction[] = [];
      let needsOffer = state.needsOffer;
      if (collision) {
        actions.push({ type: 'rollback' });
        // The server ignored our offer: its changes must be offered again.
        needsOffer = true;
      }
      actions.push(
        { type: 'setRemote', description: { type: 'offer', sdp: event.sdp } },
        { type: 'createAnswer' },
        { type: 'sendAnswer' },
      );
      const answered: NegotiationState = {
        ...state,
        signalingState: 'stable',
        makingOffer: false,
        awaitingAnswer: false,
        needsOffer,
        holdOffers: false,
      };
      if (needsOffer) {
        actions.push(...offerActions(state.iceRestart));
        return { state: offering(answered), actions };
      }
      return { state: answered, actions };
    }

    case 'remoteAnswer': {
      if (!state.awaitingAnswer || state.signalingState !== 'have-local-offer') {
        return { state, actions: [{ type: 'ignore', reason: 'no offer of ours is waiting for an answer' }] };
      }
      if (event.localOfferSdp && !answerMatchesOffer(event.localOfferSdp, event.sdp)) {
        return { state, actions: [{ type: 'ignore', reason: 'the answer does not match our offer' }] };
      }
      const actions: NegotiationAction[] = [{ type: 'setRemote', description: { type: 'answer', sdp: event.sdp } }];
      const answered: NegotiationState = { ...state, signalingState: 'stable', awaitingAnswer: false };
      if (state.needsOffer) {
        actions.push(...offerActions(state.iceRestart));
        return { state: offering(answered), actions };
      }
      return { state: answered, actions };
    }

    case 'offerRejected': {
      if (!state.awaitingAnswer || state.signalingState !== 'have-local-offer') {
        return { state, actions: [{ type: 'ignore', reason: 'no offer of ours is waiting for an answer' }] };
      }
      // Back to stable; the rejected changes are not offered again by themselves (that would
      // loop), but the next local change offers the current state, which includes them.
      return { state: { ...state, signalingState: 'stable', awaitingAnswer: false }, actions: [{ type: 'rollback' }] };
    }

    case 'release': {
      const released = { ...state, holdOffers: false };
      if (!state.holdOffers || !state.needsOffer || state.makingOffer || state.awaitingAnswer || state.signalingState !== 'stable') {
        return { state: released, actions: [] };
      }
      return { state: offering(released), actions: offerActions(state.iceRestart) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

export type SdpType = 'offer' | 'answer' | 'pranswer' | 'rollback';

/** The part of `RTCPeerConnection` the driver uses. */
export interface PeerConnectionLike {
  readonly signalingState: string;
  readonly localDescription: { type: SdpType; sdp: string } | null;
  createOffer(options?: { iceRestart?: boolean }): Promise<{ type: SdpType; sdp?: string }>;
  createAnswer(): Promise<{ type: SdpType; sdp?: string }>;
  setLocalDescription(description?: { type: SdpType; sdp?: string }): Promise<void>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
}

export interface NegotiationHooks {
  sendOffer(sdp: string): void;
  sendAnswer(sdp: string): void;
  /** Called after our offer is set (mids assigned) and before it is sent. */
  announceTracks(): void;
  /** A remote description was applied. */
  onRemoteDescription?(description: { type: 'offer' | 'answer'; sdp: string }): void;
  /** An action failed; the driver resynchronizes with the peer connection and goes on. */
  onError?(error: unknown, action: NegotiationAction['type'], event: NegotiationEvent['type']): void;
  /** Every decision, for logging and tests. */
  onStep?(event: NegotiationEvent, step: NegotiationStep): void;
}

/**
 * Applies `negotiate()` to a peer connection. Every event (a local change, a server offer or
 * answer) is handled on one promise queue, so no two descriptions are ever being set at once.
 */
export class NegotiationDriver {
  private _state: NegotiationState = { ...INITIAL_NEGOTIATION_STATE };
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  /** With `holdOffers`, local offers wait for the first server offer or `release()`. */
  constructor(
    private readonly pc: PeerConnectionLike,
    private readonly hooks: NegotiationHooks,
    options: { holdOffers?: boolean } = {},
  ) {
    this._state.holdOffers = options.holdOffers === true;
  }

  get state(): Readonly<NegotiationState> {
    return this._state;
  }

  /** Resolves when every event queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Local changes need an offer (or an ICE restart). */
  negotiate(options: { iceRestart?: boolean } = {}): Promise<void> {
    return this.handle({ type: 'localChange', iceRestart: options.iceRestart === true });
  }

  handleOffer(sdp: string): Promise<void> {
    return this.handle({ type: 'remoteOffer', sdp });
  }

  handleAnswer(sdp: string): Promise<void> {
    return this.handle({ type: 'remoteAnswer', sdp });
  }

  offerRejected(): Promise<void> {
    return this.handle({ type: 'offerRejected' });
  }

  /** Stops holding local offers; a held change is offered now. */
  release(): Promise<void> {
    return this.handle({ type: 'release' });
  }

  /** Stops handling events; queued ones are dropped. */
  close(): void {
    this.closed = true;
  }

  private handle(event: NegotiationEvent): Promise<void> {
    const run = this.queue.then(() => this.run(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(event: NegotiationEvent): Promise<void> {
    if (this.closed) return;
    const pc = this.pc;
    const current: NegotiationState = { ...this._state, signalingState: pc.signalingState as SignalingStateLike };
    if (event.type === 'remoteAnswer') {
      const local = pc.localDescription;
      event = { ...event, localOfferSdp: local && local.type === 'offer' ? local.sdp : null };
    }
    const step = negotiate(current, event);
    this.hooks.onStep?.(event, step);
    this._state = { ...current };
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
    this._state = { ...step.state, signalingState: pc.signalingState as SignalingStateLike };
  }

  private sentThisRun = false;
  private lastSentOffer: string | null = null;

  /** After a failed action: make the state true to the peer connection again. */
  private async recover(step: NegotiationStep): Promise<void> {
    const pc = this.pc;
    const sent = pc.signalingState === 'have-local-offer' && this.lastSentOffer !== null && pc.localDescription?.sdp === this.lastSentOffer;
    if (pc.signalingState === 'have-local-offer' && !sent) {
      // An offer set but never sent would block every later exchange.
      try {
        await pc.setLocalDescription({ type: 'rollback' });
      } catch { /* nothing better to do */ }
    }
    const create = step.actions.find((a): a is Extract<NegotiationAction, { type: 'createOffer' }> => a.type === 'createOffer');
    const offerLost = create !== undefined && !this.sentThisRun;
    const signalingState = pc.signalingState as SignalingStateLike;
    this._state = {
      ...step.state,
      signalingState,
      makingOffer: false,
      awaitingAnswer: signalingState === 'have-local-offer' && sent,
      needsOffer: step.state.needsOffer || offerLost,
      iceRestart: step.state.iceRestart || (offerLost && create.iceRestart),
    };
  }

  private async apply(action: NegotiationAction): Promise<void> {
    const pc = this.pc;
    switch (action.type) {
      case 'rollback':
        if (pc.signalingState !== 'stable') await pc.setLocalDescription({ type: 'rollback' });
        this._state = { ...this._state, awaitingAnswer: false, makingOffer: false };
        return;
      case 'setRemote':
        await pc.setRemoteDescription(action.description);
        if (action.description.type === 'answer') this._state = { ...this._state, awaitingAnswer: false };
        this.hooks.onRemoteDescription?.(action.description);
        return;
      case 'createAnswer': {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        return;
      }
      case 'sendAnswer': {
        const sdp = pc.localDescription?.sdp;
        if (!sdp) throw new Error('no local answer to send');
        this.hooks.sendAnswer(sdp);
        return;
      }
      case 'createOffer': {
        this._state = { ...this._state, makingOffer: true };
        try {
          const offer = await pc.createOffer(action.iceRestart ? { iceRestart: true } : undefined);
          await pc.setLocalDescription(offer);
        } finally {
          this._state = { ...this._state, makingOffer: false };
        }
        return;
      }
      case 'announceTracks':
        this.hooks.announceTracks();
        return;
      case 'sendOffer': {
        const sdp = pc.localDescription?.sdp;
        if (!sdp || pc.localDescription?.type !== 'offer') throw new Error('no local offer to send');
        this.hooks.sendOffer(sdp);
        this.lastSentOffer = sdp;
        this.sentThisRun = true;
        this._state = { ...this._state, awaitingAnswer: true, needsOffer: false, iceRestart: false };
        return;
      }
      case 'ignore':
        return;
    }
  }
}
