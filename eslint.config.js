// ESLint over every hand-written line: typescript-eslint's type-aware recommended rules for
// TypeScript (type information from tsconfig.json, the one program that type-checks everything),
// ESLint's recommended rules for plain JavaScript. `npm run lint`; `npm test` runs it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // generated or built files only: dist/ and build/ (tsc and asc output); asm/ is AssemblyScript,
    // compiled by asc, except asm/shared/, the constants the TypeScript side imports too; the config
    // validator is written by src/config/generate-validator.ts
    ignores: ['dist/', 'build/', 'asm/*', '!asm/shared/', 'src/config/config-validator.generated.ts', 'bench/results/', 'coverage/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // asm/shared/constants.ts keeps its integer tables as enums because AssemblyScript reads the
      // same file; comparing numbers read from wasm memory with them is what they are for
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Fastify plugins and handlers, and implementations of promise-returning interfaces, are async
      // by contract (a plugin without `done` must return a promise), not because they await
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['asm/shared/**/*.ts'],
    rules: {
      // Capacity and DefaultLimit are tables of sizes kept as enums for AssemblyScript's sake, not
      // identities: two limits may well be equal
      '@typescript-eslint/no-duplicate-enum-values': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
);
