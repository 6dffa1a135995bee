// The fMP4 fragments since the last video keyframe, so a (re)started ffmpeg begins on a keyframe at once.
// Bounded: past the limit the group is dropped until the next keyframe (and the page is asked for one).
export class GopCache {
  private fragments: Uint8Array[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Returns false when the cache overflowed and was emptied. */
  add(fragment: Uint8Array, keyframe: boolean, hasVideo: boolean): boolean {
    if (keyframe || !hasVideo) {
      // Audio-only streams: every fragment is a random access point; keep just the last one.
      this.fragments = [fragment];
      this.bytes = fragment.length;
      return true;
    }
    if (this.fragments.length === 0) return true;
    if (this.bytes + fragment.length > this.maxBytes) {
      this.fragments = [];
      this.bytes = 0;
      return false;
    }
    this.fragments.push(fragment);
    this.bytes += fragment.length;
    return true;
  }

  clear(): void {
    this.fragments = [];
    this.bytes = 0;
  }

  get size(): number {
    return this.fragments.length;
  }

  list(): readonly Uint8Array[] {
    return this.fragments;
  }
}
