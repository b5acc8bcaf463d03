// Shareable links: `/?room=R&identity=I[&token=T]` joins at once.

export interface LinkParams {
  room: string;
  identity: string;
  /** A token to use instead of asking the dev-mode endpoint. */
  token: string;
}

/** Reads the page's query string (missing values are empty). */
export function readLink(search: string): LinkParams {
  const q = new URLSearchParams(search);
  return { room: q.get('room') ?? '', identity: q.get('identity') ?? '', token: q.get('token') ?? '' };
}

/** Whether the link carries enough to join without asking the user. */
export function joinsAtOnce(p: LinkParams): boolean {
  return p.token !== '' || (p.room !== '' && p.identity !== '');
}

/** The query string of a link (empty values left out). */
export function linkQuery(p: Partial<LinkParams>): string {
  const q = new URLSearchParams();
  if (p.room) q.set('room', p.room);
  if (p.identity) q.set('identity', p.identity);
  if (p.token) q.set('token', p.token);
  const s = q.toString();
  return s ? `?${s}` : '';
}
