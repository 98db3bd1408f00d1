// Child process for the mount benchmark: serve `count` files through mapfs at a mountpoint, in
// the same layout as the Polykey node the benchmark builds; print "ready"; unmount on SIGTERM.
import { mountMapFs } from './mapfs.js'
import { benchFiles } from './fixtures.js'

const [mountpoint, count, repos] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 1)]
const files = new Map<string, Buffer>()
for (const [p, data] of benchFiles(count, repos)) files.set(p, data)
const fs = await mountMapFs(mountpoint, files)
process.stdout.write('ready\n')
process.on('SIGTERM', () => {
  void fs.unmount().then(() => process.exit(0))
})
