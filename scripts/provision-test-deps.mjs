#!/usr/bin/env node
// The system tools the tests run, checked before `npm test` (its `pretest` step) so that the
// test command passes on a fresh Debian/Ubuntu machine by itself, and never skips a suite for want
// of a tool. When some are missing: as root with apt-get, installs their packages (saying which,
// in one line); otherwise stops at once with one line naming the command to run.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** @typedef {{ command: string, pkg: string, usedBy: string }} Tool */

/** Every command a test starts, with the Debian/Ubuntu package that installs it. @type {Tool[]} */
export const TOOLS = [
  { command: 'etcd', pkg: 'etcd-server', usedBy: 'the etcd store tests' },
  { command: 'openssl', pkg: 'openssl', usedBy: 'test certificates' },
  { command: 'curl', pkg: 'curl', usedBy: 'the forward-proxy and TLS tests' },
  { command: 'wrk', pkg: 'wrk', usedBy: 'the soak test' },
  { command: 'h2load', pkg: 'nghttp2-client', usedBy: 'the HTTP/2 tests' },
  { command: 'pebble', pkg: 'pebble', usedBy: 'the automatic HTTPS (ACME) tests' },
  { command: 'pebble-challtestsrv', pkg: 'pebble', usedBy: 'the automatic HTTPS (ACME) tests' },
  { command: 'chromium', pkg: 'chromium', usedBy: 'the browser tests' },
];

/** True when `command` is an executable file in one of the PATH directories.
 *  @param {string} command
 *  @param {string} [path] */
export function onPath(command, path = process.env.PATH ?? '') {
  return path.split(delimiter).filter((d) => d !== '').some((dir) => {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * What to do about the missing tools: nothing, install their packages (root with apt-get), or stop
 * with the line that says what to run.
 * @param {{ missing: Tool[], isRoot: boolean, hasAptGet: boolean }} facts
 * @returns {{ action: 'none' } | { action: 'install', packages: string[], line: string } | { action: 'stop', line: string }}
 */
export function plan({ missing, isRoot, hasAptGet }) {
  if (missing.length === 0) return { action: 'none' };
  const packages = [...new Set(missing.map((t) => t.pkg))];
  const what = missing.map((t) => `${t.command} (${t.usedBy})`).join(', ');
  if (isRoot && hasAptGet) return { action: 'install', packages, line: `npm test: installing ${packages.join(' ')} with apt-get for ${what}` };
  const next = 'then run npm test again';
  if (hasAptGet) return { action: 'stop', line: `npm test needs ${what}, not installed: run \`sudo apt-get install -y ${packages.join(' ')}\`, ${next}` };
  return { action: 'stop', line: `npm test needs ${what}, not installed, and there is no apt-get here: install ${missing.map((t) => t.command).join(', ')} (Debian/Ubuntu packages: ${packages.join(' ')}), ${next}` };
}

/** @param {string[]} args */
function aptGet(args) {
  const r = spawnSync('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(r.stdout + r.stderr);
  return r.status === 0;
}

function main() {
  const missingNow = () => TOOLS.filter((t) => !onPath(t.command));
  const step = plan({ missing: missingNow(), isRoot: process.getuid?.() === 0, hasAptGet: onPath('apt-get') });
  if (step.action === 'none') return 0;
  if (step.action === 'stop') {
    console.error(step.line);
    return 1;
  }
  console.error(step.line);
  if (!aptGet(['update', '-qq']) || !aptGet(['install', '-y', '-qq', '--no-install-recommends', ...step.packages])) {
    console.error(`npm test: apt-get could not install ${step.packages.join(' ')} (its output is above)`);
    return 1;
  }
  const still = missingNow();
  if (still.length > 0) {
    console.error(`npm test: ${still.map((t) => t.command).join(', ')} still not on PATH after installing ${step.packages.join(' ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main();
