// Compiles every contract in settlement/contracts/*.sol with the pinned solc-js and writes
// one artifact per contract to the directory given as the first argument:
//
//   node contracts/compile.mjs <out-dir>
//
// The artifacts are committed and read by alloy's `sol!` (settlement/src/contracts.rs), so
// they must come out byte for byte the same on every machine:
//
// - source unit names are relative (`contracts/X.sol`, `@openzeppelin/contracts/...`), never
//   absolute paths, so the metadata hash embedded in the bytecode does not depend on where
//   the repository is checked out;
// - the compiler version, optimizer runs and EVM version are fixed here and in package.json;
// - artifacts are pretty-printed with a fixed key order and a trailing newline.
//
// Any compiler error, or any warning in our own contracts, fails the build: a contract that
// moves money should compile cleanly.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

/** The settlement crate's directory: every path below is relative to it. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Our sources live here; OpenZeppelin comes from the pinned npm package. */
const contractsDir = "contracts";
const nodeModules = path.join(root, "node_modules");

/** The EVM version the bytecode targets. Cancun brings transient storage (EIP-1153),
 * which OpenZeppelin's ReentrancyGuardTransient uses. */
const EVM_VERSION = "cancun";

function fail(message) {
  process.stderr.write(`compile.mjs: ${message}\n`);
  process.exit(1);
}

const outDir = process.argv[2];
if (!outDir) {
  fail("usage: node contracts/compile.mjs <out-dir>");
}

const sourceNames = fs
  .readdirSync(path.join(root, contractsDir))
  .filter((name) => name.endsWith(".sol"))
  .sort()
  .map((name) => `${contractsDir}/${name}`);
if (sourceNames.length === 0) {
  fail(`no .sol files in ${path.join(root, contractsDir)}`);
}

const sources = {};
for (const name of sourceNames) {
  sources[name] = { content: fs.readFileSync(path.join(root, name), "utf8") };
}

const outputs = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"];
const outputSelection = {};
for (const name of sourceNames) {
  outputSelection[name] = { "*": outputs };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    // The default, stated so that a change of default cannot silently change the bytecode.
    metadata: { bytecodeHash: "ipfs", appendCBOR: true },
    outputSelection,
  },
};

/**
 * Resolves imports that are not among our sources. Only `@openzeppelin/` is allowed, and
 * only from the pinned package in settlement/node_modules; the source unit name stays the
 * relative `@openzeppelin/...` import path.
 */
function findImports(importPath) {
  if (!importPath.startsWith("@openzeppelin/")) {
    return { error: `import ${importPath} is outside @openzeppelin/ and contracts/` };
  }
  const file = path.resolve(nodeModules, importPath);
  if (!file.startsWith(nodeModules + path.sep)) {
    return { error: `import ${importPath} escapes node_modules` };
  }
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (error) {
    return { error: `cannot read ${importPath} (run npm ci in settlement/): ${error.message}` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

let failed = false;
for (const diagnostic of output.errors ?? []) {
  const file = diagnostic.sourceLocation?.file ?? "";
  const ours = file.startsWith(`${contractsDir}/`);
  const fatal = diagnostic.severity === "error" || (diagnostic.severity === "warning" && ours);
  if (fatal) {
    process.stderr.write(diagnostic.formattedMessage ?? `${diagnostic.severity}: ${diagnostic.message}\n`);
    failed = true;
  } else if (!ours) {
    // Known, reviewed notes in the pinned dependencies (such as solc's generic caution on
    // transient storage, which OpenZeppelin's reentrancy guard clears correctly): one line
    // each, so that they stay visible without drowning the output.
    const firstSentence = diagnostic.message.split(/(?<=[.:])\s/)[0];
    process.stderr.write(`note: ${diagnostic.severity} in ${file || "a dependency"}: ${firstSentence}\n`);
  } else {
    process.stderr.write(diagnostic.formattedMessage ?? `${diagnostic.severity}: ${diagnostic.message}\n`);
  }
}
if (failed) {
  fail(`solc ${solc.version()} refused the contracts (errors, or warnings in ${contractsDir}/, above)`);
}

fs.mkdirSync(outDir, { recursive: true });
let written = 0;
for (const sourceName of sourceNames) {
  const contracts = output.contracts?.[sourceName] ?? {};
  for (const contractName of Object.keys(contracts).sort()) {
    const contract = contracts[contractName];
    const bytecode = contract.evm?.bytecode?.object ?? "";
    const deployedBytecode = contract.evm?.deployedBytecode?.object ?? "";
    if (bytecode.length === 0) {
      // Interfaces and abstract contracts have nothing to deploy.
      continue;
    }
    if (bytecode.includes("__$") || deployedBytecode.includes("__$")) {
      fail(`${contractName} needs library linking, which the artifacts do not support`);
    }
    const artifact = {
      contractName,
      sourceName,
      compiler: `solc ${solc.version()}`,
      abi: contract.abi,
      bytecode: { object: `0x${bytecode}` },
      deployedBytecode: { object: `0x${deployedBytecode}` },
    };
    fs.writeFileSync(path.join(outDir, `${contractName}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
    written += 1;
  }
}
if (written === 0) {
  fail("solc produced no deployable contract");
}
process.stderr.write(`compiled ${written} contract(s) with solc ${solc.version()} into ${outDir}\n`);
