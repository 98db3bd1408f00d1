// The rollback record (docs/SECURITY.md §Rollback): per user, outside every node, like ssh's
// known_hosts — for each node (its file id), the highest save counter this user has seen. Nothing
// inside a file can tell that it is an older copy; this record can, for one user on one machine.
//
// $XDG_STATE_HOME/polykey/seen, else ~/.local/state/polykey/seen: folder 0700, file 0600, both
// owned by the user and writable by nobody else (another user who could write it could lower
// the counts and hide a rollback). One line per node: `FILEID-HEX SAVES`. Written whole to a
// temporary file and renamed, so a reader never sees half a record; two processes racing can
// lose one update, which only lowers a count (a missed warning, never a false one).
import fs from 'node:fs'
import path from 'node:path'

const HEADER = '# polykey: the highest save counter seen per node (file id); see docs/SECURITY.md\n'

export class SeenRecord {
  private warnedUntrusted = false

  private constructor(
    readonly file: string,
    private readonly warn: (msg: string) => void,
  ) {}

  /** The user's record, from $XDG_STATE_HOME or $HOME; null when neither is set. */
  static forUser(env: NodeJS.ProcessEnv, warn: (msg: string) => void): SeenRecord | null {
    const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : env.HOME ? path.join(env.HOME, '.local', 'state') : null
    return state ? new SeenRecord(path.join(state, 'polykey', 'seen'), warn) : null
  }

  /**
   * A node opened at `saves`: warn once if this user has seen it further along, then remember
   * this count (so the warning is not repeated for the copy the user now works with).
   */
  opened(fileId: Buffer, saves: number, nodePath: string, stillCurrent: () => boolean): void {
    const rec = this.read()
    if (!rec) return
    const id = fileId.toString('hex')
    const seen = rec.get(id)
    // Another process may have saved (and recorded) since this one read the file: that is not a
    // rollback. Its save reached the file before the record, so a check after reading the
    // record sees it.
    if (seen !== undefined && saves < seen && !stillCurrent()) return
    if (seen !== undefined && saves < seen) {
      this.warn(
        `ROLLBACK: ${nodePath} has ${saves} saves, but you have seen this node at ${seen} saves: this is an older copy ` +
          `(a restored backup, or someone replaced the file); what was saved after save ${saves} is not in it. ` +
          `Warned once: the record now follows this copy`,
      )
    }
    if (seen !== saves) this.write(rec.set(id, saves))
  }

  /** A save was made: remember the higher count. */
  saved(fileId: Buffer, saves: number): void {
    const rec = this.read()
    if (!rec) return
    const id = fileId.toString('hex')
    if ((rec.get(id) ?? -1) < saves) this.write(rec.set(id, saves))
  }

  /** The record, or null when it cannot be trusted (then it is neither used nor written). */
  private read(): Map<string, number> | null {
    const folder = path.dirname(this.file)
    try {
      fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
      const why = untrusted(folder, true) ?? untrusted(this.file, false)
      if (why) {
        if (!this.warnedUntrusted) this.warn(`not using the rollback record ${this.file}: ${why}`)
        this.warnedUntrusted = true
        return null
      }
      const rec = new Map<string, number>()
      let text = ''
      try {
        text = fs.readFileSync(this.file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
      for (const line of text.split('\n')) {
        const m = /^([0-9a-f]{32}) (\d{1,15})$/.exec(line)
        if (m) rec.set(m[1], Math.max(Number(m[2]), rec.get(m[1]) ?? 0))
      }
      return rec
    } catch (err) {
      if (!this.warnedUntrusted) this.warn(`cannot use the rollback record ${this.file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
      this.warnedUntrusted = true
      return null
    }
  }

  private write(rec: Map<string, number>): void {
    const tmp = `${this.file}.${process.pid}.tmp`
    try {
      const body = HEADER + [...rec].map(([id, n]) => `${id} ${n}\n`).join('')
      fs.writeFileSync(tmp, body, { mode: 0o600, flag: 'wx' })
      fs.renameSync(tmp, this.file)
    } catch {
      // A full disk or a read-only home must not stop the command: the record only warns.
      fs.rmSync(tmp, { force: true })
    }
  }
}

/** Why a path of the record cannot be trusted, or null: not ours, or writable by others. */
function untrusted(p: string, isDir: boolean): string | null {
  let st: fs.Stats
  try {
    st = fs.lstatSync(p)
  } catch (err) {
    if (!isDir && (err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const uid = process.getuid?.() ?? st.uid
  if (isDir ? !st.isDirectory() : !st.isFile()) return `it is not a ${isDir ? 'folder' : 'regular file'}`
  if (st.uid !== uid) return `${isDir ? 'its folder' : 'it'} belongs to user ${st.uid}, not to you (user ${uid})`
  if (st.mode & (isDir ? 0o022 : 0o077))
    return `${isDir ? 'its folder' : 'it'} is ${st.mode & 0o022 ? 'writable' : 'readable'} by others (mode ${(st.mode & 0o777).toString(8)}; it must be ${isDir ? '0700' : '0600'})`
  return null
}
