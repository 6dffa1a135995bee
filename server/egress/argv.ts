// The ffmpeg command line for one egress destination, as a pure function (habit 12): the browser's
// fragmented MP4 arrives on stdin, video is copied, audio is copied (RTSP, or AAC to FLV) or transcoded to AAC (FLV).
// Every flag below was checked against Debian's ffmpeg 5.1; the why is next to each.
import { parseOutputUrl, OutputUrlError, STREAM_PLACEHOLDER, type OutputKind, type Result } from './output-url.ts';

export type AacSampleRate = 44100 | 48000;

export interface FfmpegArgsOptions {
  kind: OutputKind;
  /** An expanded, checked destination URL (see output-url.ts). Checked again here. */
  url: string;
  /** Whether the input has an audio track. Without one, no audio is mapped or encoded. */
  hasAudio: boolean;
  /** Whether the input has a video track (default true); a microphone-only page sends none. */
  hasVideo?: boolean;
  /** AAC sample rate for RTMP; 48000 (the default) needs no resampling from Opus, which is always 48 kHz. */
  aacSampleRate?: AacSampleRate;
  /** AAC bit rate for RTMP, e.g. "128k". */
  aacBitrate?: `${number}k`;
  /** The input's audio is AAC already (a browser that encodes it, such as Safari): RTMP copies it too. */
  audioIsAac?: boolean;
}

/** Socket I/O timeout for network outputs, in microseconds: a destination that stops reading fails the process. */
export const SOCKET_TIMEOUT_US = 10_000_000;

/** Flags before the input: logging and progress, read by ffmpeg-output.ts. */
export const GLOBAL_ARGS: readonly string[] = [
  '-hide_banner',
  // -nostdin only turns off ffmpeg's keyboard commands ("q", "?"); reading -i pipe:0 is unaffected.
  // ffmpeg already disables them for a "pipe:" input; saying it keeps stdin bytes from ever being
  // taken as key presses however the input is spelled.
  '-nostdin',
  // No "frame= fps= ..." status line with \r; progress comes as key=value lines instead.
  '-nostats',
  // "level" prefixes each line with [error]/[warning] so stderr can be classified without guessing;
  // "repeat" turns off "Last message repeated N times", which holds a line back until the next one
  // arrives (an error line would reach us late or never).
  '-loglevel',
  'repeat+level+warning',
  // key=value blocks ending in "progress=continue|end" on stderr, once a second: frame>0 there
  // means the destination accepted the header and packets flow (the output is opened before the loop).
  '-progress',
  'pipe:2',
  '-stats_period',
  '1',
];

/**
 * Flags for the input: the bytes on stdin are fMP4 and nothing else.
 *
 * -f mp4: never probe. A probed stdin could be read as an HLS playlist or an ffconcat script, and
 *   those demuxers open other URLs (files, HTTP) named inside the data.
 * -protocol_whitelist pipe: defence in depth. Whatever demuxer runs (mov with external data
 *   references, or a future change of the format flag) may open only pipe:. Debian's 5.1.9 already
 *   limits nested opens from pipe: to "crypto,data", but older or other builds do not.
 * -nofind_stream_info: the init segment (moov: avcC, dOps, timescales) declares everything a copy
 *   needs, so skip the probe phase entirely. With the default probe (5 MB / 5 s) ffmpeg waits ~0.7 s
 *   before writing anything; with -probesize 32 it still warns "unspecified pixel format" each start.
 *   Not -fflags +nobuffer: with probing it DISCARDS the packets read while probing (measured: the
 *   whole first GOP, 60 of 180 frames), i.e. the keyframe the prelude exists to deliver. Not +genpts:
 *   fMP4 carries pts (tfdt + trun), genpts only adds a reorder buffer. Not -flags low_delay: it is a
 *   decoder flag and video is not decoded; the Opus decoder has no delay to remove.
 */
export const INPUT_ARGS: readonly string[] = [
  '-f',
  'mp4',
  '-protocol_whitelist',
  'pipe',
  '-nofind_stream_info',
  '-i',
  'pipe:0',
];

/**
 * How an RTMP output encodes audio to AAC (bench:ingest times the same encode on its own). -aac_coder fast: half the
 * CPU of the default two-loop search (measured: 0.48 vs 0.95 CPU-s per minute of stereo audio) at a quality difference
 * no live platform's re-encode preserves. The audio is the only thing this process encodes, so it is most of its cost.
 */
export function aacEncodeArgs(o: Pick<FfmpegArgsOptions, 'aacBitrate' | 'aacSampleRate'> = {}): string[] {
  return ['-c:a', 'aac', '-aac_coder', 'fast', '-b:a', o.aacBitrate ?? '128k', '-ar', String(o.aacSampleRate ?? 48000)];
}

/** The argument list (without the ffmpeg binary) for one destination, or why the URL is refused. */
export function buildFfmpegArgs(o: FfmpegArgsOptions): Result<string[]> {
  if (o.url.includes(STREAM_PLACEHOLDER)) {
    return { ok: false, error: new OutputUrlError('bad_placeholder', 'The output URL still contains {stream}; expand it first.') };
  }
  const parsed = parseOutputUrl(o.url);
  if (!parsed.ok) return parsed;
  if (parsed.value.kind !== o.kind) {
    return {
      ok: false,
      error: new OutputUrlError('kind_mismatch', `An ${o.kind.toUpperCase()} output needs an ${o.kind}:// or ${o.kind}s:// URL.`),
    };
  }

  const args = [...GLOBAL_ARGS, ...INPUT_ARGS];
  // Explicit maps: hasAudio is the truth, not ffmpeg's stream selection.
  if (o.hasVideo !== false) args.push('-map', '0:v:0');
  if (o.hasAudio) args.push('-map', '0:a:0');
  if (o.hasVideo === false && !o.hasAudio) return { ok: false, error: new OutputUrlError('malformed', 'An output needs a video or an audio track.') };

  if (o.kind === 'rtsp') {
    // RTP carries H.264 and Opus (RFC 6184, RFC 7587): copy both.
    args.push('-c', 'copy');
  } else {
    // FLV in ffmpeg 5.1 has no Opus (enhanced RTMP came in 6.1/7.0): transcode audio only.
    if (o.hasVideo !== false) args.push('-c:v', 'copy');
    if (o.hasAudio && o.audioIsAac) {
      // FLV carries AAC as it is (an AudioSpecificConfig from the esds, then raw AUs): nothing to encode.
      args.push('-c:a', 'copy');
    } else if (o.hasAudio) {
      args.push(...aacEncodeArgs(o));
    }
  }
  // Without probing ffmpeg does not learn the input start time, so it would pass the browser's
  // timestamps through (a restart at minute 5 would start the output at 300 s). make_zero shifts the
  // first packet to 0, as the probed path does, keeping A/V offsets.
  args.push('-avoid_negative_ts', 'make_zero');

  if (o.kind === 'rtsp') {
    // Interleaved TCP: one connection, no UDP ports to open or lose. -timeout (µs) is the RTSP
    // socket timeout; without it a server that accepts TCP and never answers hangs ffmpeg forever
    // (-rw_timeout is accepted by the rtsp muxer but has no effect there; measured on 5.1).
    args.push('-f', 'rtsp', '-rtsp_transport', 'tcp', '-timeout', String(SOCKET_TIMEOUT_US), o.url);
  } else {
    // no_duration_filesize: the output is not seekable; skip the trailer's seek back to patch
    // duration/filesize (which only produces an error line on a network output).
    // -rw_timeout (µs): a server that stops reading (or never completes the handshake) fails the
    // process instead of hanging it; the supervisor restarts it. -tcp_nodelay: no Nagle delay on
    // small audio packets. Both are options of ffmpeg's rtmp/rtmps protocol.
    args.push(
      '-f',
      'flv',
      '-flvflags',
      'no_duration_filesize',
      '-rw_timeout',
      String(SOCKET_TIMEOUT_US),
      '-tcp_nodelay',
      '1',
      o.url,
    );
  }
  return { ok: true, value: args };
}
