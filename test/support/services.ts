// Which real services this machine can run for the tests, and why not when it cannot.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function onPath(binary: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface ServiceAvailability {
  available: boolean;
  /** The binary to run, or why the tests that need it skip. */
  detail: string;
}

export function redisAvailability(): ServiceAvailability {
  const path = process.env.REDIS_SERVER_BIN ?? onPath('redis-server');
  return path
    ? { available: true, detail: path }
    : {
        available: false,
        detail: 'no redis-server on the PATH (apt-get install -y redis-server, or set REDIS_SERVER_BIN)',
      };
}

export function mongodAvailability(): ServiceAvailability {
  const fromEnv = process.env.MONGOMS_SYSTEM_BINARY;
  if (fromEnv) {
    return existsSync(fromEnv)
      ? { available: true, detail: fromEnv }
      : { available: false, detail: `MONGOMS_SYSTEM_BINARY=${fromEnv} does not exist` };
  }
  const path = onPath('mongod');
  if (path) return { available: true, detail: path };
  if (process.env.CARESLOT_MONGOMS_DOWNLOAD === '1') {
    return { available: true, detail: 'mongodb-memory-server download (CARESLOT_MONGOMS_DOWNLOAD=1)' };
  }
  return {
    available: false,
    detail:
      'no mongod binary (set MONGOMS_SYSTEM_BINARY=/path/to/mongod, put mongod on the PATH, or CARESLOT_MONGOMS_DOWNLOAD=1 on a machine with internet)',
  };
}

/**
 * The PostgreSQL server binaries (initdb, postgres): POSTGRES_BIN_DIR, else the newest
 * /usr/lib/postgresql/<version>/bin (where Debian's postgresql package puts them), else the PATH.
 */
export function postgresAvailability(): ServiceAvailability {
  const hasServer = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) {
    return hasServer(fromEnv)
      ? { available: true, detail: fromEnv }
      : { available: false, detail: `POSTGRES_BIN_DIR=${fromEnv} has no initdb and postgres` };
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && hasServer(join(root, v, 'bin')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  if (versions[0] !== undefined) return { available: true, detail: join(root, versions[0], 'bin') };
  const initdb = onPath('initdb');
  if (initdb && hasServer(join(initdb, '..'))) return { available: true, detail: join(initdb, '..') };
  return {
    available: false,
    detail:
      'no PostgreSQL server binaries (apt-get install -y postgresql, or set POSTGRES_BIN_DIR to the folder with initdb and postgres)',
  };
}

export function stripeMockAvailability(): ServiceAvailability {
  const url = process.env.STRIPE_MOCK_URL;
  return url
    ? { available: true, detail: url }
    : {
        available: false,
        detail: 'STRIPE_MOCK_URL is not set (run stripe-mock and set STRIPE_MOCK_URL=http://localhost:12111)',
      };
}

export function chromiumAvailability(): ServiceAvailability {
  const path = process.env.CHROMIUM_PATH ?? onPath('chromium') ?? onPath('chromium-browser');
  return path
    ? { available: true, detail: path }
    : { available: false, detail: 'no chromium on the PATH (apt-get install -y chromium, or set CHROMIUM_PATH)' };
}
