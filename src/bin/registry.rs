//! The `registry` command line: the central registry server that terminals sync to. Thin: it parses
//! arguments and calls the library. Its commands arrive with the registry itself; until then it
//! answers `--help` and `--version` only.

use clap::Parser;

/// The central registry that receives, verifies and stores enrollment records.
#[derive(Parser)]
#[command(name = "registry", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
