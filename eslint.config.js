// Lint rules that keep the architecture (docs/ARCHITECTURE.md) true: no `any` outside the FUSE
// binding's declared edge, no floating promises, and the layers — a folder imports only from
// the layers below it:  crypto ← archive ← git ← vault ← sync · fuse · agent · identity ← cli.
// (git reads and writes through the Store interface that vault defines: that one type-only
// import is allowed.)
import tseslint from 'typescript-eslint'

const layer = (forbidden, extra = []) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        ...forbidden.map((d) => ({ group: [`**/${d}/*`, `../${d}/*`, `../../${d}/*`], message: `this layer must not import from src/${d} (docs/ARCHITECTURE.md "Layers")` })),
        ...extra,
      ],
    },
  ],
})
const above = ['cli', 'agent', 'fuse', 'sync', 'identity']

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/**', 'bench/**', 'test/**', '**/*.d.ts', 'eslint.config.js'] },
  {
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
    },
  },
  { files: ['src/fuse/binding.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['src/crypto/**/*.ts'], rules: layer(['archive', 'git', 'vault', ...above]) },
  { files: ['src/archive/**/*.ts'], rules: layer(['git', 'vault', ...above]) },
  { files: ['src/git/**/*.ts'], rules: layer(above, [{ regex: '/vault/(?!store\\.js$)', message: 'git may import only the Store interface from src/vault' }]) },
  { files: ['src/vault/**/*.ts'], rules: layer(above) },
  { files: ['src/sync/**/*.ts'], rules: layer(['cli', 'agent', 'fuse']) },
  { files: ['src/fuse/**/*.ts'], rules: layer(['cli', 'agent', 'sync', 'identity']) },
  { files: ['src/agent/**/*.ts'], rules: layer(['cli', 'fuse', 'sync', 'identity', 'vault', 'git', 'archive']) },
  { files: ['src/identity/**/*.ts'], rules: layer(['cli', 'agent', 'fuse']) },
)
