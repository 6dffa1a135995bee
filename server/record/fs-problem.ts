// A file-system error as a sentence an operator can act on. Node's own messages name the syscall, not the remedy.

const WHAT: Record<string, string> = {
  ENOSPC: 'the disk is full: free space or lower --record-max-size',
  EDQUOT: 'the disk quota is used up: free space or lower --record-max-size',
  EACCES: 'permission denied: the server cannot write there; give its user write access to the --record directory',
  EPERM: 'permission denied: the server cannot write there; give its user write access to the --record directory',
  EROFS: 'the file system is read-only: remount it read-write or choose another --record directory',
  ENOENT: 'the directory does not exist (it may have been removed or unmounted); create it or choose another --record directory',
  ENOTDIR: 'a part of the path is not a directory (something replaced it with a file); make it a directory again',
  EEXIST: 'a file of that name exists already where a directory or new segment should be; move it away',
  EIO: 'the disk reported an I/O error; check the disk',
  EMFILE: 'the server has too many files open; raise its open-file limit (ulimit -n)',
};

/** "WHAT (CODE) writing PATH", for an error from fs. */
export function fsProblem(e: unknown, path: string): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const what = code !== undefined ? WHAT[code] : undefined;
  if (what) return `${what} (${code}) at ${path}`;
  return `${e instanceof Error ? e.message : String(e)} at ${path}`;
}
