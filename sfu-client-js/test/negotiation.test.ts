import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { match } from './helpers.js';
import {
  answerMatchesOffer,
  INITIAL_NEGOTIATION_STATE,
  negotiate,
  NegotiationDriver,
  type NegotiationAction,
  type NegotiationState,
  type PeerConnectionLike,
  type SdpType,
} from '../src/negotiation.js';

const types = (actions: NegotiationAction[]) => actions.map((a) => a.type);
const OFFER = ['createOffer', 'announceTracks', 'sendOffer'];
const ANSWER = ['setRemote', 'createAnswer', 'sendAnswer'];

function state(patch: Partial<NegotiationState> = {}): NegotiationState {
  return { ...INITIAL_NEGOTIATION_STATE, ...patch };
}

function sdp(...mids: string[]): string {
  return ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', ...mids.flatMap((m) => [`m=video 9 UDP/TLS/RTP/SAVPF 96`, `a=mid:${m}`])].join('\r\n') + '\r\n';
}

describe('negotiate (pure)', () => {
  it('offers a local change when stable', () => {
    const step = negotiate(state(), { type: 'localChange' });
    assert.deepEqual(types(step.actions), OFFER);
    assert.deepEqual(step.actions[0], { type: 'createOffer', iceRestart: false });
    match(step.state, { signalingState: 'have-local-offer', awaitingAnswer: true, needsOffer: false });
  });

  it('defers local changes while an offer is out, and offers them after the answer', () => {
    const waiting = state({ signalingState: 'have-local-offer', awaitingAnswer: true });
    const deferred = negotiate(waiting, { type: 'localChange' });
    assert.deepEqual(deferred.actions, []);
    assert.equal(deferred.state.needsOffer, true);
    const answered = negotiate(deferred.state, { type: 'remoteAnswer', sdp: sdp('0') });
    assert.deepEqual(types(answered.actions), ['setRemote', ...OFFER]);
    assert.deepEqual(answered.actions[0], { type: 'setRemote', description: { type: 'answer', sdp: sdp('0') } });
    match(answered.state, { awaitingAnswer: true, needsOffer: false, signalingState: 'have-local-offer' });
  });

  it('defers local changes while an offer is being made', () => {
    const step = negotiate(state({ makingOffer: true }), { type: 'localChange', iceRestart: true });
    assert.deepEqual(step.actions, []);
    match(step.state, { needsOffer: true, iceRestart: true });
  });

  it('answers a server offer while stable, without rollback or re-offer', () => {
    const step = negotiate(state(), { type: 'remoteOffer', sdp: 'server-offer' });
    assert.deepEqual(types(step.actions), ANSWER);
    assert.deepEqual(step.actions[0], { type: 'setRemote', description: { type: 'offer', sdp: 'server-offer' } });
    match(step.state, { signalingState: 'stable', awaitingAnswer: false, needsOffer: false });
  });

  it('crossing offers: our offer out when the server offer arrives -> rollback, answer, re-offer', () => {
    const out = negotiate(state(), { type: 'localChange' }).state;
    const step = negotiate(out, { type: 'remoteOffer', sdp: 'server-offer' });
    assert.deepEqual(types(step.actions), ['rollback', ...ANSWER, ...OFFER]);
    match(step.state, { signalingState: 'have-local-offer', awaitingAnswer: true, needsOffer: false });
  });

  it('crossing offers: makingOffer when the server offer arrives -> rollback, answer, re-offer', () => {
    const step = negotiate(state({ makingOffer: true }), { type: 'remoteOffer', sdp: 'server-offer' });
    assert.deepEqual(types(step.actions), ['rollback', ...ANSWER, ...OFFER]);
  });

  it('crossing offers keep a pending ICE restart for the re-offer', () => {
    const out = negotiate(state(), { type: 'localChange', iceRestart: true });
    assert.deepEqual(out.actions[0], { type: 'createOffer', iceRestart: true });
    // The restart was in the rolled-back offer: the re-offer must carry it again.
    const restartPending = { ...out.state, iceRestart: true };
    const step = negotiate(restartPending, { type: 'remoteOffer', sdp: 's' });
    assert.deepEqual(step.actions.find((a) => a.type === 'createOffer'), { type: 'createOffer', iceRestart: true });
    assert.equal(step.state.iceRestart, false);
  });

  it('a server offer while stable with deferred changes answers and then offers them', () => {
    const step = negotiate(state({ needsOffer: true }), { type: 'remoteOffer', sdp: 's' });
    assert.deepEqual(types(step.actions), [...ANSWER, ...OFFER]);
  });

  it('ignores stale answers', () => {
    // Nothing of ours is out.
    assert.deepEqual(types(negotiate(state(), { type: 'remoteAnswer', sdp: sdp('0') }).actions), ['ignore']);
    // An answer after we rolled back our offer (stable again).
    assert.deepEqual(types(negotiate(state({ awaitingAnswer: false }), { type: 'remoteAnswer', sdp: sdp('0') }).actions), ['ignore']);
    // An answer whose m-lines are not those of the offer we have set.
    const waiting = state({ signalingState: 'have-local-offer', awaitingAnswer: true });
    const stale = negotiate(waiting, { type: 'remoteAnswer', sdp: sdp('0'), localOfferSdp: sdp('0', '1', '2') });
    assert.deepEqual(types(stale.actions), ['ignore']);
    assert.deepEqual(stale.state, waiting);
    const fresh = negotiate(waiting, { type: 'remoteAnswer', sdp: sdp('0', '1', '2'), localOfferSdp: sdp('0', '1', '2') });
    assert.deepEqual(types(fresh.actions), ['setRemote']);
    match(fresh.state, { signalingState: 'stable', awaitingAnswer: false });
  });

  it('rolls back an offer the server refused, without offering it again by itself', () => {
    const waiting = state({ signalingState: 'have-local-offer', awaitingAnswer: true });
    const step = negotiate(waiting, { type: 'offerRejected' });
    assert.deepEqual(types(step.actions), ['rollback']);
    match(step.state, { signalingState: 'stable', awaitingAnswer: false, needsOffer: false });
    assert.deepEqual(types(negotiate(state(), { type: 'offerRejected' }).actions), ['ignore']);
  });

  it('holds local offers until the server offer is answered', () => {
    const held = negotiate(state({ holdOffers: true }), { type: 'localChange' });
    assert.deepEqual(held.actions, []);
    match(held.state, { needsOffer: true, holdOffers: true, awaitingAnswer: false });
    const answered = negotiate(held.state, { type: 'remoteOffer', sdp: 's' });
    // No rollback: nothing of ours was out. Then the held change is offered.
    assert.deepEqual(types(answered.actions), [...ANSWER, ...OFFER]);
    match(answered.state, { holdOffers: false, awaitingAnswer: true });
  });

  it('offers a held change when the hold is released without a server offer', () => {
    const held = negotiate(state({ holdOffers: true }), { type: 'localChange', iceRestart: true }).state;
    const released = negotiate(held, { type: 'release' });
    assert.deepEqual(released.actions[0], { type: 'createOffer', iceRestart: true });
    assert.deepEqual(types(released.actions), OFFER);
    // Nothing held, or already released: nothing to do.
    assert.deepEqual(negotiate(state({ holdOffers: true }), { type: 'release' }).actions, []);
    assert.deepEqual(negotiate(released.state, { type: 'release' }).actions, []);
  });

  it('does nothing once closed', () => {
    for (const event of [{ type: 'localChange' }, { type: 'remoteOffer', sdp: 's' }, { type: 'remoteAnswer', sdp: 's' }] as const) {
      assert.deepEqual(types(negotiate(state({ signalingState: 'closed' }), event).actions), ['ignore']);
    }
  });

  it('never emits two sendOffer without an answer in between', () => {
    // Random walk over events: the invariant of the server ("one offer at a time" on our side too).
    let s = state();
    let outstanding = 0;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const r = rand();
      const event =
        r < 0.4 ? ({ type: 'localChange' } as const) : r < 0.7 ? ({ type: 'remoteOffer', sdp: 's' } as const) : r < 0.95 ? ({ type: 'remoteAnswer', sdp: 'a' } as const) : ({ type: 'offerRejected' } as const);
      const step = negotiate(s, event);
      for (const a of step.actions) {
        if (a.type === 'rollback' || (a.type === 'setRemote' && a.description.type === 'answer')) outstanding = 0;
        if (a.type === 'sendOffer') {
          assert.equal(outstanding, 0);
          outstanding = 1;
        }
      }
      s = step.state;
      assert.equal(s.awaitingAnswer, outstanding === 1);
    }
  });
});

describe('answerMatchesOffer', () => {
  it('compares mids in order', () => {
    assert.equal(answerMatchesOffer(sdp('0', '1'), sdp('0', '1')), true);
    assert.equal(answerMatchesOffer(sdp('0', '1'), sdp('0')), false);
    assert.equal(answerMatchesOffer(sdp('0', '1'), sdp('1', '0')), false);
  });
});

/** A peer connection that models JSEP signalling states and records what was done. */
class FakePc implements PeerConnectionLike {
  signalingState: string = 'stable';
  localDescription: { type: SdpType; sdp: string } | null = null;
  log: string[] = [];
  private offers = 0;
  mids = ['0'];
  failNext: string | null = null;

  private check(op: string): void {
    if (this.failNext === op) {
      this.failNext = null;
      throw new Error(`${op} failed`);
    }
  }
  async createOffer(options?: { iceRestart?: boolean }) {
    this.check('createOffer');
    this.log.push(options?.iceRestart ? 'createOffer(iceRestart)' : 'createOffer');
    return { type: 'offer' as const, sdp: sdp(...this.mids) + `a=x-offer:${++this.offers}\r\n` };
  }
  async createAnswer() {
    this.check('createAnswer');
    if (this.signalingState !== 'have-remote-offer') throw new Error('createAnswer in ' + this.signalingState);
    this.log.push('createAnswer');
    return { type: 'answer' as const, sdp: 'answer-sdp' };
  }
  async setLocalDescription(d?: { type: SdpType; sdp?: string }) {
    this.check('setLocalDescription');
    await Promise.resolve();
    if (!d) throw new Error('implicit descriptions not modelled');
    if (d.type === 'rollback') {
      if (this.signalingState !== 'have-local-offer') throw new Error('rollback in ' + this.signalingState);
      this.signalingState = 'stable';
      this.localDescription = null;
      this.log.push('rollback');
      return;
    }
    if (d.type === 'offer') {
      if (this.signalingState !== 'stable') throw new Error('local offer in ' + this.signalingState);
      this.signalingState = 'have-local-offer';
    } else {
      if (this.signalingState !== 'have-remote-offer') throw new Error('local answer in ' + this.signalingState);
      this.signalingState = 'stable';
    }
    this.localDescription = { type: d.type, sdp: d.sdp ?? '' };
    this.log.push(`setLocal(${d.type})`);
  }
  async setRemoteDescription(d: { type: 'offer' | 'answer'; sdp: string }) {
    this.check('setRemoteDescription');
    await Promise.resolve();
    if (d.type === 'offer') {
      if (this.signalingState !== 'stable') throw new Error('remote offer in ' + this.signalingState);
      this.signalingState = 'have-remote-offer';
    } else {
      if (this.signalingState !== 'have-local-offer') throw new Error('remote answer in ' + this.signalingState);
      this.signalingState = 'stable';
    }
    this.log.push(`setRemote(${d.type})`);
  }
}

function driver(pc = new FakePc()) {
  const sent: string[] = [];
  const errors: string[] = [];
  const d = new NegotiationDriver(pc, {
    sendOffer: () => void sent.push('offer'),
    sendAnswer: () => void sent.push('answer'),
    announceTracks: () => void sent.push('track_info'),
    onError: (e, action) => void errors.push(`${action}: ${(e as Error).message}`),
  });
  return { d, pc, sent, errors };
}

describe('NegotiationDriver', () => {
  it('offers, then applies the answer', async () => {
    const { d, pc, sent } = driver();
    await d.negotiate();
    assert.deepEqual(sent, ['track_info', 'offer']);
    match(d.state, { awaitingAnswer: true, signalingState: 'have-local-offer' });
    await d.handleAnswer(sdp('0'));
    assert.equal(pc.signalingState, 'stable');
    assert.equal(d.state.awaitingAnswer, false);
  });

  it('serializes: a server offer that arrives while our offer is being made rolls it back', async () => {
    const { d, pc, sent } = driver();
    const ours = d.negotiate();
    const theirs = d.handleOffer('server-offer');
    await Promise.all([ours, theirs]);
    assert.deepEqual(pc.log, ['createOffer', 'setLocal(offer)', 'rollback', 'setRemote(offer)', 'createAnswer', 'setLocal(answer)', 'createOffer', 'setLocal(offer)']);
    assert.deepEqual(sent, ['track_info', 'offer', 'answer', 'track_info', 'offer']);
    match(d.state, { awaitingAnswer: true, needsOffer: false });
  });

  it('ignores an answer to the rolled-back offer (m-lines differ from the re-offer)', async () => {
    const { d, pc } = driver();
    await d.negotiate();
    await d.handleOffer('server-offer');
    pc.mids = ['0', '1'];
    // Our re-offer now has mids 0 and 1 (the server offer added m-line 1).
    assert.equal(pc.log.at(-1), 'setLocal(offer)');
    pc.localDescription = { type: 'offer', sdp: sdp('0', '1') };
    await d.handleAnswer(sdp('0'));
    assert.equal(pc.signalingState, 'have-local-offer');
    await d.handleAnswer(sdp('0', '1'));
    assert.equal(pc.signalingState, 'stable');
  });

  it('coalesces changes made while an offer is out into one re-offer', async () => {
    const { d, sent } = driver();
    await d.negotiate();
    await d.negotiate();
    await d.negotiate();
    assert.equal((sent.filter((s) => s === 'offer')).length, 1);
    await d.handleAnswer(sdp('0'));
    assert.equal((sent.filter((s) => s === 'offer')).length, 2);
    await d.handleAnswer(sdp('0'));
    assert.equal((sent.filter((s) => s === 'offer')).length, 2);
    match(d.state, { awaitingAnswer: false, needsOffer: false });
  });

  it('restarts ICE with the next offer', async () => {
    const { d, pc } = driver();
    await d.negotiate({ iceRestart: true });
    assert.equal(pc.log[0], 'createOffer(iceRestart)');
  });

  it('recovers when sending the offer fails: rolls back and offers at the next chance', async () => {
    const pc = new FakePc();
    let fail = true;
    const errors: string[] = [];
    const sent: string[] = [];
    const d = new NegotiationDriver(pc, {
      sendOffer: () => {
        if (fail) throw new Error('socket closed');
        sent.push('offer');
      },
      sendAnswer: () => void sent.push('answer'),
      announceTracks: () => undefined,
      onError: (_e, action) => void errors.push(action),
    });
    await d.negotiate();
    assert.deepEqual(errors, ['sendOffer']);
    assert.equal(pc.signalingState, 'stable');
    match(d.state, { needsOffer: true, awaitingAnswer: false });
    fail = false;
    await d.handleOffer('server-offer');
    assert.deepEqual(sent, ['answer', 'offer']);
  });

  it('reports a server offer it cannot apply and stays usable', async () => {
    const { d, pc, errors, sent } = driver();
    pc.failNext = 'setRemoteDescription';
    await d.handleOffer('bad');
    assert.deepEqual(errors, ['setRemote: setRemoteDescription failed']);
    assert.equal(pc.signalingState, 'stable');
    await d.negotiate();
    assert.deepEqual(sent, ['track_info', 'offer']);
  });

  it('drops events after close', async () => {
    const { d, pc } = driver();
    d.close();
    await d.negotiate();
    await d.handleOffer('x');
    assert.deepEqual(pc.log, []);
  });
});
