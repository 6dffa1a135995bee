// OpenCV as a player: Debian's /usr/bin/python3 with python3-opencv (the python3 on PATH may be another interpreter
// without it). cv2.VideoCapture reads through OpenCV's own FFmpeg backend, the way users' scripts and NVR tools do.
import { execa } from 'execa';

const PYTHON = '/usr/bin/python3';

/** Fails with the command that installs OpenCV for Python when it is missing. */
export async function requireOpenCV(): Promise<void> {
  const r = await execa(PYTHON, ['-c', 'import cv2, numpy'], { reject: false });
  if (r.exitCode !== 0) throw new Error('OpenCV for python3 not found; install it: apt-get install -y python3-opencv');
}

export interface OpenCVRead {
  opened: boolean;
  frames: number;
  /** numpy shape of the last frame, e.g. [720, 1280, 3]. */
  shape: number[] | null;
  /** Mean [blue, green, red] of `sample`'s rectangle in the last frame. */
  colour: [number, number, number] | null;
  exitCode: number | undefined;
  /** What Python printed on stderr (OpenCV's and FFmpeg's warnings). */
  stderr: string;
}

/**
 * Reads up to `frames` frames from `url` with cv2.VideoCapture. `sample`: a rectangle [top, bottom, left, right] of
 * the last frame to average. `rtspTcp`: OpenCV's FFmpeg backend then asks RTSP servers for TCP (its default is UDP).
 */
export async function readWithOpenCV(
  url: string,
  o: { frames: number; sample?: [number, number, number, number]; rtspTcp?: boolean; timeoutMs?: number },
): Promise<OpenCVRead> {
  const script = [
    'import cv2, json, sys',
    'cap = cv2.VideoCapture(sys.argv[1])',
    'want, sample = int(sys.argv[2]), json.loads(sys.argv[3])',
    'n, frame = 0, None',
    'while n < want:',
    '    ok, f = cap.read()',
    '    if not ok: break',
    '    frame, n = f, n + 1',
    'colour = None',
    'if frame is not None and sample:',
    '    t, b, l, r = sample',
    '    colour = [round(float(frame[t:b, l:r, c].mean()), 1) for c in range(3)]',
    'print(json.dumps({"opened": cap.isOpened(), "frames": n, "shape": None if frame is None else list(frame.shape), "colour": colour}))',
  ].join('\n');
  const r = await execa(PYTHON, ['-c', script, url, String(o.frames), JSON.stringify(o.sample ?? null)], {
    reject: false,
    timeout: o.timeoutMs ?? 30_000,
    ...(o.rtspTcp ? { env: { OPENCV_FFMPEG_CAPTURE_OPTIONS: 'rtsp_transport;tcp' } } : {}),
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let parsed: Pick<OpenCVRead, 'opened' | 'frames' | 'shape' | 'colour'>;
  try {
    parsed = JSON.parse(last) as typeof parsed;
  } catch {
    throw new Error(`OpenCV printed no result (exit ${r.exitCode}): ${r.stdout} ${r.stderr}`);
  }
  return { ...parsed, exitCode: r.exitCode, stderr: r.stderr };
}
