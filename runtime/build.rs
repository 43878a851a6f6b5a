//! Compiles the runtime to WebAssembly (the on-chain, upgradeable code) with substrate-wasm-builder.
//! See docs/toolchain.md for the toolchain it needs.
fn main() {
	#[cfg(feature = "std")]
	{
		substrate_wasm_builder::WasmBuilder::build_using_defaults();
	}
}
