// Getting the tracks: camera and microphone (getUserMedia), screen (getDisplayMedia), or a canvas (test pattern or
// clock). One call per permission the user has to grant, and every failure turned into a sentence (errors.ts).
import { PRESET_SPECS } from './codec.ts';
import { startClockSource } from './clock-source.ts';
import { PageError, asPageError, captureError, screenCaptureError } from './errors.ts';
import type { AudioChoice, FrameRate, Preset, Source } from './params.ts';
import type { CanvasSource } from './canvas-capture.ts';
import { startPatternSource } from './pattern-source.ts';

export interface CaptureChoice {
  source: Source;
  audio: AudioChoice;
  cameraId?: string;
  micId?: string;
  preset: Preset;
  fps: FrameRate;
  /** Shown on the test pattern. */
  label: string;
}

export interface Capture {
  /** Video and (when chosen) audio, for the preview. */
  stream: MediaStream;
  video: MediaStreamTrack;
  audio: MediaStreamTrack | undefined;
  stop(): void;
}

function micConstraints(micId: string | undefined): MediaTrackConstraints {
  return {
    ...(micId ? { deviceId: { exact: micId } } : {}),
    // Opus runs at 48 kHz; asking for it spares a resampler. Stereo if the device has it.
    sampleRate: { ideal: 48_000 },
    channelCount: { ideal: 2 },
  };
}

export async function startCapture(c: CaptureChoice): Promise<Capture> {
  const spec = PRESET_SPECS[c.preset];
  const media = navigator.mediaDevices as MediaDevices | undefined;
  if (!media && (c.source === 'camera' || c.source === 'screen' || c.audio === 'mic')) {
    throw new PageError('capture-failed', 'This browser offers no media devices here (navigator.mediaDevices is missing); open the page over http://localhost or https.');
  }
  const stops: Array<() => void> = [];
  const stopAll = (): void => stops.forEach((s) => s());
  try {
    let video: MediaStreamTrack | undefined;
    let audio: MediaStreamTrack | undefined;
    if (c.source === 'camera') {
      let s: MediaStream;
      try {
        s = await media!.getUserMedia({
          video: {
            ...(c.cameraId ? { deviceId: { exact: c.cameraId } } : {}),
            width: { ideal: spec.width },
            height: { ideal: spec.height },
            frameRate: { ideal: c.fps },
          },
          audio: c.audio === 'mic' ? micConstraints(c.micId) : false,
        });
      } catch (err) {
        throw captureError(err, c.audio === 'mic' ? 'camera and microphone' : 'camera');
      }
      stops.push(() => s.getTracks().forEach((t) => t.stop()));
      video = s.getVideoTracks()[0];
      audio = s.getAudioTracks()[0];
    } else {
      if (c.source === 'screen') {
        let s: MediaStream;
        try {
          s = await media!.getDisplayMedia({ video: { frameRate: { ideal: c.fps }, width: { max: 3840 }, height: { max: 2160 } }, audio: false });
        } catch (err) {
          throw screenCaptureError(err);
        }
        stops.push(() => s.getTracks().forEach((t) => t.stop()));
        video = s.getVideoTracks()[0];
      } else {
        let src: CanvasSource;
        try {
          src = c.source === 'clock' ? startClockSource(c.fps) : startPatternSource(spec.width, spec.height, c.fps, c.label);
        } catch (err) {
          const what = c.source === 'clock' ? 'clock' : 'test pattern';
          throw new PageError('capture-failed', `The ${what} could not be drawn (${asPageError(err).message}). Reload the page and press Go live, or choose Camera or Screen.`);
        }
        stops.push(() => src.stop());
        video = src.stream.getVideoTracks()[0];
      }
      if (c.audio === 'mic') {
        let s: MediaStream;
        try {
          s = await media!.getUserMedia({ audio: micConstraints(c.micId), video: false });
        } catch (err) {
          throw captureError(err, 'microphone');
        }
        stops.push(() => s.getTracks().forEach((t) => t.stop()));
        audio = s.getAudioTracks()[0];
      }
    }
    if (!video) throw new PageError('no-device', `The ${c.source} gave no video track. Choose another source.`);
    if (c.audio === 'mic' && !audio) throw new PageError('no-device', 'No microphone track was delivered. Plug one in or choose "No microphone".');
    return { stream: new MediaStream(audio ? [video, audio] : [video]), video, audio, stop: stopAll };
  } catch (err) {
    stopAll();
    throw err;
  }
}

export interface DeviceLists {
  cameras: MediaDeviceInfo[];
  mics: MediaDeviceInfo[];
  /** Labels are empty until the user has granted a permission once (W3C Media Capture §9.2.1). */
  labelled: boolean;
}

export async function listDevices(): Promise<DeviceLists> {
  const media = navigator.mediaDevices as MediaDevices | undefined;
  if (!media) return { cameras: [], mics: [], labelled: false };
  const all = await media.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
  const cameras = all.filter((d) => d.kind === 'videoinput');
  const mics = all.filter((d) => d.kind === 'audioinput');
  return { cameras, mics, labelled: all.some((d) => d.label !== '') };
}
