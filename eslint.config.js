// ESLint over every hand-written line: typescript-eslint's type-aware recommended rules for
// TypeScript (the program is tsconfig.json's, the one that type-checks everything), ESLint's
// recommended rules for plain JavaScript.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // generated or built: dist/ and build/ (tsc, asc output), asm/ is AssemblyScript (compiled by
    // asc, not TypeScript) except asm/shared, the constants both sides import; the config validator
    // is written by src/config/generate-validator.ts
    ignores: ['dist/', 'build/', 'asm/*', '!asm/shared/', 'src/config/config-validator.generated.ts', 'bench/results/', 'coverage/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
);
