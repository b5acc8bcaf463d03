// Where the page's token comes from (the link, or the dev-mode endpoint), and what the server
// says about a token the WebSocket could not join with.

import { devTokenErrorText, PlainError, unreachableText, type RestError } from './errors.js';

/** Reads a REST error body, if the response has one. */
async function restError(res: Response): Promise<RestError | undefined> {
  try {
    const body = (await res.json()) as { error?: Partial<RestError> };
    const e = body.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') return { code: e.code, message: e.message };
  } catch { /* not JSON */ }
  return undefined;
}

/** Asks a dev-mode server for a token (`POST /v1/dev/token`); throws a PlainError. */
export async function devToken(room: string, identity: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch('/v1/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, identity }),
    });
  } catch {
    throw new PlainError(unreachableText(location.origin));
  }
  if (!res.ok) throw new PlainError(devTokenErrorText(res.status, await restError(res)));
  const body = (await res.json()) as { token?: unknown };
  if (typeof body.token !== 'string') throw new PlainError('The server answered the token request with something else than a token.');
  return body.token;
}

/**
 * Asks `/v1/rtc` over plain HTTP what it thinks of `token`: the server checks the token before
 * the WebSocket upgrade and answers 401/403/503 with a REST error (400 when the token is fine
 * but this is no upgrade). `undefined` when the server does not answer.
 */
export async function probeToken(token: string): Promise<{ status: number; body: RestError | undefined } | undefined> {
  try {
    const res = await fetch(`/v1/rtc?access_token=${encodeURIComponent(token)}`);
    return { status: res.status, body: await restError(res) };
  } catch {
    return undefined;
  }
}
