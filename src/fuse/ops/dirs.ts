// Folders: the fixed top (root, repos, tags), repositories and tags. Repositories are flat.
import type { FuseOperations } from '../binding.js'
import { REPOS, TAGS } from '../../vault/vault.js'
import { isFuseHiddenName } from '../../vault/names.js'
import { classify, type OpsContext } from './context.js'

type DirOps = Pick<FuseOperations, 'readdir' | 'mkdir' | 'rmdir'>

export function dirOps(c: OpsContext): DirOps {
  const { s } = c
  return {
    readdir(path, cb) {
      c.guard('readdir', cb, () => {
        const r = c.rel(path)
        const k = c.visibleOrRoot(r)
        if (k.k === 'root') return [['.', '..', REPOS, TAGS]]
        // .git and libfuse's names for files removed while open are not part of the view
        const names = s.namesIn(r)
        if (!names) throw c.fail(s.linkAt(r) ? 'ENOTDIR' : 'ENOENT')
        const out = ['.', '..']
        for (const n of names.sort()) if (!(k.k === 'repo' && n === '.git') && !isFuseHiddenName(n)) out.push(n)
        return [out]
      })
    },
    mkdir(path, _mode, cb) {
      c.guard('mkdir', cb, () => {
        const r = c.rel(path)
        const k = classify(r)
        if (k.k === 'hidden' || k.k === 'invalid') throw c.fail('EPERM') // before EEXIST: .git stays invisible
        if (s.stat(r)) throw c.fail('EEXIST')
        if (k.k === 'repo') {
          c.checkNewName(k.repo)
          if (k.repo === '.git') throw c.fail('EINVAL')
          c.host.createRepo(k.repo, 0o700)
        } else if (k.k === 'tag') {
          c.checkNewName(k.tag)
          s.mkdir(r, 0o700)
          c.host.touched()
        } else throw c.fail('EPERM') // repositories are flat
      })
    },
    rmdir(path, cb) {
      c.guard('rmdir', cb, () => {
        const r = c.rel(path)
        const k = c.visible(r)
        if (k.k === 'repo') {
          if (s.list(r).some((n) => n !== '.git')) throw c.fail('ENOTEMPTY')
          c.host.deleteRepo(k.repo)
        } else if (k.k === 'tag') {
          if (s.list(r).length) throw c.fail('ENOTEMPTY')
          s.remove(r)
          c.host.touched()
        } else if (k.k === 'secret' || k.k === 'tagentry') throw c.fail('ENOTDIR')
        else throw c.fail('EPERM')
      })
    },
  }
}
