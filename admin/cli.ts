#!/usr/bin/env node
// The `portico` command (package bin) and composition root: `portico routes ...` is the admin API
// client; anything else runs the proxy with the admin API (src/ never imports admin/).
import { runPortico } from '../src/cli/run.js';
import { startAdmin } from './index.js';
import { runRoutesClient } from './client-cli.js';

const argv = process.argv.slice(2);
if (argv[0] === 'routes') {
  // let stdout drain (it may be a pipe) instead of exiting at once
  process.exitCode = await runRoutesClient(argv.slice(1));
} else {
  process.exit(await runPortico(argv, { startAdmin }));
}
