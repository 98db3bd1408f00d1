// `make man`: print polykey(1) (man.ts) for man/polykey.1.
import { readFileSync } from 'node:fs'
import { cliSpec } from './spec.js'
import { manPage } from './man.js'

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
process.stdout.write(manPage(await cliSpec(), pkg.version))
