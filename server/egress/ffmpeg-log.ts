// ffmpeg's stderr, as ffmpeg-output.ts runs it (-loglevel repeat+level+warning -progress pipe:2), read as lines:
// progress key=value pairs, and log lines classified so the supervisor can keep the one real error and warn about
// the rest. Pure: no processes, no logger.

/** The longest line kept: a line without a newline (a runaway ffmpeg) is cut here. */
export const MAX_STDERR_LINE = 8 * 1024;

const FFMPEG_ERROR_LEVELS = new Set(['error', 'fatal', 'panic']);
// Summary lines that follow the real error and say nothing new (ffmpeg 5.1 prints them after e.g.
// "av_interleaved_write_frame(): Connection reset by peer" when the server drops the connection).
const GENERIC_ERRORS = [/^Conversion failed!?$/, /^Error initializing output stream \d+:\d+ --/, /^Error writing trailer of /, /^Error closing file /];
// Lines ffmpeg 5.1 prints on every start for a browser-style fMP4 input; not worth a warning.
const BENIGN = [/^Guessed Channel Layout for Input Stream/];

/** Splits stderr chunks into lines (any of \r\n, \n, \r), each at most MAX_STDERR_LINE long. */
export class StderrLines {
  private partial = '';

  push(chunk: string): string[] {
    const lines = (this.partial + chunk).split(/\r\n|\n|\r/);
    let partial = lines.pop() ?? '';
    if (partial.length > MAX_STDERR_LINE) {
      lines.push(partial.slice(0, MAX_STDERR_LINE));
      partial = '';
    }
    this.partial = partial;
    return lines.filter((l) => l.length > 0);
  }

  /** What is left when the stream ends. */
  end(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest.length > 0 ? [rest] : [];
  }
}

export interface FfmpegLogLine {
  /** "tcp", "rtmp", "flv" … from "[tcp @ 0x55…]"; the pointer is dropped. */
  context: string | undefined;
  /** From -loglevel +level: "error", "warning", "fatal" … */
  level: string | undefined;
  message: string;
}

/** Split a line printed with `-loglevel level+…`: "[tcp @ 0x55d1] [error] Connection refused". */
export function parseFfmpegLogLine(line: string): FfmpegLogLine {
  const m = /^(?:\[([^\]@]+?) @ 0x[0-9a-fA-F]+\] )?(?:\[(quiet|panic|fatal|error|warning|info|verbose|debug|trace)\] )?(.*)$/s.exec(line);
  return { context: m?.[1], level: m?.[2], message: (m?.[3] ?? line).trimEnd() };
}

export type StderrLine =
  /** -progress pipe:2: "key=value"; a block ends with "progress=continue|end". */
  | { kind: 'progress'; key: string; value: string }
  | {
      kind: 'log';
      level: string | undefined;
      /** "context: message". */
      text: string;
      /** An error worth showing a user as the output's last error (not a generic summary line). */
      lastError: boolean;
      /** An error or a warning worth a warn-level log line. */
      warn: boolean;
    };

export function classifyStderrLine(raw: string): StderrLine {
  const kv = /^([a-z0-9_]+)=(.*)$/.exec(raw);
  if (kv) return { kind: 'progress', key: kv[1]!, value: kv[2]!.trim() };
  const line = parseFfmpegLogLine(raw);
  const isError = line.level !== undefined && FFMPEG_ERROR_LEVELS.has(line.level);
  const text = line.context ? `${line.context}: ${line.message}` : line.message;
  const benign = BENIGN.some((r) => r.test(line.message));
  return {
    kind: 'log',
    level: line.level,
    text,
    // ffmpeg 5.1 ends a failed output start with "[error] Error initializing output stream 0:1 -- " and then an empty
    // "[error] " line: neither says what went wrong, and the empty one must not replace the line that did.
    lastError: isError && line.message !== '' && !GENERIC_ERRORS.some((r) => r.test(line.message)),
    warn: (isError || line.level === 'warning') && line.message !== '' && !benign,
  };
}
