// What the vault and git layers need from "a node's contents": the CLI works straight on the
// node file (ArchiveStore, only what it touches is decrypted), the mount on a memfs volume.
export interface StatInfo {
  type: 'file' | 'dir'
  mode: number
  mtime: number
  size: number
}

export interface Store {
  /** Bytes of a file (hardlinks followed), or null if there is none. */
  readFile(p: string): Buffer | null
  /**
   * Many files at once, in whatever order is cheapest (grep over a whole node); fn gets each
   * existing file's bytes, valid only during the call (it may be wiped after). Optional: readFile in a loop does the same, only slower.
   */
  readFiles?(paths: string[], fn: (p: string, data: Buffer) => void): void
  stat(p: string): StatInfo | null
  /** Names directly inside a folder (sorted); [] when it does not exist. */
  list(dir: string): string[]
  /** Optional: the names of list(dir) that are files (hardlinks included), in one pass instead of a stat each. */
  listFiles?(dir: string): string[]
  /** How many files lie under a folder, at any depth; cheap, unlike listing (no full index decode). */
  countFiles(dir: string): number
  writeFile(p: string, data: Buffer, opts?: { mode?: number; mtime?: number }): void
  mkdir(p: string, mode?: number): void
  /** Remove a file, hardlink or empty folder; no error when missing. */
  remove(p: string): void
  /** Move a file or a whole folder (index-only where the store allows it). */
  move(from: string, to: string): void
  /** Make `p` a hardlink to the file `target`. */
  link(p: string, target: string): void
  /** For a hardlink (tag entry): the repository path it points at; null for plain files. */
  linkTarget(p: string): string | null
}

export const join = (...parts: string[]) => parts.join('/')
