//! phr-node: a validator or full node of the PHR hospital consortium chain.

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod blobs;
mod chain_spec;
mod cli;
mod command;
mod permissioning;
mod memory;
mod network;
mod rpc;
mod service;

fn main() {
	if let Err(error) = command::run() {
		// One line naming what went wrong, never a panic trace.
		eprintln!("Error: {error}");
		std::process::exit(1);
	}
}
