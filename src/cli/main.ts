#!/usr/bin/env node
// `portico` without the admin API (the package bin, admin/cli.ts, adds it). Useful for embedding.
import { runPortico } from './run.js';

runPortico(process.argv.slice(2)).then((code) => process.exit(code));
