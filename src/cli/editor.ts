// How `secret edit` starts an editor so that it leaves nothing of the secret behind: no
// viminfo/shada (yanked lines, search history), no swap, undo or backup files, no nano history
// or position log, no emacs auto-save, backup or lock files. The file itself is on a private
// tmpfs folder (vault-commands.ts privateShmDir) and is zeroed and removed afterwards.
import path from 'node:path'

// --cmd runs before the user's vimrc, -c after it (a vimrc's `set undofile` must not win);
// -i NONE keeps viminfo/shada off whatever the vimrc says; -n: no swap file.
const VIM_SET = 'set noswapfile noundofile nobackup nowritebackup viminfo='
const VIM = `-n -i NONE --cmd '${VIM_SET}' -c '${VIM_SET}'`
const NVIM_SET = 'set noswapfile noundofile nobackup nowritebackup shada='
const NVIM = `-n -i NONE --cmd '${NVIM_SET}' -c '${NVIM_SET}'`
const NANO = '--restricted --ignorercfiles'
const EMACS = "-Q --eval '(setq make-backup-files nil auto-save-default nil create-lockfiles nil)'"

/** Extra arguments for the editor command line ($EDITOR's first word decides), and whether we know it. */
export function editorFlags(editor: string): { flags: string; known: boolean } {
  const base = path.basename(editor.trim().split(/\s+/)[0] ?? '')
  if (/^(vi|vim|vim\.basic|vim\.tiny|vim\.nox|gvim|view|rvim)$/.test(base)) return { flags: VIM, known: true }
  if (base === 'nvim') return { flags: NVIM, known: true }
  if (/^(nano|rnano)$/.test(base)) return { flags: NANO, known: true }
  if (/^emacs(-nox|-gtk|-lucid)?$/.test(base)) return { flags: EMACS, known: true }
  return { flags: '', known: false }
}
