// Where recordings live: DIR/NAME/YYYY-MM-DDTHH-MM-SS.sssZ.mp4, one file per segment, named after the wall-clock time
// of its first keyframe (ISO 8601 in UTC with '-' for ':', which some file systems refuse). Pure: no I/O.
// Stream names are already safe (shared/stream-name.ts), but every path is still checked to stay inside DIR.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isValidStreamName } from '../../shared/stream-name.ts';

/** A path that would leave the recording directory, or a name that is not a stream name. */
export class RecordPathError extends Error {
  readonly code = 'record-path-refused';
}

const SEGMENT_NAME = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})Z\.mp4$/;

/** The file name of a segment that starts at `ms` (ms since the epoch). */
export function segmentFileName(ms: number): string {
  return `${new Date(ms).toISOString().replace(/:/g, '-')}.mp4`;
}

/** The start (ms since the epoch) a segment file name says, or undefined for any other name. */
export function segmentStart(fileName: string): number | undefined {
  const m = SEGMENT_NAME.exec(fileName);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `part` resolved under `root`, or a RecordPathError when it would land on or outside it. */
export function inside(root: string, ...parts: string[]): string {
  const base = resolve(root);
  const full = resolve(base, ...parts);
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new RecordPathError(`refused to use ${JSON.stringify(parts.join('/'))}: it is not inside the recording directory ${base}`);
  }
  return full;
}

/** DIR/NAME, for a valid stream name only. */
export function streamDir(root: string, name: string): string {
  if (!isValidStreamName(name) || name === '.' || name === '..') {
    throw new RecordPathError(`refused to record ${JSON.stringify(name)}: it is not a valid stream name, so it could leave the recording directory`);
  }
  return inside(root, name);
}

/** DIR/NAME/START.mp4. */
export function segmentPath(root: string, name: string, startMs: number): string {
  return inside(streamDir(root, name), segmentFileName(startMs));
}
