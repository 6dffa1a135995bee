// Destinations in words for the page: which platform, what went wrong and when it is tried again. Users never see
// ffmpeg's state names ("backoff") or a raw ffmpeg line when a plain phrase says it.
import type { OutputStatus } from '../shared/protocol.ts';

const PLATFORMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(^|\.)youtube\.com$/, 'YouTube'],
  [/(^|\.)(twitch\.tv|contribute\.live-video\.net)$/, 'Twitch'],
  [/(^|\.)facebook\.com$/, 'Facebook'],
];

/** "YouTube", "Twitch", "Facebook", or the destination's host. */
export function destinationName(url: string): string {
  const host = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/:?#]+)/i.exec(url)?.[1]?.toLowerCase() ?? url;
  return PLATFORMS.find(([re]) => re.test(host))?.[1] ?? host;
}

/** What ffmpeg's last error means for the user, in a few words. */
export function problemInWords(lastError: string | undefined): string {
  if (lastError === undefined) return 'stopped';
  if (/connection refused|timed out|no route to host|network is unreachable|name or service not known|temporary failure in name resolution|cannot open connection|failed to resolve/i.test(lastError)) return 'cannot connect';
  if (/unauthori[sz]ed|forbidden|\b40[13]\b|stream key|rejected/i.test(lastError)) return 'refused the stream (check the stream key)';
  if (/broken pipe|connection reset|end of file/i.test(lastError)) return 'the connection dropped';
  return lastError.length > 120 ? `${lastError.slice(0, 117)}…` : lastError;
}

function retryIn(o: OutputStatus): string {
  return o.retryInMs === undefined ? 'retrying' : `retrying in ${Math.max(1, Math.ceil(o.retryInMs / 1000))} s`;
}

/** The state of one destination as the list shows it. */
export function outputStateWords(o: OutputStatus): string {
  switch (o.state) {
    case 'backoff':
      return `${problemInWords(o.lastError)}, ${retryIn(o)}`;
    case 'failed':
      return `failed: ${problemInWords(o.lastError)}`;
    case 'idle':
      return 'waiting for the stream';
    default:
      return o.state;
  }
}

/** The destinations that are not working, for the status line ("YouTube: cannot connect, retrying in 8 s"); undefined when all are. */
export function outputProblems(outputs: readonly OutputStatus[]): string | undefined {
  const bad = outputs.filter((o) => o.state === 'backoff' || o.state === 'failed');
  if (bad.length === 0) return undefined;
  return bad.map((o) => `${destinationName(o.url)}: ${o.state === 'backoff' ? `${problemInWords(o.lastError)}, ${retryIn(o)}` : problemInWords(o.lastError)}`).join('; ');
}
