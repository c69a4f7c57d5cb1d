// Child process for the kill -9 test: registers distinct small models one after another and
// prints "ACK <version> <sha256>" after each acknowledged registration.
import { openEmbeddedRegistry } from '../../dist/registry/index.js';
import { OnnxBackend } from '../../dist/runtime/index.js';

const [dataDir, , count] = process.argv.slice(2);
const registry = await openEmbeddedRegistry(dataDir);
const backend = new OnnxBackend();
const files = JSON.parse(process.env.BERTH_TEST_FILES ?? '[]');
for (let i = 0; i < Number(count); i++) {
  const file = files[i % files.length];
  const { version, created } = await registry.registerVersion({
    name: 'crashy',
    filePath: file,
    inspect: (b) => backend.inspect(b),
  });
  process.stdout.write(`ACK ${version.version} ${version.sha256} ${created}\n`);
}
await registry.close();
