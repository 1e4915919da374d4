/** Small JSON documents kept between runs (first-seen times...), one file per name, written atomically. */
import { join } from 'node:path';
import { writeFileAtomic, readJsonOr } from './fsutil.js';

export class StateStore {
  constructor(readonly dir: string) {}

  read<T>(name: string, fallback: T): T {
    return readJsonOr(join(this.dir, `${name}.json`), fallback);
  }

  write(name: string, value: unknown): void {
    writeFileAtomic(join(this.dir, `${name}.json`), `${JSON.stringify(value, null, 1)}\n`);
  }

  exists(name: string): boolean {
    return this.read<unknown>(name, undefined) !== undefined;
  }
}
