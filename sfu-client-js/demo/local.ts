// The user's own camera, microphone and screen share, the buttons that toggle them, and the
// local tiles that preview them.

import type { LocalTrack, Room } from '../src/index.js';
import { joinMediaText, mediaErrorText } from './errors.js';
import type { Grid, TileOwner } from './tiles.js';

export interface LocalButtons {
  mic: HTMLButtonElement;
  camera: HTMLButtonElement;
  screen: HTMLButtonElement;
}

type Device = 'mic' | 'camera' | 'screen';

/** Publishes and toggles local media for one room; `report` shows a problem in plain words. */
export class LocalMedia {
  private mic: LocalTrack | undefined;
  private camera: LocalTrack | undefined;
  private screen: LocalTrack | undefined;
  private readonly busy = new Set<Device>();
  private readonly offs: Array<() => void> = [];
  private readonly canShare = typeof navigator.mediaDevices?.getDisplayMedia === 'function';

  constructor(
    private readonly room: Room,
    private readonly grid: Grid,
    private readonly buttons: LocalButtons,
    private readonly owner: () => TileOwner,
    private readonly report: (text: string) => void,
  ) {
    buttons.mic.onclick = () => void this.toggleMic();
    buttons.camera.onclick = () => void this.toggleCamera();
    buttons.screen.onclick = () => void this.toggleScreen();
    this.offs.push(
      // An admin may mute us: the button follows.
      room.on('trackMuted', () => this.render()),
      // After a rejoin the same tracks come back with new server ids.
      room.on('localTrackPublished', (t) => this.tileOf(t)?.video.setAttribute('data-track-id', t.sid ?? '')),
      // The user stopped sharing from the browser's own UI.
      room.on('localTrackUnpublished', (t) => {
        if (t === this.screen && t.unpublished) this.screenStopped();
      }),
    );
    this.render();
  }

  /** Publishes camera (simulcast q/h/f) and microphone, each on its own: one may fail alone. */
  async start(): Promise<void> {
    const [camera, microphone] = await Promise.all([this.startCamera(), this.startMic()]);
    if ((camera !== undefined || microphone !== undefined) && this.room.state !== 'disconnected') this.report(joinMediaText(camera, microphone));
  }

  /** Forgets everything (the room ended); the SDK already stopped the capture. */
  dispose(): void {
    for (const off of this.offs.splice(0)) off();
    this.mic = this.camera = this.screen = undefined;
    this.busy.clear();
    const { mic, camera, screen } = this.buttons;
    // Back to the page's texts before joining (what a join will do).
    mic.textContent = 'Mute';
    camera.textContent = 'Camera off';
    screen.textContent = 'Share screen';
    for (const b of [mic, camera, screen]) {
      b.onclick = null;
      b.disabled = true;
    }
  }

  private tileOf(track: LocalTrack): { video: HTMLVideoElement } | undefined {
    if (track === this.camera) return this.grid.get(this.owner().key, 'camera');
    if (track === this.screen) return this.grid.get(this.owner().key, 'screen');
    return undefined;
  }

  /** Runs one button's action with the button disabled meanwhile. */
  private async run(device: Device, action: () => Promise<void>): Promise<void> {
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
  private failed(device: 'camera' | 'microphone' | 'screen', error: unknown): void {
    if (error !== undefined && this.room.state !== 'disconnected') this.report(`${mediaErrorText(device, error)}.`);
  }

  /** Resolves with the error when the camera could not be published. */
  private async startCamera(): Promise<unknown> {
    let error: unknown;
    await this.run('camera', async () => {
      try {
        const track = await this.room.publishCamera({ simulcast: true });
        this.camera = track;
        this.grid.ensure(this.owner(), 'camera').showLocalVideo(track.mediaStreamTrack, track.sid);
      } catch (e) {
        error = e;
      }
    });
    return error;
  }

  /** Resolves with the error when the microphone could not be published. */
  private async startMic(): Promise<unknown> {
    let error: unknown;
    await this.run('mic', async () => {
      try {
        this.mic = await this.room.publishMicrophone();
      } catch (e) {
        error = e;
      }
    });
    return error;
  }

  private toggleMic(): Promise<void> {
    const mic = this.mic;
    if (!mic) return this.startMic().then((e) => this.failed('microphone', e));
    if (mic.muted) this.room.unmute(mic);
    else this.room.mute(mic);
    this.render();
    return Promise.resolve();
  }

  /** Camera off unpublishes it, so that the camera itself stops (its light goes off). */
  private toggleCamera(): Promise<void> {
    const camera = this.camera;
    if (!camera) return this.startCamera().then((e) => this.failed('camera', e));
    return this.run('camera', async () => {
      this.camera = undefined;
      this.grid.get(this.owner().key, 'camera')?.clearVideo();
      await this.room.unpublish(camera);
    });
  }

  private toggleScreen(): Promise<void> {
    const screen = this.screen;
    return this.run('screen', async () => {
      if (screen) {
        this.screenStopped();
        await this.room.unpublish(screen);
        return;
      }
      try {
        const track = await this.room.publishScreen();
        this.screen = track;
        this.grid.ensure(this.owner(), 'screen').showLocalVideo(track.mediaStreamTrack, track.sid);
      } catch (e) {
        // Closing the browser's picker is a choice, not a problem.
        if (!(e instanceof Error && e.name === 'NotAllowedError')) this.failed('screen', e);
      }
    });
  }

  private screenStopped(): void {
    this.screen = undefined;
    this.grid.remove(this.owner().key, 'screen');
    this.render();
  }

  /** Button texts say what a click does. */
  private render(): void {
    const { mic, camera, screen } = this.buttons;
    const live = this.room.state !== 'disconnected';
    mic.textContent = !this.mic ? 'Microphone on' : this.mic.muted ? 'Unmute' : 'Mute';
    camera.textContent = this.camera ? 'Camera off' : 'Camera on';
    screen.textContent = this.screen ? 'Stop sharing' : 'Share screen';
    mic.disabled = !live || this.busy.has('mic');
    camera.disabled = !live || this.busy.has('camera');
    screen.disabled = !live || this.busy.has('screen') || !this.canShare;
    if (!this.canShare) screen.title = 'This browser cannot share a screen';
  }
}
