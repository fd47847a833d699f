//! `serd`: the ser speech-emotion daemon. See `serd --help`.

use clap::Parser;

fn main() {
    let cli = serd::cli::Cli::parse();
    std::process::exit(serd::daemon::main(cli));
}
