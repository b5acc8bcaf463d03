// The grid of participant tiles: one camera tile per participant (local included), one more
// per screen share. Markup and attributes are a contract with the browser end-to-end tests
// (see sfu-client-js/README.md, "Demo page").

import { attach, type Attachment, type RemoteTrack } from '../src/index.js';

export type TileSource = 'camera' | 'screen';

/** Who a tile belongs to. `key` is stable for the page ("local", or the remote participant id). */
export interface TileOwner {
  key: string;
  participantId: string;
  identity: string;
  local: boolean;
}

/** One tile: a video, the name, a stats overlay, and (camera tiles of others) their audio. */
export class Tile {
  readonly el: HTMLDivElement;
  readonly video: HTMLVideoElement;
  readonly overlay: HTMLDivElement;
  private readonly nameEl: HTMLDivElement;
  private videoAttachment: Attachment | undefined;
  private videoMuted = false;
  private readonly audios = new Map<string, { el: HTMLAudioElement; attachment: Attachment }>();

  constructor(owner: TileOwner, readonly source: TileSource) {
    this.el = document.createElement('div');
    this.el.className = 'tile video-off';
    this.el.dataset['source'] = source;
    this.video = document.createElement('video');
    // Audio never plays from videos (it has its own elements), which also lets them autoplay.
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true;
    this.nameEl = document.createElement('div');
    this.nameEl.className = 'name';
    this.overlay = document.createElement('div');
    this.overlay.className = 'overlay';
    this.el.append(this.video, this.nameEl, this.overlay);
    this.setOwner(owner);
  }

  /** Updates the participant attributes (the local participant id changes on every rejoin). */
  setOwner(owner: TileOwner): void {
    this.el.dataset['participantId'] = owner.participantId;
    this.el.dataset['identity'] = owner.identity;
    this.el.dataset['local'] = String(owner.local);
    this.nameEl.textContent = owner.identity;
  }

  /** The server track id shown in the video, if any. */
  get videoTrackId(): string | undefined {
    return this.video.dataset['trackId'];
  }

  /** Shows a remote video; `attach` makes the element's size the subscription cap. */
  showRemoteVideo(track: RemoteTrack): void {
    this.clearVideo();
    this.video.dataset['trackId'] = track.id;
    this.videoAttachment = attach(track, this.video);
    this.setVideoMuted(track.muted);
  }

  /** Shows local media (a preview); `trackId` once the server confirmed it. */
  showLocalVideo(media: MediaStreamTrack, trackId: string | undefined): void {
    this.clearVideo();
    if (trackId) this.video.dataset['trackId'] = trackId;
    this.video.srcObject = new MediaStream([media]);
    this.setVideoMuted(false);
  }

  /** Stops showing video (only if it shows `trackId`, when given); the tile stays. */
  clearVideo(trackId?: string): void {
    if (trackId !== undefined && this.videoTrackId !== trackId) return;
    this.videoAttachment?.detach();
    this.videoAttachment = undefined;
    this.video.srcObject = null;
    delete this.video.dataset['trackId'];
    this.overlay.textContent = '';
    this.el.classList.add('video-off');
  }

  /** A muted video shows its last frame forever: hide it instead. */
  setVideoMuted(muted: boolean): void {
    this.videoMuted = muted;
    const showing = this.videoAttachment !== undefined || this.video.srcObject !== null;
    this.el.classList.toggle('video-off', muted || !showing);
  }

  /** Whether the shown video is muted by its publisher (its overlay stays empty). */
  get isVideoMuted(): boolean {
    return this.videoMuted;
  }

  /** Plays a remote audio track in an `<audio>` element of this tile. */
  addAudio(track: RemoteTrack): void {
    if (this.audios.has(track.id)) return;
    const el = document.createElement('audio');
    el.autoplay = true;
    el.dataset['trackId'] = track.id;
    this.el.append(el);
    this.audios.set(track.id, { el, attachment: attach(track, el) });
  }

  /** Stops playing a remote audio track and removes its element. */
  removeAudio(trackId: string): void {
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
  async resumeAudio(): Promise<boolean> {
    const paused = [...this.audios.values()].filter(({ el }) => el.paused && el.srcObject);
    const results = await Promise.all(paused.map(({ el }) => el.play().then(() => true, () => false)));
    return results.includes(false);
  }

  /** Detaches everything and leaves the page. */
  destroy(): void {
    this.clearVideo();
    for (const id of [...this.audios.keys()]) this.removeAudio(id);
    this.el.remove();
  }
}

/** The tiles of the page, by owner key and source. */
export class Grid {
  private readonly tiles = new Map<string, Tile>();

  constructor(private readonly root: HTMLElement) {}

  /** The tile of `owner` for `source`, created (at the end of the grid) if needed. */
  ensure(owner: TileOwner, source: TileSource): Tile {
    const id = `${owner.key}/${source}`;
    let tile = this.tiles.get(id);
    if (!tile) {
      tile = new Tile(owner, source);
      this.tiles.set(id, tile);
      // A screen share goes right after its owner's camera tile.
      const camera = source === 'screen' ? this.tiles.get(`${owner.key}/camera`) : undefined;
      if (camera) camera.el.after(tile.el);
      else this.root.append(tile.el);
    } else {
      tile.setOwner(owner);
    }
    return tile;
  }

  /** The tile of an owner key for `source`, if there is one. */
  get(key: string, source: TileSource): Tile | undefined {
    return this.tiles.get(`${key}/${source}`);
  }

  /** Removes one tile (e.g. a screen share that ended). */
  remove(key: string, source: TileSource): void {
    const id = `${key}/${source}`;
    this.tiles.get(id)?.destroy();
    this.tiles.delete(id);
  }

  /** Removes every tile of one participant. */
  removeOwner(key: string): void {
    this.remove(key, 'camera');
    this.remove(key, 'screen');
  }

  /** Highlights the camera tiles of the active speakers. */
  setSpeaking(keys: ReadonlySet<string>): void {
    for (const [id, tile] of this.tiles) {
      const key = id.slice(0, id.lastIndexOf('/'));
      tile.el.classList.toggle('speaking', tile.source === 'camera' && keys.has(key));
    }
  }

  /** Marks a participant's camera tile while its microphone is muted. */
  setMicMuted(key: string, muted: boolean): void {
    this.get(key, 'camera')?.el.classList.toggle('mic-muted', muted);
  }

  /** Every tile, in no particular order. */
  all(): Tile[] {
    return [...this.tiles.values()];
  }

  /** Empties the grid (after leaving). */
  clear(): void {
    for (const tile of this.tiles.values()) tile.destroy();
    this.tiles.clear();
  }
}
