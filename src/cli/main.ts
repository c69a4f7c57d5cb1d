import { Command, CommanderError } from 'commander';
import { isBerthError } from '../core/index.js';
import { addAliasCommands } from './commands/aliases.js';
import { addAuditCommands } from './commands/audit.js';
import { addBatchCommands } from './commands/batch.js';
import { addExplainCommand } from './commands/explain.js';
import { addStreamCommands } from './commands/stream.js';
import { addScheduleCommands } from './commands/schedule.js';
import { addBuildCommands } from './commands/build.js';
import { addCiCommands } from './commands/ci.js';
import { addMigrateCommand } from './commands/migrate.js';
import { addDeploymentCommands } from './commands/deployments.js';
import { addK8sCommand } from './commands/k8s.js';
import { addModelCommands } from './commands/models.js';
import { addAlertCommands, addMonitorCommands } from './commands/monitor.js';
import { addPerfCommand } from './commands/perf.js';
import { addPipelineCommands } from './commands/pipeline.js';
import { addRolloutCommands } from './commands/rollout.js';
import { addServeCommand } from './commands/serve.js';
import { addSignatureCommands } from './commands/signatures.js';
import { addTokenCommands } from './commands/tokens.js';
import { addTransferCommands } from './commands/transfer.js';
import { CLI_VERSION, CliContext, DEFAULT_DATA_DIR, DEFAULT_SERVER, type CliIo } from './context.js';

const processIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  env: process.env,
};

/** Build the `berth` command tree; commands throw, `main` reports. */
export function buildProgram(io: CliIo): { program: Command; ctx: CliContext } {
  const program = new Command('berth');
  const ctx = new CliContext(program, io);
  program
    .description('Take a trained model to a production endpoint and keep it healthy.')
    .version(CLI_VERSION, '-V', 'print the version')
    .option('--server <url>', `the Berth server to talk to (env BERTH_SERVER; default ${DEFAULT_SERVER}, else the local data dir)`)
    .option('--data-dir <dir>', `data dir used when no server runs, and by serve (env BERTH_DATA_DIR; default ${DEFAULT_DATA_DIR})`)
    .option('--local', 'use the data dir even if a server is running')
    .option('--json', 'print the API JSON instead of tables')
    .option('--actor <name>', 'who is making the change, for the audit log (default: your user name)')
    .option('--token <token>', 'API token sent to the server as a bearer token (prefer env BERTH_TOKEN: flags show up in ps and shell history)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(add --help for usage and examples)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(`berth: ${s.replace(/^error: /, '')}`),
    })
    .addHelpText(
      'after',
      `
Getting started:
  $ berth serve --example                          # serve the example model on ${DEFAULT_SERVER}
  $ berth models register model.onnx --name fraud --card card.yaml
  $ berth alias set fraud production 1
  $ berth deploy fraud --model fraud --alias production
  $ berth predict fraud --rows @rows.json
  $ berth rollout start fraud --to-version 2 --steps 5,25,50,100 --interval 10m

Without a running server, berth reads and writes the data dir directly (predict and rollouts need a server).
Every command has --help with examples; see also docs/cli.md.
`,
    );
  addServeCommand(program, ctx);
  addModelCommands(program, ctx);
  addAliasCommands(program, ctx);
  addSignatureCommands(program, ctx);
  addDeploymentCommands(program, ctx);
  addExplainCommand(program, ctx);
  addRolloutCommands(program, ctx);
  addMonitorCommands(program, ctx);
  addAlertCommands(program, ctx);
  addAuditCommands(program, ctx);
  addTokenCommands(program, ctx);
  addBuildCommands(program, ctx);
  addMigrateCommand(program, ctx);
  addTransferCommands(program, ctx);
  addK8sCommand(program, ctx);
  addPerfCommand(program, ctx);
  addBatchCommands(program, ctx);
  addStreamCommands(program, ctx);
  addScheduleCommands(program, ctx);
  addCiCommands(program, ctx);
  addPipelineCommands(program, ctx);
  return { program, ctx };
}

/**
 * The `berth` command. `argv` is `process.argv` (node, script, args…). Prints errors as
 * `berth: <message>` on stderr and returns the exit code: 0, 1 for a failed command, 2 for a usage
 * error. Never calls process.exit.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(argv: readonly string[] = process.argv, io: CliIo = processIo): Promise<number> {
  const args = argv.slice(2);
  if (args.length === 1 && args[0] === '--version') {
    io.out(`${CLI_VERSION}\n`);
    return 0;
  }
  const { program, ctx } = buildProgram(io);
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (through outputError) or the help
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    const message = isBerthError(err) ? err.message : err instanceof Error ? `${err.message}` : String(err);
    io.err(`berth: ${message}\n`);
    if (!isBerthError(err) && err instanceof Error && io.env['BERTH_DEBUG']) io.err(`${err.stack ?? ''}\n`);
    return 1;
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
