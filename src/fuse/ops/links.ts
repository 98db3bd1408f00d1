// Names: unlink, link (tagging), rename, and the kinds of file the view refuses (symlinks,
// devices). A secret lives in one repository; tags are hardlinks to secrets.
import type { FuseOperations } from '../binding.js'
import { isScratchName } from '../../vault/names.js'
import { classify, type Kind, type OpsContext } from './context.js'
import { hide, pendingHide, unlinkPending } from './hidden.js'

type LinkOps = Pick<FuseOperations, 'unlink' | 'link' | 'rename' | 'symlink' | 'mknod' | 'readlink'>

type K = Kind['k']
type Renamer = (c: OpsContext, rs: string, rd: string, ks: Kind, kd: Kind) => void

/**
 * rename(2) by (source kind, target kind). A pair not listed is refused with EPERM: folders
 * stay what they are (a repository stays a repository, a tag a tag), files never become
 * folders, and nothing moves into or out of the fixed top (root, repos, tags) or .git.
 */
const RENAMES: Partial<Record<`${K}>${K}`, Renamer>> = {
  'repo>repo': renameFolder,
  'tag>tag': renameFolder,
  'secret>secret': renameFileIntoRepo,
  'tagentry>secret': renameFileIntoRepo,
  'secret>tagentry': renameFileIntoTag,
  'tagentry>tagentry': renameFileIntoTag,
}

export function linkOps(c: OpsContext): LinkOps {
  const { s } = c
  return {
    unlink(path, cb) {
      c.guard('unlink', cb, () => {
        const r = c.rel(path)
        const k = c.visible(r)
        if (unlinkPending(c, r)) return // libfuse's last close of a hidden file not settled yet
        if (k.k === 'secret') {
          const repo = isScratchName(k.name) ? null : k.repo
          // Deleting a secret removes it from every tag.
          if (repo) for (const l of s.tagLinksOf(r)) s.remove(l)
          s.remove(r)
          if (repo) c.host.changed(repo)
        } else if (k.k === 'tagentry') {
          s.remove(r)
          c.host.touched()
        } else throw c.fail('EISDIR')
      })
    },
    rename(src, dest, cb, ctx) {
      c.guard('rename', cb, () => {
        const rs = c.rel(src)
        const rd = c.rel(dest)
        const ks = c.visible(rs)
        // libfuse keeping a file that is open while it is removed or renamed over (hidden.ts)
        if (ctx?.hide) {
          if (ks.k !== 'secret' && ks.k !== 'tagentry') throw c.fail('EPERM')
          return hide(c, rs, rd, ks, ctx)
        }
        const kd = classify(rd)
        const how = RENAMES[`${ks.k}>${kd.k}`]
        if (!how) throw c.fail('EPERM')
        const back = pendingHide(c, rd, ctx)
        if (back) return back.renameOver(() => how(c, rs, rd, ks, classify(rd)))
        how(c, rs, rd, ks, kd)
      })
    },
    link(src, dest, cb) {
      c.guard('link', cb, () => {
        const rs = c.rel(src)
        const rd = c.rel(dest)
        const ks = c.visible(rs)
        const kd = classify(rd)
        if (kd.k !== 'hidden' && kd.k !== 'invalid' && s.stat(rd)) throw c.fail('EEXIST') // before any refusal, as link(2)
        if (ks.k !== 'secret' && ks.k !== 'tagentry') throw c.fail('EPERM') // no hardlinked folders
        const ino = s.ino(rs)
        const target = ino === null ? undefined : s.inodes().get(ino)
        if (!target) throw c.fail('EPERM') // only secrets can be tagged
        if (kd.k !== 'tagentry') throw c.fail('EPERM') // a secret lives in one repository
        c.checkNewName(kd.name)
        if (!s.stat(c.tagDir(kd.tag))) throw c.fail('ENOENT')
        if (s.stat(rd)) throw c.fail('EEXIST')
        s.link(rd, target)
        c.host.touched()
      })
    },
    symlink(_target, _path, cb) {
      cb(-c.errnoNumber('EPERM'))
    },
    mknod(_path, _mode, _dev, cb) {
      cb(-c.errnoNumber('EPERM'))
    },
    readlink(_path, cb) {
      cb(-c.errnoNumber('EINVAL'))
    },
  }
}

/** Repository and tag renames. */
function renameFolder(c: OpsContext, rs: string, rd: string, _ks: Kind, kd: Kind): void {
  const { s } = c
  const name = kd.k === 'repo' ? kd.repo : (kd as { tag: string }).tag
  c.checkNewName(name)
  if (name === '.git') throw c.fail('EINVAL')
  const dst = s.stat(rd)
  if (dst) {
    if (dst.type !== 'dir') throw c.fail('ENOTDIR')
    if (s.list(rd).some((n) => n !== '.git')) throw c.fail('ENOTEMPTY')
    if (kd.k === 'repo') c.host.deleteRepo(kd.repo)
    else s.remove(rd)
  }
  s.move(rs, rd)
  c.host.touched()
}

/**
 * What every file rename checks first. Returns true when there is nothing left to do: the
 * target was a secret (renamed over, see renameOverSecret) or the same file.
 */
function renameFileCommon(c: OpsContext, rs: string, rd: string, kd: Kind & { name: string }): { done: boolean; srcRepo: string | null; dstExists: boolean } {
  const { s } = c
  c.checkNewName(kd.name)
  const srcIno = s.ino(rs)!
  const srcRepo = c.repoOfIno(srcIno)
  const dstStat = s.stat(rd)
  if (dstStat?.type === 'dir') throw c.fail('EISDIR')
  const dstIno = dstStat ? s.ino(rd) : null
  // rename(2) between two links of one file does nothing
  if (dstIno !== null && dstIno === srcIno) return { done: true, srcRepo, dstExists: true }
  const dstSecret = dstIno === null ? undefined : s.inodes().get(dstIno)
  if (dstSecret) {
    renameOverSecret(c, rs, rd, srcRepo, dstSecret)
    return { done: true, srcRepo, dstExists: true }
  }
  return { done: false, srcRepo, dstExists: !!dstStat }
}

/**
 * Renaming over a secret (editors' write-temp-then-rename, sed -i, cp+mv, through a tag path or
 * a repository path): the secret keeps its identity — its tags, its repository — and takes the
 * new content and mode. What was renamed goes away.
 */
function renameOverSecret(c: OpsContext, rs: string, rd: string, srcRepo: string | null, dstSecret: string): void {
  const { s } = c
  const data = s.readFile(rs)!
  const mode = s.stat(rs)!.mode
  const mtime = s.stat(rs)!.mtime
  if (srcRepo) for (const l of s.tagLinksOf(rs)) if (l !== rd) s.remove(l)
  s.remove(rs)
  // Descriptors open on the secret keep the content they opened (a rename replaces the file;
  // POSIX), while the secret itself — its inode, its tags — takes the new one.
  c.detached = c.detach(dstSecret)
  s.writeFile(dstSecret, data, { mode, mtime })
  data.fill(0)
  if (srcRepo) c.host.changed(srcRepo)
  c.host.changed(dstSecret.split('/')[1])
}

/** Into a repository: a secret renamed or moved, a scratch file becoming a secret. */
function renameFileIntoRepo(c: OpsContext, rs: string, rd: string, ks: Kind, kd: Kind): void {
  const { s } = c
  const dst = kd as Kind & { k: 'secret' }
  const { done, srcRepo, dstExists } = renameFileCommon(c, rs, rd, dst)
  if (done) return
  if (ks.k === 'tagentry' && srcRepo) throw c.fail('EPERM') // a tag entry cannot become a new secret
  if (!s.stat(c.repoDir(dst.repo))) throw c.fail('ENOENT')
  if (dstExists) s.remove(rd)
  const links = srcRepo && !isScratchName(dst.name) ? s.tagLinksOf(rs) : []
  s.move(rs, rd)
  // A tag entry is named after its secret (as `polykey secret mv` does): entries follow.
  for (const l of links) renameTagEntry(c, l, dst.repo, dst.name)
  if (srcRepo) c.host.changed(srcRepo)
  if (!isScratchName(dst.name)) c.host.changed(dst.repo)
  c.host.touched()
}

/** Into a tag folder: a tag entry moving between tags / renamed, or scratch staying scratch. */
function renameFileIntoTag(c: OpsContext, rs: string, rd: string, ks: Kind, kd: Kind): void {
  const { s } = c
  const dst = kd as Kind & { k: 'tagentry' }
  const { done, srcRepo, dstExists } = renameFileCommon(c, rs, rd, dst)
  if (done) return
  if (ks.k === 'secret' && srcRepo) throw c.fail('EPERM') // to tag a secret, ln it
  if (!s.stat(c.tagDir(dst.tag))) throw c.fail('ENOENT')
  if (dstExists) s.remove(rd)
  s.move(rs, rd)
  c.host.touched()
}

/** Rename tag entry `entry` to NAME, or NAME@REPO when the tag shows another NAME (vault.ts linkIntoTag). */
function renameTagEntry(c: OpsContext, entry: string, repo: string, name: string): void {
  const { s } = c
  const dir = entry.slice(0, entry.lastIndexOf('/'))
  const ino = s.ino(entry)
  for (const want of [name, `${name}@${repo}`]) {
    const p = `${dir}/${want}`
    if (p === entry) return
    if (Buffer.byteLength(want) > 255) return
    if (s.stat(p)) {
      if (s.ino(p) === ino) return
      continue
    }
    s.move(entry, p)
    return
  }
}
