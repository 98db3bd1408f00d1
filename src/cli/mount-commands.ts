// mount / unmount: see src/fuse.
import type { Context } from './context.js'
import { PolykeyError } from '../errors.js'

export async function mount(_ctx: Context, _argv: any): Promise<number> {
  throw new PolykeyError('REFUSED', 'mounting is not available in this build yet')
}
export async function unmount(_ctx: Context, _argv: any): Promise<number> {
  throw new PolykeyError('REFUSED', 'mounting is not available in this build yet')
}
