#!/usr/bin/env -S node --max-semi-space-size=2
// The `portico` command (package bin) and composition root: `portico routes ...` is the admin API
// client, `portico store ...` copies routes between a file and etcd; anything else runs the proxy (./run.ts).
// The shebang caps V8's young generation at 2 MiB per semi-space. Node's default (16) cost ~20 MiB
// of peak RSS under load (wrk, 50 connections, small GETs: ~91 vs ~73 MiB with 4). Since reads go
// into owned buffers (no off-heap allocation per read, issue 14), 1, 2 and 4 measured the same CPU
// per request on workloads (a), (c), (d) and no full collections; 2 peaked 3-6 MiB below 4 and
// scavenges half as often as 1.

const argv = process.argv.slice(2);
if (argv[0] === 'routes') {
  const { runRoutesClient } = await import('./routes-cli.js');
  // let stdout drain (it may be a pipe) instead of exiting at once
  process.exitCode = await runRoutesClient(argv.slice(1));
} else if (argv[0] === 'store') {
  const { runStoreCli } = await import('./store-cli.js');
  process.exitCode = await runStoreCli(argv.slice(1));
} else {
  const { runPortico } = await import('./run.js');
  process.exit(await runPortico(argv));
}
