//! The `corekv` binary: parse flags, run the server. Everything else lives in the library.

use clap::Parser;

fn main() {
    let config = corekv::config::Config::parse();
    if let Err(e) = corekv::server::run(config) {
        eprintln!("corekv: {e}");
        std::process::exit(1);
    }
}
