import { Command } from 'commander';
import { BerthError, isBerthError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatTags, shortSha } from '../format.js';
import { parseTags, parseVersionArg } from '../parse.js';
import { renderModel, renderModelList, renderVersion, renderVersionTable } from '../render.js';
import { collect, examples, optionParser } from './options.js';

/** `berth models …` and `berth versions …` */
export function addModelCommands(program: Command, ctx: CliContext): void {
  const models = program
    .command('models')
    .description('register model files and look at models')
    .addHelpText('after', examples('berth models register model.onnx --name fraud --card card.yaml', 'berth models list', 'berth models show fraud'));

  models
    .command('register')
    .description('register a model file as the next version of a model (identical bytes make no new version)')
    .argument('<path>', 'the model file (ONNX)')
    .requiredOption('--name <name>', 'model name; created on its first version')
    .option('--card <file>', 'model card, berth-card/1 in YAML or JSON')
    .option('--reference <file>', 'reference (training) data CSV, kept for monitoring')
    .option('--description <text>', 'what this version is')
    .option('--tag <key=value>', 'version tag (repeatable)', collect)
    .addHelpText(
      'after',
      examples(
        'berth models register model.onnx --name breast-cancer --card card.yaml --reference train.csv --tag dataset=2024-06',
        '# registered breast-cancer version 2 (sha256 ab12cd34ef56…, 43.7 kB)',
        '# registering the same bytes again: already registered as version 2 (identical bytes); nothing new',
      ),
    )
    .action(async (path: string, o: { name: string; card?: string; reference?: string; description?: string; tag?: string[] }) => {
      const client = await ctx.client();
      const result = await client
        .registerVersion({
          name: o.name,
          path,
          ...(o.card !== undefined ? { cardPath: o.card } : {}),
          ...(o.reference !== undefined ? { referencePath: o.reference } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
          ...(o.tag ? { tags: parseTags('--tag', o.tag) } : {}),
        })
        .catch((err: unknown) => {
          // the runtime's message does not know which file it read
          if (isBerthError(err, 'INVALID_MODEL')) {
            throw new BerthError('INVALID_MODEL', `${path} is not a loadable model: ${err.message}; nothing was registered`, err.context, { cause: err });
          }
          throw err;
        });
      const v = result.version;
      ctx.print(result, () =>
        result.created
          ? `registered ${v.model} version ${v.version} (sha256 ${shortSha(v.sha256)}…, ${formatBytes(v.sizeBytes)})\n`
          : `already registered as version ${v.version} (identical bytes); nothing new\n`,
      );
      if (client.kind === 'local' && result.created) ctx.note(`(no server running: registered in the data dir ${client.where})`);
    });

  models
    .command('list')
    .description('every registered model with its latest version and aliases')
    .addHelpText('after', examples('berth models list', 'berth models list --json | jq -r ".models[].name"'))
    .action(async () => {
      const list = await (await ctx.client()).listModels();
      ctx.print(list, () => renderModelList(list, ctx.now()));
    });

  models
    .command('show')
    .description('one model: description, tags, aliases and its versions')
    .argument('<name>', 'model name')
    .addHelpText('after', examples('berth models show breast-cancer'))
    .action(async (name: string) => {
      const client = await ctx.client();
      const model = await client.getModel(name);
      if (ctx.globals.json) return ctx.print(model, () => '');
      const versions = await client.listVersions(name);
      ctx.print(model, () => renderModel(model, versions, ctx.now()));
    });

  models
    .command('tag')
    .description('add or overwrite model tags')
    .argument('<name>', 'model name')
    .argument('<key=value...>', 'tags')
    .addHelpText('after', examples('berth models tag breast-cancer team=oncology owner=ana'))
    .action(async (name: string, pairs: string[]) => {
      const model = await (await ctx.client()).updateModel(name, { tags: parseTags('tags', pairs) });
      ctx.print(model, () => `model ${name} tags: ${formatTags(model.tags)}\n`);
    });

  models
    .command('untag')
    .description('remove a model tag')
    .argument('<name>', 'model name')
    .argument('<key>', 'tag name')
    .addHelpText('after', examples('berth models untag breast-cancer owner'))
    .action(async (name: string, key: string) => {
      const model = await (await ctx.client()).deleteModelTag(name, key);
      ctx.print(model, () => `model ${name} tags: ${formatTags(model.tags)}\n`);
    });

  models
    .command('describe')
    .description("set a model's description ('' clears it)")
    .argument('<name>', 'model name')
    .argument('<text>', 'the description')
    .addHelpText('after', examples('berth models describe breast-cancer "Tumour malignancy from 30 cell-nucleus features"'))
    .action(async (name: string, text: string) => {
      const model = await (await ctx.client()).updateModel(name, { description: text === '' ? null : text });
      ctx.print(model, () => `model ${name}: ${model.description ?? '(no description)'}\n`);
    });

  const versions = program
    .command('versions')
    .description("a model's versions: list, show, tag")
    .addHelpText('after', examples('berth versions list breast-cancer', 'berth versions show breast-cancer 2'));

  versions
    .command('list')
    .description("a model's versions, oldest first")
    .argument('<name>', 'model name')
    .addHelpText('after', examples('berth versions list breast-cancer'))
    .action(async (name: string) => {
      const client = await ctx.client();
      const list = await client.listVersions(name);
      if (ctx.globals.json) return ctx.print(list, () => '');
      const model = await client.getModel(name);
      ctx.print(list, () => renderVersionTable(list, model.aliases, ctx.now()));
    });

  versions
    .command('show')
    .description('one version: sha256, signature, card, lineage, reference data')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .addHelpText('after', examples('berth versions show breast-cancer 2', 'berth versions show breast-cancer 2 --json | jq .signature'))
    .action(async (name: string, version: number) => {
      const v = await (await ctx.client()).getVersion(name, version);
      ctx.print(v, () => renderVersion(v, ctx.now()));
    });

  versions
    .command('tag')
    .description('add or overwrite version tags (the only thing of a version, with its description, that changes)')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .argument('<key=value...>', 'tags')
    .addHelpText('after', examples('berth versions tag breast-cancer 2 validated=yes'))
    .action(async (name: string, version: number, pairs: string[]) => {
      const v = await (await ctx.client()).updateVersion(name, version, { tags: parseTags('tags', pairs) });
      ctx.print(v, () => `${name} version ${version} tags: ${formatTags(v.tags)}\n`);
    });

  versions
    .command('untag')
    .description('remove a version tag')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .argument('<key>', 'tag name')
    .addHelpText('after', examples('berth versions untag breast-cancer 2 validated'))
    .action(async (name: string, version: number, key: string) => {
      const v = await (await ctx.client()).deleteVersionTag(name, version, key);
      ctx.print(v, () => `${name} version ${version} tags: ${formatTags(v.tags)}\n`);
    });

  versions
    .command('describe')
    .description("set a version's description ('' clears it)")
    .argument('<name>', 'model name')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .argument('<text>', 'the description')
    .addHelpText('after', examples('berth versions describe breast-cancer 2 "retrained on June data"'))
    .action(async (name: string, version: number, text: string) => {
      const v = await (await ctx.client()).updateVersion(name, version, { description: text === '' ? null : text });
      ctx.print(v, () => `${name} version ${version}: ${v.description ?? '(no description)'}\n`);
    });
}
